from django.db import models

from .problems import StepNode


class PreAnnotation(models.Model):
    """A machine label for a step: an auto-label, a PRM score, an LLM judge's or an imported
    label. Never a human rating.

    ``value`` is P(good) in [0, 1]; ``rating`` is the discrete label (-1/0/+1) where the source
    gives one (judges, imported machine labels; NULL for scores, and for a judge's answer that
    could not be parsed, which ``provenance["unparsed"]`` marks); ``reason`` is the critique.
    ``scope`` is 0 for a label of the step in any solution, or the solution whose context the
    label was given in: a step shared by two trajectories may be judged differently in each.
    Label sources and their names: docs/labels.md.
    """

    class Kind(models.TextChoices):
        MC_SOFT = "mc_soft", "Monte Carlo soft estimate"
        MC_HARD = "mc_hard", "Monte Carlo hard estimate"
        BINARY_SEARCH = "binary_search", "Binary-search first error"
        PRM_SCORE = "prm_score", "PRM score"
        IMPORTED = "imported", "Imported machine label"
        EXACT = "exact", "Exact checker"
        JUDGE = "judge", "LLM judge"

    node = models.ForeignKey(StepNode, on_delete=models.CASCADE, related_name="pre_annotations")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    source = models.CharField(
        max_length=200, help_text="What produced it: a model path, run id or file name."
    )
    value = models.FloatField(help_text="Probability the step is good, in [0, 1].")
    rating = models.SmallIntegerField(
        null=True, blank=True, choices=[(-1, "Bad"), (0, "Okay"), (1, "Great")],
        help_text="The discrete label where the source gives one; NULL for a score or an "
                  "unparsed judge answer.")
    reason = models.TextField(blank=True, default="", help_text="The source's critique.")
    scope = models.PositiveBigIntegerField(
        default=0, help_text="0: a label of the step wherever it appears; else the id of the "
        "solution whose context it was given in (a judge that read the whole trajectory).")
    provenance = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(
        "workers.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["node", "kind", "source", "scope"], name="preannotation_unique_source_scope"
            ),
        ]
