"""Assignments as PRM800K records.

An assignment with a ``presentation`` (every imported one, with the record's exact
layout, and those labeled in the Stepwise UI, which records what it showed) comes
back position by position, ratings read from its StepRatings so later corrections
show. One without: its steps are the solution path, and siblings it rated at a
position become that position's completions, the path step being the chosen one.

Records are built from the step nodes of their problems, loaded once per chunk of
assignments (one query for 500 records), not by walking parents one query at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC
from itertools import islice
from typing import NamedTuple

from django.contrib.auth import get_user_model

from annotate.models import Assignment, StepNode, StepRating
from annotate.services.imports.prm800k import LABELER_PREFIX

_STEPWISE_COMPLETION = {"rating": None, "source": "human", "flagged": False}
CHUNK = 500


class Node(NamedTuple):
    """The fields of a StepNode a record uses (plain rows: model instances cost 10x)."""
    pk: int
    parent_id: int | None
    depth: int
    text: str
    author: str


class Rating(NamedTuple):
    rating: int | None
    flagged: bool | None
    shown: dict | None = None  # verify mode: the machine verdict shown (StepRating.shown)


class Row(NamedTuple):
    """The fields of an assignment, its solution, problem, annotator and project that a
    record uses, read in one query as plain values (model instances cost 3x the record)."""
    pk: int
    presentation: list
    generation: int | None
    source: str
    status: str
    finish_reason: str
    total_time_ms: int | None
    is_quality_control: bool
    is_screening: bool
    labeled_at: object
    finished_at: object
    project_slug: str | None
    username: str
    solution_id: int
    last_step_id: int
    solution_metadata: dict
    is_gold: bool
    problem_id: int
    statement: str
    reference_solution: str
    ground_truth_answer: str
    project_id: int
    annotator_id: int
    problem_external_id: str
    statement_hash: str
    shown_source: str


def _row_fields() -> tuple[str, ...]:
    username = f"annotator__{get_user_model().USERNAME_FIELD}"
    return ("id", "presentation", "generation", "source", "status", "finish_reason",
            "total_time_ms", "is_quality_control", "is_screening", "labeled_at", "finished_at",
            "project__slug", username, "solution_id", "solution__last_step_id",
            "solution__metadata", "solution__is_gold", "solution__problem_id",
            "solution__problem__statement", "solution__problem__reference_solution",
            "solution__problem__ground_truth_answer", "project_id", "annotator_id",
            "solution__problem__external_id", "solution__problem__statement_hash", "shown_source")


def _row_of(a: Assignment) -> Row:
    solution, problem = a.solution, a.solution.problem
    return Row(a.pk, a.presentation, a.generation, a.source, a.status, a.finish_reason,
               a.total_time_ms, a.is_quality_control, a.is_screening, a.labeled_at, a.finished_at,
               a.project.slug if a.project_id else None, a.annotator.get_username(), solution.pk,
               solution.last_step_id, solution.metadata, solution.is_gold, problem.pk,
               problem.statement, problem.reference_solution, problem.ground_truth_answer,
               a.project_id, a.annotator_id, problem.external_id, problem.statement_hash,
               a.shown_source)


def problem_nodes(problem_ids) -> dict[int, Node]:
    """Every step node of these problems, by id, in one query."""
    rows = StepNode.objects.filter(problem_id__in=set(problem_ids)).values_list(
        "id", "parent_id", "depth", "text", "author")
    return {row[0]: Node(*row) for row in rows}


def assignment_ratings(assignment_ids) -> dict[int, dict[int, Rating]]:
    """assignment -> node -> its rating, in one query."""
    out: dict[int, dict[int, Rating]] = {}
    rows = StepRating.objects.filter(assignment_id__in=list(assignment_ids)).values_list(
        "assignment_id", "node_id", "rating", "flagged", "shown")
    for assignment_id, node_id, rating, flagged, shown in rows:
        out.setdefault(assignment_id, {})[node_id] = Rating(rating, flagged, shown)
    return out


def prm800k_record(assignment: Assignment, *, nodes: dict[int, Node] | None = None,
                   ratings: dict[int, Rating] | None = None) -> dict:
    """``nodes``: the step nodes of the assignment's problem (and maybe others), by id;
    ``ratings``: the assignment's, by node. Each is loaded when not given."""
    row = _row_of(assignment)
    nodes = nodes if nodes is not None else problem_nodes([row.problem_id])
    if ratings is None:
        ratings = assignment_ratings([row.pk]).get(row.pk, {})
    return _record(row, nodes, ratings)


