"""PRM800K JSONL (phase 1 and phase 2): one labeled solution per line, every field kept.

Per record: the problem; the step tree (each position's completions are sibling
nodes under the node that was continued from, the human completion among them);
for phase 2 the pre-generated solution as a path; an Assignment of source
``import`` for the labeler (an inactive user), with a StepRating per rated node.
Siblings may repeat text, and nodes are unique by text, so the record's exact
layout goes to ``Assignment.presentation`` and the export gives the record back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from annotate.models import Assignment, StepNode

from .common import (
    MAX_ANSWER_CHARS,
    MAX_CANDIDATES,
    MAX_STATEMENT_CHARS,
    MAX_STEPS,
    check_steps,
    extract_answer,
    get_path,
    grade,
    need_bool,
    need_int,
    need_list,
    need_number,
    need_str,
)
from .plan import AssignmentSpec, RowPlan
from .rows import ImportReport, RowError, jsonl_rows, run_plans

#: Imported labelers are inactive users named ``prm800k-<labeler id>``.
LABELER_PREFIX = "prm800k-"
FINISH_REASONS = {c.value for c in Assignment.FinishReason}
_COMPLETION_KEYS = ("text", "rating", "flagged")


def import_prm800k(project, lines: Iterable[str], *, source_name: str, progress=None,
                   grade_answers: bool = True) -> ImportReport:
    return run_plans(jsonl_rows(lines), planner(source_name, grade_answers=grade_answers),
                     project=project, source_name=source_name, fmt="prm800k", progress=progress)


def planner(source_name: str, *, grade_answers: bool = True):
    return lambda record: plan_record(record, grade_answers=grade_answers)


def plan_record(record: dict, *, grade_answers: bool = True) -> RowPlan:
    labeler = need_str(get_path(record, "labeler"), "labeler", max_len=100)
    labeled_at = _timestamp(get_path(record, "timestamp", None))
    generation = need_int(get_path(record, "generation", None), "generation", null_ok=True)
    is_qc = need_bool(get_path(record, "is_quality_control_question", False),
                      "is_quality_control_question")
    is_screening = need_bool(get_path(record, "is_initial_screening_question", False),
                             "is_initial_screening_question")
    question = get_path(record, "question")
    if not isinstance(question, dict):
        raise RowError("'question' must be an object")
    label = get_path(record, "label")
    if not isinstance(label, dict):
        raise RowError("'label' must be an object")
    # No steps is legal (a bad_problem verdict on a phase-2 solution, for instance).
    steps = need_list(get_path(label, "steps"), "label.steps", max_len=MAX_STEPS, empty_ok=True)
    total_time = need_int(label.get("total_time"), "label.total_time", null_ok=True, minimum=0)
    finish_reason = label.get("finish_reason")
    if finish_reason is not None and finish_reason not in FINISH_REASONS:
        raise RowError(f"'label.finish_reason' is {finish_reason!r}; expected one of "
                       f"{', '.join(sorted(FINISH_REASONS))}")
    positions = [_check_position(step, i) for i, step in enumerate(steps)]
    pre_steps = question.get("pre_generated_steps")
    if pre_steps is not None:
        check_steps(pre_steps, "question.pre_generated_steps")

    statement = need_str(get_path(question, "problem"), "question.problem", max_len=MAX_STATEMENT_CHARS)
    truth = need_str(question.get("ground_truth_answer"), "question.ground_truth_answer",
                     max_len=MAX_ANSWER_CHARS, empty_ok=True, null_ok=True) or ""
    reference = need_str(question.get("ground_truth_solution"), "question.ground_truth_solution",
                         max_len=MAX_STATEMENT_CHARS, empty_ok=True, null_ok=True) or ""
    plan = RowPlan()
    problem = plan.problem(statement=statement, ground_truth_answer=truth, reference_solution=reference)
    planned, path = _plan_tree(plan, problem, positions)
    if pre_steps is not None:
        chain = plan.path(problem, pre_steps)
        solution = _pre_generated_solution(plan, problem, question, chain, grade_answers)
    else:
        if not path:
            path = _first_step_error(planned, positions, finish_reason)
        if not path:
            raise RowError("the record continues from no step (no chosen or human completion at "
                           "the first position), so it has no solution path")
        answer = extract_answer(plan.nodes[path[-1]].text)
        solution = plan.solution(problem, path[-1], final_answer=answer,
                                 is_correct=grade(answer, truth) if grade_answers else None)
    layout = _presentation(planned, positions)
    plan.assignments.append(AssignmentSpec(
        solution=solution, labeler=f"{LABELER_PREFIX}{labeler}",
        fields={"status": Assignment.Status.SUBMITTED, "source": Assignment.Source.IMPORT,
                "finished_at": labeled_at, "finish_reason": finish_reason or "",
                "total_time_ms": total_time, "generation": generation, "is_quality_control": is_qc,
                "is_screening": is_screening, "labeled_at": labeled_at},
        presentation=lambda node_id: _with_ids(layout, node_id),
        ratings=_ratings(positions, layout),
        conflict_message=lambda existing_at: (
            f"labeler {labeler} already has an assignment on this solution "
            f"(labeled {existing_at}); Stepwise keeps one per labeler and solution")))
    return plan


def _timestamp(value) -> datetime | None:
    """An ISO 8601 string, or a timestamp column of a Parquet or Arrow source."""
    if value is None:
        return None
    if isinstance(value, datetime):
        stamp = value
    else:
        need_str(value, "timestamp", max_len=64)
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            raise RowError(f"'timestamp' {value!r} is not an ISO 8601 date and time") from None
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp


def _check_completion(c, cname: str, not_object: str) -> None:
    """A completion (or human completion) is an object with text and a -1/0/1/null rating."""
    if not isinstance(c, dict):
        raise RowError(not_object)
    if "text" not in c:
        raise RowError(f"missing field '{cname}.text'")
    need_str(c["text"], f"{cname}.text", empty_ok=True)
    rating = c.get("rating")
    if rating is not None and (isinstance(rating, bool) or rating not in (-1, 0, 1)):
        raise RowError(f"'{cname}.rating' is {rating!r}; expected -1, 0, 1 or null")


def _check_position(step, i: int) -> dict:
    name = f"label.steps[{i}]"
    if not isinstance(step, dict):
        raise RowError(f"'{name}' must be an object")
    if "completions" not in step:
        raise RowError(f"missing field '{name}.completions'")
    completions = need_list(step["completions"], f"{name}.completions",
                            max_len=MAX_CANDIDATES, empty_ok=True)
    for j, c in enumerate(completions):
        cname = f"{name}.completions[{j}]"
        _check_completion(c, cname, f"'{cname}' must be an object")
        need_bool(c.get("flagged"), f"{cname}.flagged", null_ok=True)
    human = step.get("human_completion")
    if human is not None:
        hname = f"{name}.human_completion"
        _check_completion(human, hname, f"'{hname}' must be an object with 'text' or null")
    chosen = need_int(step.get("chosen_completion"), f"{name}.chosen_completion", null_ok=True,
                      minimum=0, maximum=len(completions) - 1)
    if not completions and human is None:
        raise RowError(f"'{name}' has neither completions nor a human completion")
    return {"completions": completions, "human": human, "chosen": chosen}


def _plan_tree(plan: RowPlan, problem: int, positions: list[dict]):
    """Plan each position's siblings under the node continued from; return them and the path
    (node indices into the plan)."""
    planned, path, parent = [], [], None
    for i, pos in enumerate(positions):
        nodes = [plan.child(problem, parent, c["text"]) for c in pos["completions"]]
        human = None
        if pos["human"] is not None:
            human = plan.child(problem, parent, pos["human"]["text"], author=StepNode.Author.HUMAN)
        planned.append((nodes, human))
        nxt = nodes[pos["chosen"]] if pos["chosen"] is not None else human
        if nxt is not None:
            path.append(nxt)
            parent = nxt
        elif i < len(positions) - 1:
            raise RowError(f"'label.steps[{i}]' has no chosen or human completion but more steps follow")
    return planned, path


def _first_step_error(planned: list, positions: list[dict], finish_reason) -> list[int]:
    """A found_error record whose first step is the error continues from nothing: its
    labeled path is that one step, the first completion rated -1 (the others at that
    position are its rated alternatives)."""
    if finish_reason != Assignment.FinishReason.FOUND_ERROR or len(positions) != 1:
        return []
    for node, c in zip(planned[0][0], positions[0]["completions"]):
        if c.get("rating") == -1:
            return [node]
    return []


def _presentation(planned: list, positions: list[dict]) -> list[dict]:
    """The record's exact layout by node index; repeated (or unusual) slots keep their own values."""
    presentation = []
    for (nodes, human), pos in zip(planned, positions):
        entry: dict = {"candidates": list(nodes), "chosen": pos["chosen"], "human": None}
        seen: set[int] = set()
        slots = {}
        for j, (node, c) in enumerate(zip(nodes, pos["completions"])):
            extra = {k: v for k, v in c.items() if k not in _COMPLETION_KEYS}
            if node in seen or extra:
                slots[str(j)] = {"rating": c.get("rating"), "flagged": c.get("flagged"), **extra}
            seen.add(node)
        if slots:
            entry["slots"] = slots
        if human is not None:
            entry["human"] = human
            entry["human_fields"] = {k: v for k, v in pos["human"].items() if k != "text"}
        presentation.append(entry)
    return presentation


