from django.db import models
from django.db.models import F, Q

from .problems import Solution


class SolutionTrace(models.Model):
    """The source text a solution's steps were cut from (a long chain of thought), and where
    each step lies in it, so an export can give the text back exactly and a re-segmentation
    can carry labels onto the new steps. Kept apart from ``Solution`` so that the queue and
    exports never load a 30k-character text they do not ask for.
    """

    solution = models.OneToOneField(
        Solution, on_delete=models.CASCADE, primary_key=True, related_name="trace"
    )
    text = models.TextField(help_text="The source text as imported, unchanged.")
    spans = models.JSONField(
        default=list, blank=True,
        help_text="[start, end) character offsets into text, one pair per step position.")
    segmentation = models.JSONField(
        default=dict, blank=True, help_text="The strategy and options that cut the steps.")
    metadata = models.JSONField(
        default=dict, blank=True,
        help_text="The record's other fields as imported (format-specific), for exports.")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Trace of solution {self.solution_id} ({len(self.spans)} steps)"


class StepGroup(models.Model):
    """A run of consecutive steps of one solution that is described and rated as a unit
    (a DeltaBench section). Rating a group rates each of its steps; the group keeps its
    description and the labels it was imported with."""

    solution = models.ForeignKey(Solution, on_delete=models.CASCADE, related_name="step_groups")
    index = models.PositiveIntegerField(help_text="0 for the first group of the solution.")
    start = models.PositiveIntegerField(help_text="Position of the group's first step (0-based).")
    end = models.PositiveIntegerField(help_text="One past the position of its last step.")
    title = models.CharField(max_length=500, blank=True, default="")
    metadata = models.JSONField(
        default=dict, blank=True, help_text="The group's imported labels and notes.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["solution", "index"], name="stepgroup_unique_index"),
            models.CheckConstraint(condition=Q(end__gt=F("start")), name="stepgroup_nonempty"),
        ]
        ordering = ["solution", "index"]

    def __str__(self) -> str:
        return f"Group {self.index} [{self.start}, {self.end}) of solution {self.solution_id}"
