"""PRMBench style: a correct process and an edited copy with planted errors, as gold items.

The original process is a gold solution whose steps are all +1. The modified
process is a gold solution whose steps before the first (1-indexed) error are
+1 and whose ``error_steps`` are -1; steps after the first error that are not
listed get no key. An empty ``error_steps`` (the ``multi_solutions`` category) means
the modified process is another correct solution: all +1. Answer keys are GoldLabels
with the file name as source.

``idx`` repeats across category files, so solution ids are
``<classification>:<idx>:original|modified`` (the file name's stem when a row has no
classification).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

from annotate.models import GoldLabel

from .common import (
    MAX_STATEMENT_CHARS,
    check_steps,
    extract_answer,
    get_or_create_problem,
    get_or_create_solution,
    get_path,
    grade,
    need_int,
    need_list,
    need_str,
)
from .rows import ImportReport, RowContext, RowError, jsonl_rows, run_rows
from .tree import path_nodes


def import_prmbench(project, lines: Iterable[str], *, source_name: str, progress=None) -> ImportReport:
    def handle(record: dict, ctx: RowContext) -> None:
        import_pair(project, record, ctx, source_name)

    return run_rows(jsonl_rows(lines), handle, source_name=source_name, fmt="prmbench",
                    progress=progress)


def import_pair(project, record: dict, ctx: RowContext, source_name: str) -> None:
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
    meta = {k: record.get(k) for k in ("classification", "reason", "modified_steps") if k in record}
    first = min(errors) if errors else None
    # The original is correct, so its answer grades the modified one on the same question.
    truth = extract_answer(original[-1])
    modified_answer = extract_answer(modified[-1])

    problem = get_or_create_problem(ctx, project, statement=original_q)
    keys = [1] * len(original)
    _gold(ctx, problem, original, keys, source_name, external_id=f"{category}:{idx}:original",
          answer=truth, is_correct=True,
          metadata={"prmbench": {"idx": idx, "role": "original", "category": category}})

    problem = get_or_create_problem(ctx, project, statement=modified_q)
    keys = [1 if first is None or i < first else (-1 if i in errors else None)
            for i in range(1, len(modified) + 1)]
    correct = True if first is None else (grade(modified_answer, truth)
                                          if modified_q == original_q else None)
    _gold(ctx, problem, modified, keys, source_name, external_id=f"{category}:{idx}:modified",
          answer=modified_answer, is_correct=correct,
          metadata={"prmbench": {"idx": idx, "role": "modified", "category": category,
                                 "error_steps": errors, "first_error": first, **meta}})


def _gold(ctx, problem, steps, keys, source_name, *, external_id, answer, is_correct,
          metadata) -> None:
    chain = path_nodes(ctx, problem, steps)
    solution = get_or_create_solution(ctx, problem, chain[-1], final_answer=answer,
                                      is_correct=is_correct, is_gold=True,
                                      external_id=external_id, metadata=metadata)
    have = dict(GoldLabel.objects.filter(solution=solution).values_list("node_id", "rating"))
    new = []
    for node, key in zip(chain, keys):
        if key is None:
            continue
        if node.pk in have:
            if have[node.pk] != key:
                raise RowError(f"step {node.depth + 1} of {external_id} already has gold label "
                               f"{have[node.pk]:+d}, not {key:+d}")
            continue
        new.append(GoldLabel(solution=solution, node=node, rating=key, source=source_name))
    GoldLabel.objects.bulk_create(new)
    ctx.made("gold_labels", len(new))
