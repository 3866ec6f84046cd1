"""Rating a step group (a section) at once: one rating written on each of its steps, in one
transaction, each with its audit row as for a single rating, all in one batch (one undo
press takes the section back). First-error mode only, where a group's steps are fixed positions of the
solution's path; the group's first step must be shown (the walk reached it)."""

from __future__ import annotations

from annotate.models import Project, StepGroup
from annotate.selectors.labeling import TaskState, load_task_data, task_state

from .labeling import (
    LabelingError,
    _action,
    _allowed_ratings,
    _begin,
    _parse_int,
    _set,
    _store,
    new_batch,
)


def rate_group(assignment_id: int, user, *, group_id, rating) -> TaskState:
    with _action():
        assignment = _begin(assignment_id, user)
        if assignment.project.mode != Project.Mode.FIRST_ERROR:
            raise LabelingError("Sections are rated as a unit in first-error mode only.")
        value = _parse_int(rating, "The rating")
        allowed = _allowed_ratings(assignment.project)
        if value not in allowed:
            words = ", ".join(str(v) for v in sorted(allowed))
            raise LabelingError(f"Rating {value} is out of range; use one of {words}.")
        group_id = _parse_int(group_id, "The section id")
        group = (StepGroup.objects.filter(pk=group_id, solution_id=assignment.solution_id)
                 .only("id", "start", "end").first())
        if group is None:
            raise LabelingError("That section is not part of this task's solution.", 404)
        path, ratings = load_task_data(assignment)
        before = task_state(assignment, path=path, ratings=ratings)
        current = before.current
        if current is None or group.start > current.index:
            raise LabelingError("That section is not reached yet: rate the steps before it first.",
                                409)
        changed, batch = set(), new_batch()
        for node in path[group.start:min(group.end, len(path))]:
            old = ratings.get(node.pk)
            if old is not None and old.rating == value:
                continue
            ratings[node.pk] = _set(old, assignment, node.pk, user, value=value, batch=batch)
            changed.add(node.pk)
        return _store(assignment, before, ratings, changed=changed)
