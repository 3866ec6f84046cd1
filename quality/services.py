"""Quality writes: review decisions (accept, reject, correct) and promoting gold items.

Every change of a label is written to annotate.RatingChange, the audit log.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from annotate.models import Assignment, GoldLabel, Membership, RatingChange, StepRating
from annotate.selectors.projects import role_in

from .certification import evaluate_for_solution
from .models import ReviewCorrection, ReviewDecision

REVIEW_ROLES = (Membership.Role.ADMIN, Membership.Role.REVIEWER)


def _check_reviewable(assignment: Assignment, reviewer, note: str) -> None:
    if "\x00" in (note or ""):  # PostgreSQL text cannot hold it: a message, not a DataError
        raise ValidationError("'note' contains a NUL byte.")
    if role_in(assignment.project, reviewer) not in REVIEW_ROLES:
        raise ValidationError("Only reviewers and admins of the project can review.")
    if assignment.status != Assignment.Status.SUBMITTED:
        raise ValidationError("Only submitted assignments can be reviewed.")


@transaction.atomic
def accept_assignment(assignment: Assignment, reviewer, note: str = "") -> ReviewDecision:
    _check_reviewable(assignment, reviewer, note)
    return ReviewDecision.objects.create(assignment=assignment, reviewer=reviewer,
                                         action=ReviewDecision.Action.ACCEPT, note=note)


@transaction.atomic
def reject_assignment(assignment: Assignment, reviewer, note: str = "") -> ReviewDecision:
    """Send the solution back to the queue: the assignment stops counting (expired), so the
    queue serves the solution again; its ratings stay for the record."""
    _check_reviewable(assignment, reviewer, note)
    decision = ReviewDecision.objects.create(assignment=assignment, reviewer=reviewer,
                                             action=ReviewDecision.Action.REJECT, note=note)
    Assignment.objects.filter(pk=assignment.pk).update(status=Assignment.Status.EXPIRED)
    assignment.status = Assignment.Status.EXPIRED
    return decision


@transaction.atomic
def correct_assignment(assignment: Assignment, reviewer, labels: dict[int, int],
                       note: str = "") -> ReviewDecision:
    """Record the reviewer's labels ({node_id: rating}) for steps of the assignment's solution.

    The annotator's StepRating keeps its value; the correction is a separate row that wins in
    consensus, and the audit log gets one 'review' change per step whose label differs.
    """
    _check_reviewable(assignment, reviewer, note)
    if not labels:
        raise ValidationError("A correction needs at least one step label.")
    bad = {r for r in labels.values() if r not in (-1, 0, 1)}
    if bad:
        raise ValidationError(f"Ratings must be -1, 0 or 1, not {sorted(bad)}.")
    rated = {
        sr.node_id: sr for sr in StepRating.objects.filter(assignment__solution=assignment.solution,
                                                           assignment=assignment)
    }
    from .selectors import solution_path

    allowed = {n.pk for n in solution_path(assignment.solution)} | set(rated)
    foreign = set(labels) - allowed
    if foreign:
        raise ValidationError(f"Steps {sorted(foreign)} are not part of this solution.")
    decision = ReviewDecision.objects.create(assignment=assignment, reviewer=reviewer,
                                             action=ReviewDecision.Action.CORRECT, note=note)
    ReviewCorrection.objects.bulk_create(
        ReviewCorrection(solution=assignment.solution, node_id=node_id, rating=rating,
                         decision=decision, reviewer=reviewer)
        for node_id, rating in labels.items()
    )
    RatingChange.objects.bulk_create(
        RatingChange(rating=rated[node_id], changed_by=reviewer, old_rating=rated[node_id].rating,
                     new_rating=rating, old_flagged=rated[node_id].flagged,
                     new_flagged=rated[node_id].flagged, reason="review")
        for node_id, rating in labels.items()
        if node_id in rated and rated[node_id].rating != rating
    )
    solution_id = assignment.solution_id
    transaction.on_commit(lambda: evaluate_for_solution(solution_id))
    return decision


@transaction.atomic
def promote_to_gold(assignment: Assignment, by_user) -> int:
    """Make an admin-labeled solution a gold item: its ratings become the answer key."""
    project = assignment.project
    if role_in(project, by_user) != Membership.Role.ADMIN:
        raise ValidationError("Only project admins can promote gold items.")
    if role_in(project, assignment.annotator) != Membership.Role.ADMIN:
        raise ValidationError("Only a solution labeled by a project admin can become gold.")
    if assignment.status != Assignment.Status.SUBMITTED:
        raise ValidationError("Only a submitted assignment can become gold.")
    ratings = list(assignment.ratings.filter(rating__isnull=False).values_list("node_id", "rating"))
    if not ratings:
        raise ValidationError("The assignment has no rated steps.")
    solution = assignment.solution
    if solution.is_gold or GoldLabel.objects.filter(solution=solution).exists():
        raise ValidationError("This solution is already a gold item.")
    GoldLabel.objects.bulk_create(
        GoldLabel(solution=solution, node_id=node_id, rating=rating,
                  source=f"promoted from assignment {assignment.pk} by {by_user.username}")
        for node_id, rating in ratings
    )
    solution.is_gold = True
    solution.save(update_fields=["is_gold"])
    return len(ratings)
