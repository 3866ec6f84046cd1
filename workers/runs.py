"""Runs: worker jobs recorded in the database.

``run_task`` turns a function ``fn(ctx, **params)`` into a Celery task that takes
only a Run id. ``start_run`` creates the Run and enqueues the task once the
transaction commits, so a worker never looks for a row that is not there yet.
Cancellation is a flag on the Run that ``ctx.progress`` and ``ctx.check_cancelled``
honour, so it stops work on any broker.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from celery import current_app, shared_task
from django.db import OperationalError, close_old_connections, transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from .models import Run

logger = logging.getLogger(__name__)

#: kind -> Celery task, filled by @run_task.
RUN_KINDS: dict[str, Any] = {}


class RunCancelled(Exception):
    """Raised inside a run when someone asked it to stop."""


class RunFailure(Exception):
    """An expected failure. ``reason`` is short and safe to show anyone the Run affects (an
    annotator waiting for candidates); the message is the full error, for admins."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


class RunContext:
    """What a run's function uses to report progress and to notice cancellation."""

    def __init__(self, run: Run):
        self.run = run

    @property
    def run_id(self) -> int:
        return self.run.pk

    def log(self, message: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        Run.objects.filter(pk=self.run.pk).update(
            log=Concat(F("log"), Value(f"[{stamp}] {message}\n"))
        )
        logger.info("run %s: %s", self.run.pk, message)

    def progress(self, done: int, total: int | None = None) -> None:
        fields: dict[str, Any] = {"progress_done": done}
        if total is not None:
            fields["progress_total"] = total
        Run.objects.filter(pk=self.run.pk).update(**fields)
        self.check_cancelled()

    def check_cancelled(self) -> None:
        if Run.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise RunCancelled()


def _finish(run_id: int, status: str, **fields: Any) -> None:
    Run.objects.filter(pk=run_id).update(status=status, finished_at=timezone.now(), **fields)


def run_task(kind: str, *, queue: str = "default", soft_time_limit: int = 3600,
             max_retries: int = 3) -> Callable:
    """Register ``fn(ctx, **params) -> dict`` as the task behind runs of ``kind``."""

    prefix = "gpu" if queue == "gpu" else "stepwise"

    def decorator(fn: Callable[..., dict | None]):
        @shared_task(
            name=f"{prefix}.run.{kind}", bind=True, acks_late=True,
            soft_time_limit=soft_time_limit, time_limit=soft_time_limit + 60,
            autoretry_for=(OperationalError,), retry_backoff=True, max_retries=max_retries,
        )
        def task(self, run_id: int):
            close_old_connections()
            run = Run.objects.filter(pk=run_id).first()
            if run is None or run.is_finished:
                # Deleted, or a redelivery of a run that already ended: nothing to do.
                return
            if run.cancel_requested:
                _finish(run_id, Run.Status.CANCELLED)
                return
            Run.objects.filter(pk=run_id).update(
                status=Run.Status.RUNNING, started_at=run.started_at or timezone.now(),
                attempts=F("attempts") + 1, celery_task_id=self.request.id or "",
            )
            ctx = RunContext(run)
            try:
                result = fn(ctx, **run.params) or {}
            except RunCancelled:
                ctx.log("cancelled")
                _finish(run_id, Run.Status.CANCELLED)
            except OperationalError:
                if self.request.retries < max_retries:
                    raise  # autoretry: the database blinked
                _finish(run_id, Run.Status.FAILED, error=traceback.format_exc(limit=5))
            except Exception as exc:  # recorded on the Run, which is what the UI shows
                logger.exception("run %s failed", run_id)
                _finish(run_id, Run.Status.FAILED,
                        error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}",
                        reason=exc.reason if isinstance(exc, RunFailure) else "")
            else:
                _finish(run_id, Run.Status.SUCCEEDED, result=result)

        task.run_kind = kind
        RUN_KINDS[kind] = task
        fn.task = task
        return fn

    return decorator


def start_run(kind: str, params: dict | None = None, *, project=None, user=None) -> Run:
    """Create a Run and enqueue its task when the current transaction commits."""
    if kind not in RUN_KINDS:
        # Run kinds live in each app's tasks module; the web process imports them lazily.
        current_app.loader.import_default_modules()
    if kind not in RUN_KINDS:
        raise ValueError(f"Unknown run kind '{kind}'. Known: {', '.join(sorted(RUN_KINDS))}.")
    run = Run.objects.create(
        kind=kind, params=params or {}, project=project,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    task = RUN_KINDS[kind]
    transaction.on_commit(lambda: task.apply_async(args=[run.pk]))
    return run


def cancel_run(run: Run) -> Run:
    """Ask a run to stop. A queued run ends at once; a running one at its next check."""
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(cancel_requested=True)
        Run.objects.filter(pk=run.pk, status=Run.Status.QUEUED).update(
            status=Run.Status.CANCELLED, finished_at=timezone.now()
        )
    run.refresh_from_db()
    return run
