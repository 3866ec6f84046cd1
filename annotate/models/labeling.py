from django.conf import settings
from django.db import models
from django.db.models import Q

from .problems import Solution, StepNode
from .projects import Project


class Assignment(models.Model):
    """One annotator's work on one solution, held under a lease while active."""

    class Status(models.TextChoices):
        ACTIVE = "active", "In progress"
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Lease expired"

    class FinishReason(models.TextChoices):
        SOLUTION = "solution", "Reached a solution"
        FOUND_ERROR = "found_error", "Found an error"
        GIVE_UP = "give_up", "Gave up"
        BAD_PROBLEM = "bad_problem", "Bad problem"

    class Source(models.TextChoices):
        LABELING = "labeling", "Labeled in Stepwise"
        IMPORT = "import", "Imported"

    # project, solution and created come first in composite indexes below, so need none of their own.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments",
                                db_index=False)
    solution = models.ForeignKey(Solution, on_delete=models.CASCADE, related_name="assignments",
                                 db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.LABELING)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    finish_reason = models.CharField(
        max_length=12, choices=FinishReason.choices, blank=True, default=""
    )
    finish_note = models.TextField(blank=True, help_text="Why a problem is bad, for bad_problem.")
    total_time_ms = models.PositiveBigIntegerField(null=True, blank=True)
    # PRM800K record fields, kept so that an export gives the record back.
    generation = models.IntegerField(null=True, blank=True)
    is_quality_control = models.BooleanField(default=False)
    is_screening = models.BooleanField(default=False)
    labeled_at = models.DateTimeField(null=True, blank=True)
    # Verify mode: the machine source whose verdicts this task showed ("" when none: rating
    # from scratch, or a blind task of a verify-mode project). Drawn when the task is made.
    shown_source = models.CharField(max_length=200, blank=True, default="")
    # Which candidates were shown at each position, in order, and which one was
    # continued from: [{"candidates": [node_id, ...], "chosen": i|None, "human": node_id|None}].
    presentation = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["solution", "annotator"], name="assignment_unique_annotator"
            ),
            # One task in hand per annotator and project, even under concurrent requests.
            models.UniqueConstraint(
                fields=["project", "annotator"], condition=Q(status="active"),
                name="assignment_one_active_per_annotator",
            ),
        ]
        indexes = [
            models.Index(fields=["created", "id"], name="assignment_created_id"),
            models.Index(fields=["solution", "status"], name="assignment_solution_status"),
            models.Index(fields=["project", "status"], name="assignment_project_status"),
        ]

    def __str__(self) -> str:
        return f"Assignment {self.pk} ({self.status})"


class StepRating(models.Model):
    """A human rating of one node within one assignment. ``rating`` None means not rated yet."""

    class Value(models.IntegerChoices):
        GREAT = 1, "Great"
        OKAY = 0, "Okay"
        BAD = -1, "Bad"

    # (assignment, node) and (created, id) serve lookups by assignment and by created.
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="ratings",
                                   db_index=False)
    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="ratings")
    rating = models.SmallIntegerField(choices=Value.choices, null=True, blank=True)
    flagged = models.BooleanField(null=True, blank=True, help_text="Marked unsure.")
    time_spent_ms = models.PositiveBigIntegerField(null=True, blank=True)
    # Verify mode's provenance: the machine verdict shown pre-selected when the step was
    # first rated, {"source": spec, "version": {...}, "rating": -1/0/1 or None}; NULL when
    # none was shown. Whether the person changed it: ``rating != shown["rating"]``.
    shown = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    @property
    def changed_from_shown(self) -> bool | None:
        if not self.shown:
            return None
        return self.rating != self.shown.get("rating")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "node"], name="steprating_unique_node"),
            models.CheckConstraint(
                condition=Q(rating__isnull=True) | Q(rating__in=[-1, 0, 1]),
                name="steprating_rating_range",
            ),
        ]
        indexes = [
            models.Index(fields=["created", "id"], name="steprating_created_id"),
            models.Index(fields=["updated", "id"], name="steprating_updated_id"),
        ]

    def __str__(self) -> str:
        return f"{self.node_id}: {self.rating}"


class RatingChange(models.Model):
    """Audit log of label changes: who changed which rating, when, from what to what."""

    rating = models.ForeignKey(StepRating, on_delete=models.CASCADE, related_name="changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    old_rating = models.SmallIntegerField(null=True, blank=True)
    new_rating = models.SmallIntegerField(null=True, blank=True)
    old_flagged = models.BooleanField(null=True, blank=True)
    new_flagged = models.BooleanField(null=True, blank=True)
    reason = models.CharField(max_length=40, default="annotator", help_text="annotator, review, ...")
    batch = models.BigIntegerField(
        null=True, blank=True,
        help_text="Changes one action wrote together (a section rated at once, machine verdicts "
                  "accepted) share it: undo takes them back together.")
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created", "id"]


class GoldLabel(models.Model):
    """The answer key of a gold (quality-control) solution: the expected rating of a step."""

    solution = models.ForeignKey(Solution, on_delete=models.CASCADE, related_name="gold_labels")
    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="gold_labels")
    rating = models.SmallIntegerField(choices=StepRating.Value.choices)
    source = models.CharField(max_length=200, blank=True, help_text="Import file or reviewer.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["solution", "node"], name="goldlabel_unique_node"),
        ]
