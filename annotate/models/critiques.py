from django.conf import settings
from django.db import models
from django.db.models import Q

from .labeling import Assignment
from .problems import StepNode


class Critique(models.Model):
    """A written reason about one step (node) in one solution's context: why the step is
    right or wrong, by the annotator of an assignment, and optionally the corrected step
    (a human StepNode at the same position: a sibling of ``node``, PRM800K's own step).

    ``origin`` says how the text came about: written by the person, or, where a machine's
    reason was shown (``machine_source`` names it, ``shown_text`` is what was shown),
    accepted as it was, edited, or replaced. A reviewer's correction keeps the annotator's
    text in ``annotator_text``.
    """

    class Origin(models.TextChoices):
        WRITTEN = "written", "Written"
        ACCEPTED = "accepted", "Machine reason accepted"
        EDITED = "edited", "Machine reason edited"
        REPLACED = "replaced", "Machine reason replaced"

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="critiques",
                                   db_index=False)  # (assignment, node) below indexes it
    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="critiques")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                               related_name="+")
    text = models.TextField(help_text="Markdown and LaTeX, rendered like steps.")
    origin = models.CharField(max_length=10, choices=Origin.choices, default=Origin.WRITTEN)
    machine_source = models.CharField(
        max_length=200, blank=True, default="",
        help_text="The machine reason's source spec (judge:<name>, imported:<name>) when one "
                  "was shown.")
    shown_text = models.TextField(blank=True, default="", help_text="The machine reason shown.")
    correction = models.ForeignKey(
        StepNode, null=True, blank=True, on_delete=models.SET_NULL, related_name="corrects",
        help_text="The corrected step: a human node at the same position.")
    annotator_text = models.TextField(
        blank=True, default="", help_text="The annotator's text, kept when a reviewer corrects it.")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "node"], name="critique_unique_node"),
            models.CheckConstraint(
                condition=Q(origin="written", machine_source="") | ~Q(origin="written"),
                name="critique_written_has_no_machine_source"),
        ]

    def __str__(self) -> str:
        return f"Critique of {self.node_id} in {self.assignment_id} ({self.origin})"