def _with_ids(layout: list[dict], node_id) -> list[dict]:
    """The layout with node indices replaced by database ids: what ``presentation`` stores."""
    out = []
    for entry in layout:
        entry = {**entry, "candidates": [node_id(i) for i in entry["candidates"]]}
        if entry["human"] is not None:
            entry["human"] = node_id(entry["human"])
        out.append(entry)
    return out


def _pre_generated_solution(plan: RowPlan, problem: int, question: dict, chain: list[int],
                            grade_answers: bool) -> int:
    answer = need_str(question.get("pre_generated_answer"), "question.pre_generated_answer",
                      max_len=MAX_ANSWER_CHARS, empty_ok=True, null_ok=True)
    score = need_number(question.get("pre_generated_verifier_score"),
                        "question.pre_generated_verifier_score", null_ok=True)
    metadata = {"pre_generated": {"answer": answer, "verifier_score": score}}
    return plan.solution(problem, chain[-1], final_answer=answer, metadata=metadata,
                         grade=grade_answers, merge_metadata=True)


def _ratings(positions: list[dict], layout: list[dict]) -> list[tuple]:
    """One rating per node: the first slot a node fills (later repeats live in slots)."""
    ratings: dict[int, tuple] = {}
    for pos, entry in zip(positions, layout):
        for node, c in zip(entry["candidates"], pos["completions"]):
            if node not in ratings:
                ratings[node] = (node, c.get("rating"), c.get("flagged"))
        human = pos["human"]
        if entry["human"] is not None and entry["human"] not in ratings and (
                human.get("rating") is not None):
            flagged = human.get("flagged")
            ratings[entry["human"]] = (entry["human"], human.get("rating"),
                                       flagged if isinstance(flagged, bool) else None)
    return list(ratings.values())
