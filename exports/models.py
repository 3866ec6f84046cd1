from django.conf import settings
from django.db import models


class ExportSnapshot(models.Model):
    """An immutable, versioned export: what was asked (filters, format), what came out
    (files with row counts and content hashes), who asked and when.

    Once ``ready``, a snapshot never changes: ``save`` refuses, and the builder only
    writes through ``update`` while the snapshot is pending or building.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        BUILDING = "building", "Building"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField()
    format = models.CharField(max_length=20)
    filters = models.JSONField(default=dict, blank=True)
    options = models.JSONField(default=dict, blank=True)
    projects = models.ManyToManyField("annotate.Project", related_name="export_snapshots")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    run = models.ForeignKey(
        "workers.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # {"train": {"path": ..., "rows": n, "steps": n, "bytes": n, "sha256": ...}, ...}
    files = models.JSONField(default=dict, blank=True)
    row_count = models.PositiveBigIntegerField(default=0)
    step_count = models.PositiveBigIntegerField(default=0)
    content_hash = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="exportsnapshot_name_version"),
        ]
        indexes = [models.Index(fields=["created", "id"], name="exportsnapshot_created_id")]

    def __str__(self) -> str:
        return f"{self.name} v{self.version} ({self.format}, {self.status})"

    def save(self, *args, **kwargs):
        if self.pk and ExportSnapshot.objects.filter(pk=self.pk, status=self.Status.READY).exists():
            raise ValueError("A ready export snapshot is immutable.")
        super().save(*args, **kwargs)
