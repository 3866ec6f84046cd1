"""A trained process reward model and the solution-level scores it gave."""

from django.conf import settings
from django.db import models

# A blank line: the generator's default (generation/config.py) and the solutions import's.
DEFAULT_STEP_DELIMITER = "\n\n"


class PrmModel(models.Model):
    """One training of a PRM: what went in, where the artefacts are, how it scored."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        TRAINING = "training", "Training"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(
        "annotate.Project", on_delete=models.CASCADE, related_name="prm_models"
    )
    name = models.CharField(max_length=120)
    base_model = models.CharField(max_length=500, help_text="Local path or hub id of the base.")
    artifact_path = models.CharField(max_length=1000, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    hyperparameters = models.JSONField(default=dict, blank=True)
    data_source = models.JSONField(
        default=dict, blank=True, help_text='{"kind": "project"} or {"kind": "snapshot", "path": ...}'
    )
    # Live during training: [{"step", "epoch", "train_loss", "val_loss"?}, ...]
    curve = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    model_card = models.JSONField(default=dict, blank=True)
    run = models.ForeignKey(
        "workers.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="prmmodel_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def step_delimiter(self) -> str:
        """The delimiter the training data's solution text was split by (card, then
        hyperparameters), so the reward service splits responses the same way."""
        for source in (self.model_card or {}, self.hyperparameters or {}):
            value = source.get("step_delimiter") if isinstance(source, dict) else None
            if isinstance(value, str) and value:
                return value
        return DEFAULT_STEP_DELIMITER


class SolutionScore(models.Model):
    """A PRM's aggregate scores for a whole solution; per-step scores are PreAnnotations."""

    prm_model = models.ForeignKey(PrmModel, on_delete=models.CASCADE, related_name="scores")
    solution = models.ForeignKey(
        "annotate.Solution", on_delete=models.CASCADE, related_name="prm_scores"
    )
    step_scores = models.JSONField(default=list)
    min_score = models.FloatField()
    product_score = models.FloatField()
    last_score = models.FloatField()
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prm_model", "solution"], name="solutionscore_unique_solution"
            ),
        ]
        indexes = [models.Index(fields=["prm_model", "-min_score"], name="solutionscore_rank")]
