import hashlib

from django.conf import settings
from django.db import models
from django.db.models import Q

from .projects import Project


def content_hash(text: str) -> str:
    """Identity of a text for de-duplication: exact content, hashed so it can be indexed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class Problem(models.Model):
    # Indexes: (project, statement_hash) starts with project and (created, id) with created, so
    # neither column gets an index of its own; each extra index slows every bulk import.
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="problems",
                                db_index=False)
    external_id = models.CharField(max_length=200, blank=True, default="")
    statement = models.TextField()
    statement_hash = models.CharField(max_length=64, editable=False)
    ground_truth_answer = models.TextField(blank=True)
    reference_solution = models.TextField(blank=True)
    subject = models.CharField(max_length=100, blank=True)
    level = models.PositiveSmallIntegerField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"], condition=~Q(external_id=""),
                name="problem_unique_external_id",
            ),
            models.UniqueConstraint(
                fields=["project", "statement_hash"], name="problem_unique_statement"
            ),
        ]
        indexes = [models.Index(fields=["created", "id"], name="problem_created_id")]

    def save(self, *args, **kwargs):
        self.statement_hash = content_hash(self.statement)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.external_id or self.statement[:60]


class StepNode(models.Model):
    """One reasoning step in a problem's tree; siblings are alternative candidates.

    A node's identity is (problem, parent, text): the database enforces it, so
    re-importing or re-generating the same step never creates a duplicate.
    """

    class Author(models.TextChoices):
        IMPORT = "import", "Imported"
        MODEL = "model", "Model"
        HUMAN = "human", "Human"

    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="nodes")
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    depth = models.PositiveIntegerField(help_text="0 for a first step.")
    text = models.TextField()
    text_hash = models.CharField(max_length=64, editable=False)
    author = models.CharField(max_length=10, choices=Author.choices, default=Author.IMPORT)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    generator = models.JSONField(
        default=dict, blank=True, help_text="Model name and sampling settings, for model steps."
    )
    created = models.DateTimeField(auto_now_add=True)  # (created, id) below indexes it

    class Meta:
        constraints = [
            # Two partial constraints, because NULL parents never collide in a plain one.
            models.UniqueConstraint(
                fields=["problem", "parent", "text_hash"], condition=Q(parent__isnull=False),
                name="stepnode_unique_child",
            ),
            models.UniqueConstraint(
                fields=["problem", "text_hash"], condition=Q(parent__isnull=True),
                name="stepnode_unique_root",
            ),
        ]
        indexes = [models.Index(fields=["created", "id"], name="stepnode_created_id")]

    def save(self, *args, **kwargs):
        self.text_hash = content_hash(self.text)
        if self.depth is None:
            self.depth = 0 if self.parent_id is None else self.parent.depth + 1
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"[{self.depth}] {self.text[:60]}"


class Solution(models.Model):
    """A root-to-leaf path through a problem's step tree, ending at ``last_step``."""

    class Source(models.TextChoices):
        IMPORT = "import", "Imported"
        MODEL = "model", "Model"
        HUMAN = "human", "Human"

    # The project is the problem's; kept here so the queue can index (project, id) directly
    # (that index serves project lookups too, as (created, id) serves created).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="solutions",
                                db_index=False)
    problem = models.ForeignKey(Problem, on_delete=models.CASCADE, related_name="solutions")
    last_step = models.OneToOneField(StepNode, on_delete=models.CASCADE, related_name="solution")
    final_answer = models.TextField(blank=True)
    is_correct = models.BooleanField(null=True, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.IMPORT)
    external_id = models.CharField(max_length=200, blank=True, default="")
    is_gold = models.BooleanField(
        default=False, help_text="A quality-control item with known step labels."
    )
    metadata = models.JSONField(default=dict, blank=True)
    trajectory = models.JSONField(
        default=dict, blank=True,
        help_text="An agent trajectory's record as imported, less its labels (which are "
                  "StepRatings): messages, the assistant turn each step is, the other fields.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["created", "id"], name="solution_created_id"),
            models.Index(fields=["project", "id"], name="solution_project_id"),
        ]

    def save(self, *args, **kwargs):
        if self.project_id is None:
            self.project_id = self.problem.project_id
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return f"Solution {self.pk} of {self.problem_id}"
