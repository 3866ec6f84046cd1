"""Validation functions every importer shares.

Everything is keyed by content, so importing the same data twice writes nothing:
problems by statement, step nodes by (parent, text) — enforced by the database —
solutions by their last step (see ``plan.py`` and ``bulk.py``).
"""

from __future__ import annotations

from typing import Any

from annotate.grading import extract_final_answer, grade_answer
from annotate.models import Solution, StepNode

from .rows import RowError

MAX_STEP_CHARS = 100_000
MAX_STATEMENT_CHARS = 100_000
MAX_SOLUTION_CHARS = 1_000_000
MAX_ANSWER_CHARS = 10_000
MAX_STEPS = 2_000
MAX_CANDIDATES = 200
MAX_ID_CHARS = 200

_MISSING = object()


def get_path(record: Any, path: str, default: Any = _MISSING) -> Any:
    """``record["a"]["b"]`` for path "a.b"; a RowError naming the path when absent."""
    value = record
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            if default is not _MISSING:
                return default
            raise RowError(f"missing field '{path}'")
        value = value[part]
    return value


def need_str(value: Any, name: str, *, max_len: int = MAX_STEP_CHARS, empty_ok: bool = False,
             null_ok: bool = False) -> str | None:
    if value is None and null_ok:
        return None
    if not isinstance(value, str):
        raise RowError(f"'{name}' must be a string, got {_type(value)}")
    if len(value) > max_len:
        raise RowError(f"'{name}' is {len(value)} characters; the limit is {max_len}")
    if not empty_ok and not value.strip():
        raise RowError(f"'{name}' is empty")
    return value


def need_list(value: Any, name: str, *, max_len: int = MAX_STEPS, empty_ok: bool = False) -> list:
    if not isinstance(value, list):
        raise RowError(f"'{name}' must be a list, got {_type(value)}")
    if len(value) > max_len:
        raise RowError(f"'{name}' has {len(value)} items; the limit is {max_len}")
    if not value and not empty_ok:
        raise RowError(f"'{name}' is empty")
    return value


def need_bool(value: Any, name: str, *, null_ok: bool = False) -> bool | None:
    if value is None and null_ok:
        return None
    if not isinstance(value, bool):
        raise RowError(f"'{name}' must be true or false, got {_type(value)}")
    return value


def need_int(value: Any, name: str, *, null_ok: bool = False, minimum: int | None = None,
             maximum: int | None = None) -> int | None:
    if value is None and null_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowError(f"'{name}' must be an integer, got {_type(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise RowError(f"'{name}' is {value}; expected {minimum}..{maximum}")
    return value


def need_number(value: Any, name: str, *, null_ok: bool = False) -> float | None:
    if value is None and null_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RowError(f"'{name}' must be a number, got {_type(value)}")
    return value


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


# --- answers ---------------------------------------------------------------

def extract_answer(text: str | None) -> str | None:
    """The final answer a text states (\\boxed{}, '# Answer', 'The answer is')."""
    return extract_final_answer(text or "")


def reduce_answer(raw: str) -> tuple[str, str | None]:
    """A ground truth reduced to its final answer, and the raw text when that differs.

    GSM8K's ``... #### 18``, ``\\boxed{}``, "The answer is: -1" and PRM800K's ``# Answer``
    are graded against their final answer, never the whole text.
    """
    if not raw:
        return raw, None
    reduced = extract_final_answer(raw)
    if not reduced or reduced == raw.strip():
        return raw, None
    return reduced, raw


def grade(answer: str | None, truth: str | None) -> bool | None:
    """Whether ``answer`` matches ``truth``; None when either is missing."""
    if not answer or not truth:
        return None
    if answer.strip() == truth.strip():
        return True
    return bool(grade_answer(answer, truth, timeout=2))


# --- steps and paths -------------------------------------------------------

def check_steps(steps: list, name: str) -> list[str]:
    need_list(steps, name)
    for i, step in enumerate(steps):
        need_str(step, f"{name}[{i}]", max_len=MAX_STEP_CHARS)
    return steps


def solution_path(solution: Solution) -> list[StepNode]:
    """The nodes of a solution, root first."""
    path = []
    node = solution.last_step
    while node is not None:
        path.append(node)
        node = node.parent
    return path[::-1]
