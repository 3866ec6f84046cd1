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


def problem_nodes(problem_ids) -> dict[int, Node]:
    """Every step node of these problems, by id, in one query."""
    rows = StepNode.objects.filter(problem_id__in=set(problem_ids)).values_list(
        "id", "parent_id", "depth", "text", "author")
    return {row[0]: Node(*row) for row in rows}


def assignment_ratings(assignment_ids) -> dict[int, dict[int, Rating]]:
    """assignment -> node -> its rating, in one query."""
    out: dict[int, dict[int, Rating]] = {}
    rows = StepRating.objects.filter(assignment_id__in=list(assignment_ids)).values_list(
        "assignment_id", "node_id", "rating", "flagged")
    for assignment_id, node_id, rating, flagged in rows:
        out.setdefault(assignment_id, {})[node_id] = Rating(rating, flagged)
    return out


def prm800k_record(assignment: Assignment, *, nodes: dict[int, Node] | None = None,
                   ratings: dict[int, Rating] | None = None) -> dict:
    """``nodes``: the step nodes of the assignment's problem (and maybe others), by id;
    ``ratings``: the assignment's, by node. Each is loaded when not given."""
    solution = assignment.solution
    problem = solution.problem
    nodes = nodes if nodes is not None else problem_nodes([problem.pk])
    path = _path(solution.last_step_id, nodes)
    if ratings is None:
        ratings = assignment_ratings([assignment.pk]).get(assignment.pk, {})
    if assignment.presentation:
        steps = _steps_from_presentation(assignment.presentation, ratings, nodes)
    else:
        steps = _steps_from_ratings(assignment, path, ratings, nodes)

    question = {"problem": problem.statement}
    pre = (solution.metadata or {}).get("pre_generated")
    # Phase 1 records (no generation) carry no reference solution; phase 2 ones do, also
    # a found_error record whose first step is the error (no pre-generated steps kept).
    phase2 = pre is not None or assignment.generation is not None
    if problem.reference_solution and (phase2 or assignment.source != Assignment.Source.IMPORT):
        question["ground_truth_solution"] = problem.reference_solution
    question["ground_truth_answer"] = problem.ground_truth_answer
    if pre is not None:
        question["pre_generated_steps"] = [n.text for n in path]
        question["pre_generated_answer"] = pre.get("answer")
        question["pre_generated_verifier_score"] = pre.get("verifier_score")

    username = assignment.annotator.get_username()
    if assignment.source == Assignment.Source.IMPORT:
        username = username.removeprefix(LABELER_PREFIX)
    stamp = assignment.labeled_at or assignment.finished_at
    return {
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
            "assignment_id": assignment.pk, "solution_id": solution.pk, "problem_id": problem.pk,
            "project": assignment.project.slug if assignment.project_id else None,
            "source": assignment.source, "status": assignment.status,
            "is_gold": solution.is_gold, "path_node_ids": [n.pk for n in path],
        },
    }


def prm800k_records(assignments: Iterable[Assignment]) -> Iterator[dict]:
    """Records for a queryset (or list) of assignments, in chunks: the related rows and the
    chunk's step nodes load once per chunk, so memory stays flat however many there are."""
    if hasattr(assignments, "select_related"):
        assignments = (assignments.select_related("solution__problem", "annotator", "project")
                       .order_by("pk").iterator(chunk_size=CHUNK))
    rows = iter(assignments)
    while chunk := list(islice(rows, CHUNK)):
        nodes = problem_nodes(a.solution.problem_id for a in chunk)
        ratings = assignment_ratings(a.pk for a in chunk)
        for assignment in chunk:
            yield prm800k_record(assignment, nodes=nodes, ratings=ratings.get(assignment.pk, {}))


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


def _steps_from_ratings(assignment: Assignment, path: list[Node], ratings: dict,
                        nodes: dict[int, Node]) -> list[dict]:
    """Positions up to the deepest rated one; rated siblings of the path step are completions."""
    if not ratings:
        return []
    rated = sorted((nodes[pk] for pk in ratings if pk in nodes), key=lambda n: n.pk)
    deepest = max(n.depth for n in rated)
    steps = []
    for depth in range(min(deepest + 1, len(path))):
        step = path[depth]
        parent_id = path[depth - 1].pk if depth else None
        siblings = [n for n in rated if n.parent_id == parent_id and n.pk != step.pk]
        last = depth == min(deepest, len(path) - 1)
        continues = not last or assignment.finish_reason == Assignment.FinishReason.SOLUTION
        human = None
        completions = []
        chosen = None
        if step.author == StepNode.Author.HUMAN and step.pk not in ratings:
            human = {"text": step.text, **_STEPWISE_COMPLETION}
        elif step.pk in ratings or continues:
            completions.append(step)
            chosen = 0 if continues else None
        completions += siblings
        steps.append({
            "completions": [
                {"text": n.text, "rating": ratings[n.pk].rating if n.pk in ratings else None,
                 "flagged": ratings[n.pk].flagged if n.pk in ratings else None}
                for n in completions],
            "human_completion": human,
            "chosen_completion": chosen,
        })
    return steps
