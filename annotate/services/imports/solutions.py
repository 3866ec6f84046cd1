"""Solutions JSONL: a problem and its steps, given as a list or as text split by a delimiter.

Keys (any can be renamed through the field map): the problem's ``problem`` /
``question`` (and ``ground_truth_answer`` / ``answer``), then ``steps`` (a list) or
``solution`` / ``response`` / ``text`` (a string split on ``delimiter``, "\\n\\n" by
default, or a regex when ``regex`` is set), and optional ``final_answer`` and
``is_correct``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .common import (
    MAX_ANSWER_CHARS,
    MAX_ID_CHARS,
    MAX_SOLUTION_CHARS,
    MAX_STATEMENT_CHARS,
    check_steps,
    extract_answer,
    need_bool,
    need_str,
    reduce_answer,
)
from .plan import RowPlan
from .rows import ImportReport, RowError, jsonl_rows, run_plans

DEFAULT_FIELDS = {
    "statement": ("problem", "question", "statement"),
    "answer": ("ground_truth_answer", "ground_truth", "answer"),
    "steps": ("steps",),
    "text": ("solution", "response", "text", "output"),
    "final_answer": ("final_answer", "response_answer"),
    "is_correct": ("is_correct", "correct"),
    "external_id": ("solution_id", "id"),
    "problem_id": ("problem_id", "unique_id"),
}


def splitter(delimiter: str = "\n\n", regex: bool = False):
    """A function that splits a solution text into stripped, non-empty steps."""
    if not delimiter:
        raise ValueError("The step delimiter must not be empty.")
    if regex:
        try:
            pattern = re.compile(delimiter)
        except re.error as exc:
            raise ValueError(f"Bad delimiter regex {delimiter!r}: {exc}") from None
        split = pattern.split
    else:
        def split(text: str) -> list[str]:
            return text.split(delimiter)
    return lambda text: [part.strip() for part in split(text) if part and part.strip()]


def import_solutions(project, lines: Iterable[str], *, source_name: str, delimiter: str = "\n\n",
                     regex: bool = False, field_map: dict | None = None, progress=None) -> ImportReport:
    return run_plans(jsonl_rows(lines), planner(source_name, delimiter=delimiter, regex=regex,
                                                field_map=field_map),
                     project=project, source_name=source_name, fmt="solutions", progress=progress)


def planner(source_name: str, *, delimiter: str = "\n\n", regex: bool = False,
            field_map: dict | None = None):
    field_map = dict(field_map or {})
    unknown = set(field_map) - set(DEFAULT_FIELDS)
    if unknown:
        raise ValueError(f"Unknown field(s) {', '.join(sorted(unknown))}; "
                         f"mappable fields are {', '.join(DEFAULT_FIELDS)}.")
    split = splitter(delimiter, regex)
    return lambda record: plan_solution(record, split, field_map, source_name)


def _pick(record: dict, field: str, field_map: dict):
    return _pick_key(record, field, field_map)[1]


def _pick_key(record: dict, field: str, field_map: dict) -> tuple[str, object]:
    """(source key, value) for a field; the key names the field in error messages."""
    keys = (field_map[field],) if field in field_map else DEFAULT_FIELDS[field]
    for key in keys:
        if key in record:
            return key, record[key]
    return field, None


def plan_solution(record: dict, split, field_map: dict, source_name: str) -> RowPlan:
    key, statement = _pick_key(record, "statement", field_map)
    if statement is None:
        raise RowError("missing the problem statement ('problem' or 'question', or map statement=...)")
    statement = need_str(statement, key, max_len=MAX_STATEMENT_CHARS)
    truth = _pick(record, "answer", field_map)
    truth = str(truth) if isinstance(truth, (int, float)) and not isinstance(truth, bool) else truth
    truth = need_str(truth, "answer", max_len=MAX_ANSWER_CHARS, empty_ok=True, null_ok=True) or ""
    truth, raw = reduce_answer(truth)
    steps = _pick(record, "steps", field_map)
    if steps is not None:
        steps = check_steps(steps, "steps")
    else:
        key, text = _pick_key(record, "text", field_map)
        if text is None:
            raise RowError("missing the steps: give 'steps' (a list) or 'solution' (text to split)")
        text = need_str(text, key, max_len=MAX_SOLUTION_CHARS)
        steps = check_steps(split(text), "solution steps")
    final = need_str(_pick(record, "final_answer", field_map), "final_answer",
                     max_len=MAX_ANSWER_CHARS, empty_ok=True, null_ok=True)
    correct = need_bool(_pick(record, "is_correct", field_map), "is_correct", null_ok=True)
    problem_id = _pick(record, "problem_id", field_map)
    external_id = _pick(record, "external_id", field_map)
    plan = RowPlan()
    problem = plan.problem(statement=statement, ground_truth_answer=truth,
                           external_id=str(problem_id or "")[:MAX_ID_CHARS], ground_truth_raw=raw)
    chain = plan.path(problem, steps)
    final = final if final is not None else extract_answer(steps[-1])
    # Without a given correctness, the answer is graded against the problem's (stored) answer.
    plan.solution(problem, chain[-1], final_answer=final, is_correct=correct, grade=correct is None,
                  external_id=str(external_id or ""), metadata={"import": source_name})
    return plan
