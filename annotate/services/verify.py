"""Verify mode's one write beyond a rating: accept the machine's verdicts up to its first Bad
(docs/labeling.md, "Verify mode"). Confirming one step is a rating like any other
(``labeling.rate_step``, whose provenance records the verdict shown).

First-error mode walks the solution's path from the first unrated step, as the annotator
would by confirming one step at a time: each step takes the source's verdict, and the walk
stops after the source's first Bad, before a step the source gives no usable verdict, or at
the end. Branch mode takes the verdicts of the current position's unrated candidates, in
order, stopping after the first Bad. Each accepted step is an ordinary rating with its
provenance, written as one batch: one undo press takes them all back.
"""

from __future__ import annotations

from annotate.models import Project
from annotate.selectors.labeling import TaskState, load_task_data, task_state
from annotate.selectors.verdicts import verdicts_for

from . import blind
from .labeling import (
    LabelingError,
    _action,
    _allowed_ratings,
    _begin,
    _set,
    _store,
    new_batch,
)


def _unrated_path(state: TaskState, path, ratings) -> list[int]:
    """First-error mode: the path's steps from the first unrated one on (the Bad position's
    unrated alternatives when the walk ended there)."""
    current = state.current
    if current is None:
        return []
    if current.bad:
        return [i.node.pk for i in current.rateable if i.rating is None]
    start = current.index
    return [n.pk for n in path[start:] if ratings.get(n.pk) is None
            or ratings[n.pk].rating is None]


def _plan(state: TaskState, order: list[int], found: dict, allowed: set[int],
          stop_at_first_gap: bool) -> list[tuple[int, dict]]:
    source = state.assignment.shown_source
    plan = []
    for node_id in order:
        verdict = found.get(node_id)
        if verdict is None or verdict.rating is None or verdict.rating not in allowed:
            if stop_at_first_gap:
                break
            continue
        plan.append((node_id, {"source": source, "version": verdict.version,
                               "rating": verdict.rating}))
        if verdict.rating == -1:
            break
    return plan


def accept_verdicts(assignment_id: int, user) -> TaskState:
    with _action():
        assignment = _begin(assignment_id, user)
        if not assignment.shown_source:
            raise LabelingError("This task shows no machine verdicts to accept (verify mode is "
                                "off, or this task is labeled blind).", 409)
        path, ratings = load_task_data(assignment)
        before = task_state(assignment, path=path, ratings=ratings)
        branch = assignment.project.mode == Project.Mode.BRANCH
        if branch:
            current = before.current
            order = [i.node.pk for i in (current.rateable if current else []) if i.rating is None]
        else:
            order = _unrated_path(before, path, ratings)
        found = verdicts_for(assignment.shown_source, assignment.solution_id, order,
                             blind.hidden_hints(assignment))
        walking = not branch and not (before.current and before.current.bad)
        plan = _plan(before, order, found, _allowed_ratings(assignment.project), walking)
        if not plan:
            raise LabelingError("Nothing to accept here: the machine gives no verdict on the "
                                "next unrated step. Rate it yourself (1/2/3).", 409)
        batch = new_batch()
        for node_id, shown in plan:
            ratings[node_id] = _set(ratings.get(node_id), assignment, node_id, user,
                                    value=shown["rating"], shown=shown, batch=batch)
        return _store(assignment, before, ratings, changed={n for n, _ in plan})
