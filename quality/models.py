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


class Certification(models.Model):
    """A contract ("at most max_error wrong at confidence") for a machine label source, the
    uniform sample of its labeled steps drawn for it, and the verdict against human labels
    (docs/labels.md, "Certification")."""

    class Status(models.TextChoices):
        SAMPLING = "sampling", "Sampling"
        CERTIFIED = "certified", "Certified"
        REFUSED = "refused", "Refused"
        VOID = "void", "Void"

    class Method(models.TextChoices):
        EXACT = "exact", "Clopper-Pearson (exact)"
        WILSON = "wilson", "Wilson score"

    project = models.ForeignKey("annotate.Project", on_delete=models.CASCADE,
                                related_name="certifications")
    source = models.CharField(max_length=200)
    # The PreAnnotation rows that are this source's hints: kind, and source name ("" = all).
    hint_kind = models.CharField(max_length=20)
    hint_source = models.CharField(max_length=200, blank=True)
    max_error = models.FloatField()
    confidence = models.FloatField()
    method = models.CharField(max_length=10, choices=Method.choices, default=Method.EXACT)
    anticipated_error = models.FloatField(default=0.0)
    sample_size = models.PositiveIntegerField()
    source_version = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField()
    sample = models.JSONField(default=list, blank=True)  # [[solution id, position], ...]
    population = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SAMPLING)
    labeled = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(null=True, blank=True)
    error_rate = models.FloatField(null=True, blank=True)
    upper = models.FloatField(null=True, blank=True)
    interval_low = models.FloatField(null=True, blank=True)
    interval_high = models.FloatField(null=True, blank=True)
    void_reason = models.TextField(blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["project", "status"], name="certification_project_status")]

    def __str__(self) -> str:
        return f"certification {self.pk} of {self.source} ({self.status})"


class CertificationStep(models.Model):
    """One sampled step: the queue serves its solution first, blind to the source."""

    certification = models.ForeignKey(Certification, on_delete=models.CASCADE,
                                      related_name="steps")
    solution = models.ForeignKey(Solution, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField()

    class Meta:
        indexes = [models.Index(fields=["solution", "certification"],
                                name="certstep_solution")]
        constraints = [models.UniqueConstraint(fields=["certification", "solution", "position"],
                                               name="certstep_unique")]
