"""What a search Run found: one row per problem, strategy and budget, and the searched
solutions with the PRM's view of them (the queue offers the ones it got most wrong)."""

from django.db import models


class SearchResult(models.Model):
    """One strategy's answer to one problem at one budget, graded, with its compute."""

    run = models.ForeignKey("workers.Run", on_delete=models.CASCADE, related_name="+")
    prm_model = models.ForeignKey(
        "training.PrmModel", on_delete=models.CASCADE, related_name="search_results"
    )
    problem = models.ForeignKey("annotate.Problem", on_delete=models.CASCADE, related_name="+")
    strategy = models.CharField(max_length=30)
    budget = models.PositiveIntegerField(help_text="Samples, or candidates per step for beam search.")
    config = models.JSONField(default=dict, blank=True)
    answer = models.TextField(blank=True)
    is_correct = models.BooleanField()
    generated_tokens = models.PositiveIntegerField()
    prm_tokens = models.PositiveIntegerField()
    solution = models.ForeignKey(
        "annotate.Solution", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "problem", "strategy", "budget"],
                                    name="searchresult_unique_point"),
        ]
        indexes = [models.Index(fields=["prm_model", "run"], name="searchresult_model_run")]


class SearchedSolution(models.Model):
    """A complete solution a search explored, as its PRM saw it.

    ``score`` is the aggregated PRM score; ``margin`` the smallest gap, along the path,
    between a step's score and its closest scored sibling's (None without siblings): how
    unsure the PRM was where it had to choose.
    """

    run = models.ForeignKey("workers.Run", on_delete=models.CASCADE, related_name="+")
    prm_model = models.ForeignKey("training.PrmModel", on_delete=models.CASCADE, related_name="+")
    solution = models.ForeignKey(
        "annotate.Solution", on_delete=models.CASCADE, related_name="searches"
    )
    score = models.FloatField(null=True)
    margin = models.FloatField(null=True)
    is_correct = models.BooleanField(null=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "solution"], name="searchedsolution_unique"),
        ]
