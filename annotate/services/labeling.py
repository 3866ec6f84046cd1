"""Write side of labeling: ratings, flags, undo, choices, own steps, finishing.

Every action runs in one transaction that first locks the assignment row, so two
submits of the same action (a double key press, a retried request) apply one after
the other and the second finds nothing to change: a rating is stored once.
Each action re-derives the task state and stores the presentation (what was shown at
each position) so that a PRM800K export of the assignment is right at any moment.
"""

from __future__ import annotations

import re
import time
from contextlib import contextmanager

from django.db import IntegrityError, transaction
from django.utils import timezone

from annotate.models import Assignment, Project, RatingChange, StepNode, StepRating
from annotate.selectors.labeling import (
    TaskState,
    assignment_for_action,
    is_final,
    load_task_data,
    rateable_node_ids,
    task_state,
)

from . import blind, candidates, rating_write
from .queue import lease_until, slot_freed

MAX_STEP_CHARS = 5000
MAX_NOTE_CHARS = 2000


class LabelingError(Exception):
    """An action the annotator cannot do; the message is shown on the page."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def load_for_user(assignment_id: int, user, *, lock: bool = False,
                  with_problem: bool = False) -> Assignment:
    """The assignment, if it is the user's; raises LabelingError (404/403) otherwise.

    Actions (``lock``) and the panel read only the fields they use
    (``selectors.labeling.assignment_for_action``); the page (``with_problem``) loads whole
    rows, the problem's statement included.
    """
    if with_problem:
        assignment = (Assignment.objects.select_related("project", "solution", "solution__problem")
                      .filter(pk=assignment_id).first())
    else:
        assignment = assignment_for_action(assignment_id, lock=lock)
    if assignment is None:
        raise LabelingError("No such task.", 404)
    if assignment.annotator_id != user.pk:
        raise LabelingError("This task belongs to another annotator.", 403)
    assignment.annotator = user  # already loaded for the request: no query when it is needed
    return assignment


def check_active(assignment: Assignment) -> None:
    """Writes need a live lease; an expired one is marked so and refused (ratings stay)."""
    if assignment.status == Assignment.Status.SUBMITTED:
        raise LabelingError("This task is already submitted; it can no longer be changed.", 409)
    if assignment.status in (Assignment.Status.SKIPPED, Assignment.Status.EXPIRED):
        raise LabelingError(f"This task was {assignment.get_status_display().lower()}; "
                            "ask for the next task to continue.", 409)
    if assignment.lease_expires_at and assignment.lease_expires_at <= timezone.now():
        exc = LabelingError("Your lease on this task expired and it went back to the queue. "
                            "Your ratings are kept; ask for the next task.", 409)
        exc.expired_id = assignment.pk
        raise exc


@contextmanager
def _action():
    """One transaction per action; an expired lease found inside is recorded after rollback."""
    try:
        with transaction.atomic():
            yield
    except LabelingError as exc:
        if getattr(exc, "expired_id", None):
            expired = Assignment.objects.filter(pk=exc.expired_id, status=Assignment.Status.ACTIVE)
            if expired.update(status=Assignment.Status.EXPIRED, finished_at=timezone.now()):
                lapsed = Assignment.objects.select_related("project").get(pk=exc.expired_id)
                slot_freed(lapsed.project, [lapsed.solution_id])
        raise


def _begin(assignment_id: int, user) -> Assignment:
    assignment = load_for_user(assignment_id, user, lock=True)
    if not (assignment.is_member or user.is_superuser):
        # Membership, not only the lease: removal ends access at once.
        raise LabelingError("You are no longer a member of this project.", 403)
    check_active(assignment)
    return assignment


def _store(assignment: Assignment, before: TaskState | None = None, ratings=None, *,
           changed: set[int] | None = None, write=None) -> TaskState:
    """Re-derive the state; save its presentation and renew the lease in one UPDATE.

    ``changed``: the node ids whose rating or flag the action changed; with the presentation
    shown before, they let the page answer with only what changed (selectors.label_changes).
    ``write``: a rating changed in memory only (``rating_write.prepare``), written together
    with the presentation and lease (one statement on PostgreSQL).
    """
    shown = before.presentation if before else list(assignment.presentation or [])
    # First-error mode re-derives only from the first changed step on (task_state ``before``).
    state = task_state(assignment, path=before.path if before else None, ratings=ratings,
                       before=before if ratings is not None else None, changed=changed)
    if assignment.project.mode == Project.Mode.BRANCH:
        # Only steps that just appeared can have a rating to carry over: a rating or flag
        # press shows the same steps and pays no extra query.
        shown_before = {i.node.pk for i in before.items} if before else set()
        if carry_over_ratings(assignment, state, skip=shown_before):
            state = task_state(assignment, path=state.path)
    _ask_for_candidates(assignment, state)
    stored = assignment.presentation or []
    assignment.presentation = state.presentation
    assignment.lease_expires_at = lease_until(assignment.project)
    if write is not None:
        rating_write.flush(write, assignment, state.presentation, assignment.lease_expires_at,
                           stored)
    else:
        Assignment.objects.filter(pk=assignment.pk).update(
            presentation=state.presentation, lease_expires_at=assignment.lease_expires_at)
    if changed is not None:
        state.changed, state.shown_before = set(changed), shown
    return state


def _ask_for_candidates(assignment: Assignment, state: TaskState) -> None:
    """Where a position has no candidates, ask the generator once (recorded as "run")."""
    pos = state.current
    if pos is None or not pos.waiting or pos.settled:
        return
    entry = state.presentation[pos.index]
    if entry.get("run"):
        return
    project = assignment.project
    parent = StepNode.objects.filter(pk=pos.parent_id).first() if pos.parent_id else None
    try:
        run = candidates.request_candidates(project=project, problem=assignment.solution.problem,
                                 parent=parent,
                                 k=max(1, project.candidates_per_position - (1 if pos.bad else 0)),
                                 requested_by=assignment.annotator)
    except ValueError as exc:  # bad generator settings: say so, and keep the task usable
        entry["run"] = 0
        entry["run_error"] = str(exc)[:500]
        return
    entry["run"] = run.pk if run is not None else 0  # 0: no generator configured
    pos.run = run


def carry_over_ratings(assignment: Assignment, state: TaskState | None = None, *,
                       skip: set[int] = frozenset()) -> int:
    """Branch mode: a shown step this annotator already rated in another task of the same
    problem (the tree shares nodes, so step-1 candidates recur in every solution) takes that
    rating over instead of being asked again. Returns how many were carried over.

    Recorded as a RatingChange with reason "carried" (undo walks back only the annotator's
    own presses, so it never removes these)."""
    if assignment.project.mode != Project.Mode.BRANCH:
        return 0
    state = state or task_state(assignment)
    unrated = [i.node.pk for i in state.items
               if i.rating is None and i.flagged is None and i.node.pk not in skip]
    if not unrated:
        return 0
    earlier: dict[int, StepRating] = {}
    for r in (StepRating.objects.filter(assignment__annotator_id=assignment.annotator_id,
                                        node_id__in=unrated, rating__isnull=False)
              .exclude(assignment_id=assignment.pk).order_by("updated", "id")):
        earlier[r.node_id] = r  # the latest rating of each node wins
    allowed = _allowed_ratings(assignment.project)
    carried = 0
    for node_id, old in earlier.items():
        if old.rating not in allowed:
            continue
        _set(None, assignment, node_id, assignment.annotator, value=old.rating,
             flagged=old.flagged, reason="carried")
        carried += 1
    return carried


def carry_over_for_task(assignment: Assignment, user) -> None:
    """``carry_over_ratings`` for a task just assigned, under the task's row lock."""
    if assignment.project.mode != Project.Mode.BRANCH:
        return
    with _action():
        carry_over_ratings(_begin(assignment.pk, user))


