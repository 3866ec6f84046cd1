from django.db import models

from .problems import StepNode


class PreAnnotation(models.Model):
    """A machine estimate for a step: an auto-label or a PRM score. Never a human rating."""

    class Kind(models.TextChoices):
        MC_SOFT = "mc_soft", "Monte Carlo soft estimate"
        MC_HARD = "mc_hard", "Monte Carlo hard estimate"
        BINARY_SEARCH = "binary_search", "Binary-search first error"
        PRM_SCORE = "prm_score", "PRM score"
        IMPORTED = "imported", "Imported machine label"
        EXACT = "exact", "Exact checker"

    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="pre_annotations")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    source = models.CharField(
        max_length=200, help_text="What produced it: a model path, run id or file name."
    )
    value = models.FloatField(help_text="Probability the step is good, in [0, 1].")
    provenance = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(
        "workers.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["node", "kind", "source"], name="preannotation_unique_source"
            ),
        ]
