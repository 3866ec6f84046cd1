"""Review decisions and corrections. Screening and gold accuracy are computed, not stored."""

from django.conf import settings
from django.db import models

from annotate.models import Assignment, Solution, StepNode


class ReviewDecision(models.Model):
    """A reviewer's verdict on one submitted assignment."""

    class Action(models.TextChoices):
        ACCEPT = "accept", "Accepted"
        REJECT = "reject", "Rejected (back to the queue)"
        CORRECT = "correct", "Corrected"

    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="review_decisions"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    note = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["assignment", "created"], name="review_assignment_created")]

    def __str__(self) -> str:
        return f"{self.action} of assignment {self.assignment_id}"


class ReviewCorrection(models.Model):
    """A reviewer's label for a step of a solution. It wins in consensus; the annotators'
    own StepRatings stay untouched, so both labels are kept. The newest one counts."""

    solution = models.ForeignKey(Solution, on_delete=models.CASCADE, related_name="corrections")
    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="corrections")
    rating = models.SmallIntegerField(choices=[(1, "Great"), (0, "Okay"), (-1, "Bad")])
    decision = models.ForeignKey(
        ReviewDecision, on_delete=models.CASCADE, related_name="corrections"
    )
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["solution", "node", "id"], name="correction_solution_node")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(rating__in=[-1, 0, 1]), name="correction_rating_range"
            ),
        ]