def _record(assignment: Row, nodes: dict[int, Node], ratings: dict[int, Rating]) -> dict:
    path = _path(assignment.last_step_id, nodes)
    if assignment.presentation:
        steps = _steps_from_presentation(assignment.presentation, ratings, nodes)
    else:
        steps = _steps_from_ratings(assignment, path, ratings, nodes)

    question = {"problem": assignment.statement}
    pre = (assignment.solution_metadata or {}).get("pre_generated")
    # Phase 1 records (no generation) carry no reference solution; phase 2 ones do, also
    # a found_error record whose first step is the error (no pre-generated steps kept).
    phase2 = pre is not None or assignment.generation is not None
    if assignment.reference_solution and (phase2 or assignment.source != Assignment.Source.IMPORT):
        question["ground_truth_solution"] = assignment.reference_solution
    question["ground_truth_answer"] = assignment.ground_truth_answer
    if pre is not None:
        question["pre_generated_steps"] = [n.text for n in path]
        question["pre_generated_answer"] = pre.get("answer")
        question["pre_generated_verifier_score"] = pre.get("verifier_score")

    username = assignment.username
    if assignment.source == Assignment.Source.IMPORT:
        username = username.removeprefix(LABELER_PREFIX)
    stamp = assignment.labeled_at or assignment.finished_at
    record = {
        "labeler": username,
        "timestamp": stamp.astimezone(UTC).replace(tzinfo=None).isoformat() if stamp else None,
        "generation": assignment.generation,
        "is_quality_control_question": assignment.is_quality_control,
        "is_initial_screening_question": assignment.is_screening,
        "question": question,
        "label": {
            "steps": steps,
            "total_time": assignment.total_time_ms,
            "finish_reason": assignment.finish_reason or None,
        },
        "stepwise": {
            "assignment_id": assignment.pk, "solution_id": assignment.solution_id,
            "problem_id": assignment.problem_id, "project": assignment.project_slug,
            "source": assignment.source, "status": assignment.status,
            "is_gold": assignment.is_gold, "path_node_ids": [n.pk for n in path],
        },
    }
    if assignment.shown_source:
        # Verify mode's provenance: the machine verdict each rated step showed, by node id.
        record["stepwise"]["shown_source"] = assignment.shown_source
        record["stepwise"]["shown"] = {str(node): r.shown for node, r in sorted(ratings.items())
                                       if r.shown}
    return record


def prm800k_records(assignments: Iterable[Assignment]) -> Iterator[dict]:
    """Records for a queryset (or list) of assignments, in chunks: the related rows and the
    chunk's step nodes load once per chunk, so memory stays flat however many there are."""
    for _, record in prm800k_rows(assignments):
        yield record


def prm800k_rows(assignments: Iterable[Assignment]) -> Iterator[tuple[Row, dict]]:
    """(the assignment's fields, its record) for each, as ``prm800k_records``."""
    if hasattr(assignments, "values_list"):
        rows = (Row(*values) for values in assignments.order_by("pk").values_list(*_row_fields())
                .iterator(chunk_size=CHUNK))
    else:
        rows = (_row_of(a) for a in assignments)
    while chunk := list(islice(rows, CHUNK)):
        nodes = problem_nodes(a.problem_id for a in chunk)
        ratings = assignment_ratings(a.pk for a in chunk)
        for row in chunk:
            yield row, _record(row, nodes, ratings.get(row.pk, {}))


def _path(last_step_id: int, nodes: dict[int, Node]) -> list[Node]:
    path, node = [], nodes.get(last_step_id)
    while node is not None:
        path.append(node)
        node = nodes.get(node.parent_id)
    path.reverse()
    return path


def _steps_from_presentation(presentation: list[dict], ratings: dict,
                             nodes: dict[int, Node]) -> list[dict]:
    steps = []
    for pos in presentation:
        slots = pos.get("slots") or {}
        completions = []
        for j, node_id in enumerate(pos.get("candidates", [])):
            slot = slots.get(str(j))
            if slot is not None:
                completion = {"text": nodes[node_id].text, **slot}
            else:
                r = ratings.get(node_id)
                completion = {"text": nodes[node_id].text, "rating": r.rating if r else None,
                              "flagged": r.flagged if r else None}
            completions.append(completion)
        human = None
        if pos.get("human"):
            fields = pos.get("human_fields")
            if fields is None:  # written in the Stepwise UI: PRM800K's shape, our rating if any
                r = ratings.get(pos["human"])
                fields = {"rating": r.rating if r else None, "source": "human",
                          "flagged": bool(r.flagged) if r else False}
            human = {"text": nodes[pos["human"]].text, **fields}
        steps.append({"completions": completions, "human_completion": human,
                      "chosen_completion": pos.get("chosen")})
    return steps


def _steps_from_ratings(assignment: Row, path: list[Node], ratings: dict,
                        nodes: dict[int, Node]) -> list[dict]:
    """Positions up to the deepest rated one; rated siblings of the path step are completions."""
    if not ratings:
        return []
    rated = [nodes[pk] for pk in sorted(ratings) if pk in nodes]
    deepest = max(n.depth for n in rated)
    by_parent: dict[int | None, list[Node]] = {}
    for n in rated:
        by_parent.setdefault(n.parent_id, []).append(n)
    human_author = str(StepNode.Author.HUMAN)
    ends_at_solution = assignment.finish_reason == Assignment.FinishReason.SOLUTION
    top = min(deepest, len(path) - 1)
    steps = []
    for depth in range(top + 1):
        step = path[depth]
        parent_id = path[depth - 1].pk if depth else None
        continues = depth != top or ends_at_solution
        human = None
        completions = []
        chosen = None
        if step.author == human_author and step.pk not in ratings:
            human = {"text": step.text, **_STEPWISE_COMPLETION}
        elif continues or step.pk in ratings:
            completions.append(step)
            chosen = 0 if continues else None
        completions += [n for n in by_parent.get(parent_id, ()) if n.pk != step.pk]
        shown = []
        for n in completions:
            r = ratings.get(n.pk)
            shown.append({"text": n.text, "rating": r.rating if r else None,
                          "flagged": r.flagged if r else None})
        steps.append({"completions": shown, "human_completion": human, "chosen_completion": chosen})
    return steps
