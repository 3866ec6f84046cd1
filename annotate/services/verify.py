"""Verify mode's one write beyond a rating: accept the machine's verdicts up to its first Bad
(docs/labeling.md, "Verify mode"). Confirming one step is a rating like any other
(``labeling.rate_step``, whose provenance records the verdict shown).

Accept takes what the page shows, never more: in first-error mode the current step and the
preview below it (``selectors.verify_state``: the following steps up to the machine's first
Bad, before a step with no usable verdict, at most ``PREVIEW_STEPS``); at a Bad step's
alternatives, and in branch mode at the current position, the unrated candidates in order,
stopping after the first Bad. Each accepted step is an ordinary rating with its provenance,
written as one batch: one undo press takes them all back.
"""

from __future__ import annotations

from annotate.models import Project
from annotate.selectors.labeling import TaskState, load_task_data, task_state

from .labeling import (
    LabelingError,
    _action,
    _allowed_ratings,
    _begin,
    _set,
    _store,
    new_batch,
)


def _span(state: TaskState) -> list[tuple[int, object]]:
    """(node id, verdict) of the steps accept takes, in order."""
    current = state.current
    if current is None:
        return []
    if current.bad or state.project.mode == Project.Mode.BRANCH:
        return [(i.node.id, i.verdict) for i in current.rateable if i.rating is None]
    head = current.items[0]
    if head.rating is not None:
        return []
    return [(head.node.id, head.verdict)] + [(p.node.id, p.verdict) for p in state.preview]


def accept_verdicts(assignment_id: int, user) -> TaskState:
    with _action():
        assignment = _begin(assignment_id, user)
        if not assignment.shown_source:
            raise LabelingError("This task shows no machine verdicts to accept (verify mode is "
                                "off, or this task is labeled blind).", 409)
        path, ratings = load_task_data(assignment)
        before = task_state(assignment, path=path, ratings=ratings)
        if before.walk_done:
            raise LabelingError("Every step here is rated: nothing is left to accept. Submit "
                                "with Enter.", 409)
        allowed = _allowed_ratings(assignment.project)
        plan = []
        for node_id, verdict in _span(before):
            if verdict is None or verdict.rating is None or verdict.rating not in allowed:
                break
            plan.append((node_id, {"source": assignment.shown_source,
                                   "version": verdict.version, "rating": verdict.rating}))
            if verdict.rating == -1:
                break
        if not plan:
            raise LabelingError("Nothing to accept here: the machine gives no verdict on the "
                                "next unrated step. Rate it yourself (1/2/3).", 409)
        batch = new_batch()
        for node_id, shown in plan:
            ratings[node_id] = _set(ratings.get(node_id), assignment, node_id, user,
                                    value=shown["rating"], shown=shown, batch=batch)
        return _store(assignment, before, ratings, changed={n for n, _ in plan})
