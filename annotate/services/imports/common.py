"""Validation functions and the get-or-create writes every importer shares.

Everything is keyed by content, so importing the same data twice writes nothing:
problems by statement, step nodes by (parent, text) — enforced by the database —
solutions by their last step.
"""

from __future__ import annotations

from typing import Any

from annotate.grading import extract_final_answer, grade_answer
from annotate.models import Problem, Solution, StepNode
from annotate.models.problems import content_hash

from .rows import RowContext, RowError

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


# --- writes ----------------------------------------------------------------

def get_or_create_problem(ctx: RowContext, project, *, statement: str, ground_truth_answer: str = "",
                          reference_solution: str = "", external_id: str = "", subject: str = "",
                          level: int | None = None, metadata: dict | None = None,
                          ground_truth_raw: str | None = None) -> Problem:
    """The project's problem with this statement; blanks on an existing one are filled in.
    ``ground_truth_raw`` is the answer's text before reduction, kept in metadata."""
    need_str(statement, "statement", max_len=MAX_STATEMENT_CHARS)
    metadata = dict(metadata or {})
    if ground_truth_raw:
        metadata["ground_truth_raw"] = ground_truth_raw
    external_id = (external_id or "")[:MAX_ID_CHARS]
    problem = Problem.objects.filter(project=project, statement_hash=content_hash(statement)).first()
    if problem is not None:
        changed = []
        for name, value in (("ground_truth_answer", ground_truth_answer),
                            ("reference_solution", reference_solution), ("subject", subject)):
            if value and not getattr(problem, name):
                setattr(problem, name, value)
                changed.append(name)
        if "ground_truth_answer" in changed and ground_truth_raw:
            problem.metadata = {**problem.metadata, "ground_truth_raw": ground_truth_raw}
            changed.append("metadata")
        if level is not None and problem.level is None:
            problem.level = level
            changed.append("level")
        if changed:
            problem.save(update_fields=changed)
        return problem
    if external_id and Problem.objects.filter(project=project, external_id=external_id).exists():
        raise RowError(f"external id '{external_id}' already names a problem with another statement")
    problem = Problem(project=project, statement=statement, external_id=external_id,
                      ground_truth_answer=ground_truth_answer or "",
                      reference_solution=reference_solution or "", subject=subject or "",
                      level=level, metadata=metadata)
    problem.save()
    ctx.made("problems")
    return problem


def check_steps(steps: list, name: str) -> list[str]:
    need_list(steps, name)
    for i, step in enumerate(steps):
        need_str(step, f"{name}[{i}]", max_len=MAX_STEP_CHARS)
    return steps


def get_or_create_solution(ctx: RowContext, problem: Problem, last: StepNode, *,
                           final_answer: str | None = None, is_correct: bool | None = None,
                           source: str = Solution.Source.IMPORT, external_id: str = "",
                           is_gold: bool = False, metadata: dict | None = None) -> Solution:
    """The solution ending at ``last``; an existing one keeps its fields (gold only turns on)."""
    solution = Solution.objects.filter(last_step=last).first()
    if solution is not None:
        changed = []
        if is_gold and not solution.is_gold:
            solution.is_gold = True
            changed.append("is_gold")
        if final_answer and not solution.final_answer:
            solution.final_answer = final_answer
            changed.append("final_answer")
        if is_correct is not None and solution.is_correct is None:
            solution.is_correct = is_correct
            changed.append("is_correct")
        if changed:
            solution.save(update_fields=changed)
        return solution
    solution = Solution.objects.create(
        project_id=problem.project_id, problem=problem, last_step=last,
        final_answer=(final_answer or "")[:MAX_ANSWER_CHARS], is_correct=is_correct, source=source,
        external_id=(external_id or "")[:MAX_ID_CHARS], is_gold=is_gold, metadata=metadata or {},
    )
    ctx.made("solutions")
    return solution


def solution_path(solution: Solution) -> list[StepNode]:
    """The nodes of a solution, root first."""
    path = []
    node = solution.last_step
    while node is not None:
        path.append(node)
        node = node.parent
    return path[::-1]
