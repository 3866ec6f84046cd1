from django.conf import settings
from django.db import models


class Run(models.Model):
    """A worker job: what it does, how far it got, and how it ended. The UI polls it."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    kind = models.CharField(max_length=40, db_index=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # A short cause that anyone affected may read (no paths, no traceback); ``error`` is
    # the full story, for admins.
    reason = models.CharField(max_length=300, blank=True)
    result = models.JSONField(default=dict, blank=True)
    project = models.ForeignKey(
        "annotate.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="runs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    celery_task_id = models.CharField(max_length=64, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The outbox: ``dispatch`` numbers the message allowed to execute the Run (a sweep that
    # hands a dead worker's Run back raises it, so the old message does nothing);
    # ``published_at`` is when that message reached the broker (None: not yet).
    dispatch = models.PositiveIntegerField(default=1)
    published_at = models.DateTimeField(null=True, blank=True)
    # The executing worker beats while the Run is running; a stale beat means it died.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["created", "id"], name="run_created_id")]

    def __str__(self) -> str:
        return f"{self.kind} run {self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def notice(self) -> str:
        """What a person waiting on this Run should know, beyond its status."""
        if self.status == self.Status.QUEUED and self.published_at is None:
            again = " again" if self.dispatch > 1 else ""
            return (f"The job is queued{again}; the work queue is unreachable and it will "
                    "start when it returns.")
        if self.status == self.Status.QUEUED and self.dispatch > 1:
            return f"The worker stopped answering; the job is queued again (attempt {self.dispatch})."
        return ""

    @property
    def progress_fraction(self) -> float:
        if not self.progress_total:
            return 1.0 if self.status == self.Status.SUCCEEDED else 0.0
        return min(1.0, self.progress_done / self.progress_total)

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at
        if end is None:
            from django.utils import timezone

            end = timezone.now()
        return (end - self.started_at).total_seconds()