def _allowed_ratings(project: Project) -> set[int]:
    return {1, -1} if project.rating_scale == Project.RatingScale.BINARY else {1, 0, -1}


def _refuse_nul(value: str | None, field: str) -> None:
    # PostgreSQL text cannot hold a NUL byte: refuse it here, not as a DataError (a 500).
    if value and "\x00" in value:
        raise LabelingError(f"'{field}' contains a NUL byte.")


def _parse_int(value, what: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise LabelingError(f"{what} must be a whole number.") from None
    if not -(2**63) <= number < 2**63:  # the database's bigint: a query would fail on it
        raise LabelingError(f"{what} is out of range.")
    return number


def new_batch() -> int:
    """An id for the changes one action writes together (``RatingChange.batch``); unique
    within an assignment, whose row lock orders its actions."""
    return time.time_ns()


def _set(rating: StepRating | None, assignment: Assignment, node_id: int, user, *,
         value=..., flagged=..., time_ms: int | None = None, reason: str = "annotator",
         shown: dict | None = None, batch: int | None = None) -> StepRating:
    if rating is None:
        rating = StepRating(assignment=assignment, node_id=node_id, shown=shown)
    elif rating.pk is not None:
        rating_write.keep_first_shown(rating, shown)
    old_value, old_flag = rating.rating, rating.flagged
    new_value = old_value if value is ... else value
    new_flag = old_flag if flagged is ... else flagged
    if time_ms is not None:
        rating.time_spent_ms = (rating.time_spent_ms or 0) + time_ms
    changed = (new_value, new_flag) != (old_value, old_flag)
    rating.rating, rating.flagged = new_value, new_flag
    if rating.pk is None:
        rating.save()
    elif changed or time_ms:
        rating.save(update_fields=["rating", "flagged", "time_spent_ms", "updated"])
    if changed:
        RatingChange.objects.create(rating=rating, changed_by=user, old_rating=old_value,
                                    new_rating=new_value, old_flagged=old_flag,
                                    new_flagged=new_flag, reason=reason, batch=batch)
    return rating


def _deferred_write(assignment: Assignment) -> bool:
    """First-error mode writes a rating with the presentation (``rating_write``); branch mode
    writes it at once, since carrying earlier ratings over re-reads the ratings."""
    return assignment.project.mode == Project.Mode.FIRST_ERROR


def _node_in_task(state: TaskState, node_id) -> int:
    node_id = _parse_int(node_id, "The step id")
    if node_id not in rateable_node_ids(state):
        raise LabelingError("That step is not part of this task (or not shown yet).")
    return node_id


def shown_verdict(state: TaskState, node_id: int) -> dict | None:
    """Verify mode's provenance of a rating: the verdict the task showed on the step."""
    source = state.assignment.shown_source
    if not source:
        return None
    for item in state.items:
        if item.node.pk == node_id and item.verdict is not None:
            return {"source": source, "version": item.verdict.version,
                    "rating": item.verdict.rating}
    return None


def rate_step(assignment_id: int, user, *, node_id, rating, time_ms=None) -> TaskState:
    """Save one rating as it is made. The same rating twice stores one rating."""
    with _action():
        assignment = _begin(assignment_id, user)
        value = _parse_int(rating, "The rating")
        if value not in _allowed_ratings(assignment.project):
            allowed = ", ".join(str(v) for v in sorted(_allowed_ratings(assignment.project)))
            raise LabelingError(f"Rating {value} is out of range; use one of {allowed}.")
        path, ratings = load_task_data(assignment)
        before = task_state(assignment, path=path, ratings=ratings)
        node_id = _node_in_task(before, node_id)
        ms = (max(0, min(_parse_int(time_ms, "The time"), 24 * 3600 * 1000))
              if time_ms not in (None, "") else None)
        shown = shown_verdict(before, node_id)
        if _deferred_write(assignment):
            write = rating_write.prepare(ratings.get(node_id), assignment, node_id, user,
                                         value=value, time_ms=ms, shown=shown)
            ratings[node_id] = write.rating
            return _store(assignment, before, ratings, changed={node_id}, write=write)
        ratings[node_id] = _set(ratings.get(node_id), assignment, node_id, user, value=value,
                                time_ms=ms, shown=shown)
        return _store(assignment, before, ratings, changed={node_id})


def toggle_flag(assignment_id: int, user, *, node_id) -> TaskState:
    """Mark a step "unsure", or unmark it."""
    with _action():
        assignment = _begin(assignment_id, user)
        path, ratings = load_task_data(assignment)
        before = task_state(assignment, path=path, ratings=ratings)
        node_id = _node_in_task(before, node_id)
        existing = ratings.get(node_id)
        flagged = not (existing and existing.flagged)
        if _deferred_write(assignment):
            write = rating_write.prepare(existing, assignment, node_id, user, flagged=flagged)
            ratings[node_id] = write.rating
            return _store(assignment, before, ratings, changed={node_id}, write=write)
        ratings[node_id] = _set(existing, assignment, node_id, user, flagged=flagged)
        return _store(assignment, before, ratings, changed={node_id})


def _undo_units(changes: list[RatingChange]) -> list[tuple[str, list[RatingChange]]]:
    """Newest first: each action's changes as one unit (a batch written together, else one
    change), with its reason."""
    units: list[tuple[str, list[RatingChange]]] = []
    for change in changes:
        if change.batch is not None and units and units[-1][1][0].batch == change.batch:
            units[-1][1].append(change)
        else:
            units.append((change.reason, [change]))
    return units


def undo(assignment_id: int, user) -> TaskState:
    """Revert the latest action not yet undone (a section rated at once, or verdicts accepted,
    as a whole); repeated presses walk further back."""
    with _action():
        assignment = _begin(assignment_id, user)
        changes = list(RatingChange.objects.filter(rating__assignment=assignment)
                       .select_related("rating").order_by("-created", "-id")[:2000])
        pending, target = 0, None
        for reason, unit in _undo_units(changes):
            if reason == "undo":
                pending += 1
            elif reason == "annotator":
                if pending:
                    pending -= 1
                else:
                    target = unit
                    break
        if target is None:
            raise LabelingError("Nothing to undo.", 409)
        # The state before the undo: what the page shows, to answer with only what changed.
        path, ratings = load_task_data(assignment)
        before = task_state(assignment, path=path, ratings=ratings)
        batch = new_batch() if len(target) > 1 else None
        changed = set()
        for change in target:
            node_id = change.rating.node_id
            rating = ratings.get(node_id, change.rating)
            ratings[node_id] = _set(rating, assignment, node_id, user, value=change.old_rating,
                                    flagged=change.old_flagged, reason="undo", batch=batch)
            changed.add(node_id)
        return _store(assignment, before, ratings, changed=changed)


def choose_candidate(assignment_id: int, user, *, position, index) -> TaskState:
    """Branch mode: continue from the candidate at ``index`` of the current position."""
    with _action():
        assignment = _begin(assignment_id, user)
        if assignment.project.mode != Project.Mode.BRANCH:
            raise LabelingError("Choosing a candidate to continue from is for branch mode.")
        state = task_state(assignment)
        pos = _current_position(state, position)
        index = _parse_int(index, "The candidate index")
        if not 0 <= index < len(pos.items):
            raise LabelingError(f"There is no candidate {index + 1} at this position.")
        if not pos.all_rated:
            raise LabelingError("Rate every candidate at this position before continuing.")
        if pos.items[index].rating == -1:
            raise LabelingError("Continue from a step rated Great or Okay, not a Bad one.")
        presentation = state.presentation
        presentation[pos.index] = {**presentation[pos.index], "chosen": index}
        assignment.presentation = presentation
        return _store(assignment)


_ANSWER_LINE = re.compile(r"^[ \t]*(?:final[ \t]+)?answer[ \t]*[:=][ \t]*", re.IGNORECASE | re.MULTILINE)


def mark_final_answer(text: str) -> str:
    """One rule for own steps: a line "Answer: x" (what the page shows for a stored
    "# Answer: x") is the final answer too, saved in the marked form "# Answer: x" that
    ends the walk and that grading and the PRM800K export read."""
    return _ANSWER_LINE.sub("# Answer: ", text)


def write_step(assignment_id: int, user, *, position, text: str) -> TaskState:
    """The annotator's own step at the current position (a StepNode authored by a human)."""
    text = mark_final_answer((text or "").strip())
    _refuse_nul(text, "text")
    if not text:
        raise LabelingError("Write the step before saving it.")
    if len(text) > MAX_STEP_CHARS:
        raise LabelingError(f"A step is at most {MAX_STEP_CHARS} characters.")
    with _action():
        assignment = _begin(assignment_id, user)
        state = task_state(assignment)
        pos = _current_position(state, position)
        if assignment.project.mode == Project.Mode.FIRST_ERROR and not pos.bad:
            raise LabelingError("In first-error mode you write your own step where the walk "
                                "found a Bad step.")
        node = _human_node(assignment, pos.parent_id, text, user)
        presentation = state.presentation
        presentation[pos.index] = {**presentation[pos.index], "human": node.pk}
        if assignment.project.mode == Project.Mode.BRANCH:
            presentation[pos.index]["chosen"] = None
        assignment.presentation = presentation
        return _store(assignment)


def _human_node(assignment: Assignment, parent_id: int | None, text: str, user) -> StepNode:
    problem = assignment.solution.problem
    parent = StepNode.objects.get(pk=parent_id) if parent_id else None
    # Same text at the same position is the same node (the tree is unique by text).
    from annotate.models.problems import content_hash

    same = StepNode.objects.filter(problem=problem, parent_id=parent_id,
                                   text_hash=content_hash(text))
    existing = same.first()
    if existing is not None:
        return existing
    try:
        # A savepoint: another annotator may write the same step at this position at once;
        # then the unique constraint refuses this insert and their node is the one.
        with transaction.atomic():
            return StepNode.objects.create(
                problem=problem, parent=parent, depth=0 if parent is None else parent.depth + 1,
                text=text, author=StepNode.Author.HUMAN, author_user=user)
    except IntegrityError:
        return same.get()


def _current_position(state: TaskState, position):
    position = _parse_int(position, "The position")
    current = state.current
    if current is None or position != current.index:
        raise LabelingError("That position is not the one being labeled; reload the page.", 409)
    if current.settled and state.project.mode == Project.Mode.BRANCH:
        raise LabelingError("This position already has a chosen step.", 409)
    return current


def finish(assignment_id: int, user, *, reason: str, note: str = "") -> Assignment:
    """Submit the task with a finish reason; checks the walk supports that reason."""
    valid = {c.value for c in Assignment.FinishReason}
    _refuse_nul(reason, "reason")
    if reason not in valid:
        raise LabelingError(f"Unknown finish reason '{reason}'; use one of {', '.join(sorted(valid))}.")
    note = (note or "").strip()
    _refuse_nul(note, "note")
    if reason == Assignment.FinishReason.BAD_PROBLEM and not note:
        raise LabelingError("Say what is wrong with the problem.")
    if len(note) > MAX_NOTE_CHARS:
        raise LabelingError(f"The note is at most {MAX_NOTE_CHARS} characters.")
    with _action():
        assignment = _begin(assignment_id, user)
        state = task_state(assignment)
        if reason in ("solution", "found_error"):
            if not state.walk_done or state.suggested_reason != reason:
                raise LabelingError(_not_ready_message(state, reason), 409)
        from .critiques import missing_on_bad  # imports this module

        missing = missing_on_bad(state)
        if missing:
            raise LabelingError(missing, 409)
        now = timezone.now()
        assignment.presentation = state.presentation
        assignment.status = Assignment.Status.SUBMITTED
        assignment.finish_reason = reason
        assignment.finish_note = note
        assignment.finished_at = assignment.labeled_at = now
        assignment.total_time_ms = int((now - assignment.started_at).total_seconds() * 1000)
        assignment.save(update_fields=["presentation", "status", "finish_reason", "finish_note",
                                       "finished_at", "labeled_at", "total_time_ms", "updated"])
        blind.submitted(assignment)
        return assignment


def _not_ready_message(state: TaskState, reason: str) -> str:
    if reason == "found_error" and state.suggested_reason != "found_error":
        return "No step is rated Bad, so the task cannot be submitted as found_error."
    if reason == "solution" and state.suggested_reason == "found_error":
        return "A step is rated Bad: submit as found_error instead."
    if state.project.mode == Project.Mode.BRANCH and not any(
            is_final(p.items[p.chosen].node) for p in state.positions if p.chosen is not None):
        return "The walk has not reached a final answer yet; continue, or give up."
    return "Rate every shown step before submitting."
