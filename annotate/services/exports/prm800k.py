"""Assignments as PRM800K records.

An assignment with a ``presentation`` (every imported one, with the record's exact
layout, and those labeled in the Stepwise UI, which records what it showed) comes
back position by position, ratings read from its StepRatings so later corrections
show. One without: its steps are the solution path, and siblings it rated at a
position become that position's completions, the path step being the chosen one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC

from annotate.models import Assignment, StepNode
from annotate.services.imports.prm800k import LABELER_PREFIX

_STEPWISE_COMPLETION = {"rating": None, "source": "human", "flagged": False}


def prm800k_record(assignment: Assignment, *, path_cache: dict | None = None) -> dict:
    solution = assignment.solution
    problem = solution.problem
    path = _path(solution, path_cache)
    ratings = {r.node_id: r for r in assignment.ratings.all()}
    if assignment.presentation:
        steps = _steps_from_presentation(assignment.presentation, ratings)
    else:
        steps = _steps_from_ratings(assignment, path, ratings)

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
    """Records for a queryset (or list) of assignments, loading related rows in chunks."""
    cache: dict = {}
    if hasattr(assignments, "select_related"):
        assignments = (assignments.select_related("solution__problem", "solution__last_step",
                                                  "annotator", "project")
                       .prefetch_related("ratings").order_by("pk").iterator(chunk_size=500))
    for assignment in assignments:
        yield prm800k_record(assignment, path_cache=cache)
        if len(cache) > 10_000:
            cache.clear()


def _path(solution, cache: dict | None) -> list[StepNode]:
    if cache is not None and solution.pk in cache:
        return cache[solution.pk]
    path, node = [], solution.last_step
    while node is not None:
        path.append(node)
        node = node.parent
    path.reverse()
    if cache is not None:
        cache[solution.pk] = path
    return path


def _steps_from_presentation(presentation: list[dict], ratings: dict) -> list[dict]:
    ids = {i for pos in presentation for i in pos.get("candidates", [])}
    ids |= {pos["human"] for pos in presentation if pos.get("human")}
    texts = dict(StepNode.objects.filter(pk__in=ids).values_list("pk", "text"))
    steps = []
    for pos in presentation:
        slots = pos.get("slots") or {}
        completions = []
        for j, node_id in enumerate(pos.get("candidates", [])):
            slot = slots.get(str(j))
            if slot is not None:
                completion = {"text": texts[node_id], **slot}
            else:
                r = ratings.get(node_id)
                completion = {"text": texts[node_id], "rating": r.rating if r else None,
                              "flagged": r.flagged if r else None}
            completions.append(completion)
        human = None
        if pos.get("human"):
            fields = pos.get("human_fields")
            if fields is None:  # written in the Stepwise UI: PRM800K's shape, our rating if any
                r = ratings.get(pos["human"])
                fields = {"rating": r.rating if r else None, "source": "human",
                          "flagged": bool(r.flagged) if r else False}
            human = {"text": texts[pos["human"]], **fields}
        steps.append({"completions": completions, "human_completion": human,
                      "chosen_completion": pos.get("chosen")})
    return steps


def _steps_from_ratings(assignment: Assignment, path: list[StepNode], ratings: dict) -> list[dict]:
    """Positions up to the deepest rated one; rated siblings of the path step are completions."""
    if not ratings:
        return []
    rated = list(StepNode.objects.filter(pk__in=ratings).order_by("pk"))
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
