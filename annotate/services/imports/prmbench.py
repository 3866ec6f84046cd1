"""PRMBench style: a correct process and an edited copy with planted errors, as gold items.

The original process is a gold solution whose steps are all +1. The modified
process is a gold solution whose steps before the first (1-indexed) error are
+1 and whose ``error_steps`` are -1; steps after the first error that are not
listed get no key. An empty ``error_steps`` (the ``multi_solutions`` category) means
the modified process is another correct solution: all +1. Answer keys are GoldLabels
with the file name as source.

``idx`` repeats across category files, so solution ids are
``<classification>:<idx>:original|modified`` (the file name's stem when a row has no
classification). It also repeats within one file (5 times in ``multi_solutions``, another
process for the same problem): the n-th distinct row of an ``idx`` in an import is
``<classification>:<idx>#<n>:...``, numbered in file order, so a re-import gives the same
ids. A ``ground_truth`` column becomes the problem's (reduced) answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import PurePath

from .common import (
    MAX_ANSWER_CHARS,
    MAX_STATEMENT_CHARS,
    check_steps,
    extract_answer,
    get_path,
    grade,
    need_int,
    need_list,
    need_str,
    reduce_answer,
)
from .plan import GoldSpec, RowPlan
from .rows import ImportReport, RowError, jsonl_rows, run_plans


def import_prmbench(project, lines: Iterable[str], *, source_name: str, progress=None) -> ImportReport:
    return run_plans(jsonl_rows(lines), planner(source_name), project=project,
                     source_name=source_name, fmt="prmbench", progress=progress)


def planner(source_name: str):
    seen: dict[tuple, list[str]] = {}  # (category, idx) -> the distinct rows' hashes, in order
    return lambda record: plan_pair(record, source_name, seen)


def _occurrence(seen: dict, key: tuple, record: dict) -> int:
    """1 for the first distinct row of an (category, idx), 2 for the next, ...; the same
    row again (a repeated line) keeps its number, so it stays a duplicate."""
    body = json.dumps([record.get(k) for k in ("original_question", "modified_question",
                                               "question", "original_process",
                                               "modified_process", "error_steps")],
                      sort_keys=True, default=str)
    digest = hashlib.sha256(body.encode()).hexdigest()
    rows = seen.setdefault(key, [])
    if digest not in rows:
        rows.append(digest)
    return rows.index(digest) + 1


def _ground_truth(record: dict) -> tuple[str, str | None]:
    value = record.get("ground_truth")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    value = need_str(value, "ground_truth", max_len=MAX_ANSWER_CHARS, empty_ok=True,
                     null_ok=True) or ""
    return reduce_answer(value.strip())


def plan_pair(record: dict, source_name: str, seen: dict | None = None) -> RowPlan:
    question = record.get("question")
    original_q = need_str(record.get("original_question", question), "original_question",
                          max_len=MAX_STATEMENT_CHARS)
    modified_q = need_str(record.get("modified_question", question) or original_q,
                          "modified_question", max_len=MAX_STATEMENT_CHARS)
    original = check_steps(get_path(record, "original_process"), "original_process")
    modified = check_steps(get_path(record, "modified_process"), "modified_process")
    errors = need_list(get_path(record, "error_steps"), "error_steps", empty_ok=True)
    for i, step in enumerate(errors):
        need_int(step, f"error_steps[{i}]", minimum=1)
        if step > len(modified):
            raise RowError(f"error step {step} is beyond the {len(modified)} steps of modified_process")
    if original == modified and original_q == modified_q:
        raise RowError("modified_process is identical to original_process")
    idx = str(record.get("idx") or "")
    category = record.get("classification")
    category = category if isinstance(category, str) and category.strip() \
        else PurePath(source_name).stem
    given, raw = _ground_truth(record)  # checked before a number is given out
    n = _occurrence(seen, (category, idx), record) if seen is not None else 1
    key = f"{category}:{idx}" if n == 1 else f"{category}:{idx}#{n}"
    meta = {k: record.get(k) for k in ("classification", "reason", "modified_steps") if k in record}
    first = min(errors) if errors else None
    # The original is correct, so its answer grades the modified one on the same question
    # (the row's ground_truth, when it has one, is the reference).
    answer = extract_answer(original[-1])
    truth = given or answer
    modified_answer = extract_answer(modified[-1])

    plan = RowPlan()
    problem = plan.problem(statement=original_q, ground_truth_answer=given, ground_truth_raw=raw)
    keys = [1] * len(original)
    _gold(plan, problem, original, keys, source_name, external_id=f"{key}:original",
          answer=answer, is_correct=True,
          metadata={"prmbench": {"idx": idx, "role": "original", "category": category}})

    same = modified_q == original_q
    problem = plan.problem(statement=modified_q, ground_truth_answer=given if same else "",
                           ground_truth_raw=raw if same else None)
    keys = [1 if first is None or i < first else (-1 if i in errors else None)
            for i in range(1, len(modified) + 1)]
    correct = True if first is None else (grade(modified_answer, truth)
                                          if same else None)
    _gold(plan, problem, modified, keys, source_name, external_id=f"{key}:modified",
          answer=modified_answer, is_correct=correct,
          metadata={"prmbench": {"idx": idx, "role": "modified", "category": category,
                                 "error_steps": errors, "first_error": first, **meta}})
    return plan


def _gold(plan: RowPlan, problem: int, steps, keys, source_name, *, external_id, answer,
          is_correct, metadata) -> None:
    chain = plan.path(problem, steps)
    solution = plan.solution(problem, chain[-1], final_answer=answer, is_correct=is_correct,
                             is_gold=True, external_id=external_id, metadata=metadata)
    plan.gold_labels += [GoldSpec(solution=solution, node=node, rating=key, source=source_name,
                                  name=external_id)
                         for node, key in zip(chain, keys) if key is not None]
