"""The dispatcher: sends Runs the broker never got, and hands back Runs whose worker died.

Every Celery worker runs it in a thread (started on ``worker_ready``), so work resumes as
soon as any worker and the broker are up. Rows are claimed with ``SKIP LOCKED``, so two
dispatchers never send the same Run twice; the task's own claim (``workers.runs._claim``)
makes a duplicate message harmless anyway.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from .models import Run
from .runs import broker_errors, publish, settled, stale_before, stamp
from .sentinel import broker_lost_its_queue

logger = logging.getLogger(__name__)

BATCH = 100


def requeue_stale() -> list[int]:
    """Runs whose worker stopped beating go back to the queue as a new attempt; those that
    were asked to stop end cancelled. Returns the ids handed back."""
    cutoff = stale_before()
    handed_back: list[int] = []
    with transaction.atomic():
        stale = list(
            Run.objects.select_for_update(skip_locked=True)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff),
                    status=Run.Status.RUNNING)
            .values_list("pk", "cancel_requested", "worker", "kind")[:BATCH]
        )
        for pk, cancelled, worker, kind in stale:
            if cancelled:
                Run.objects.filter(pk=pk).update(
                    status=Run.Status.CANCELLED, finished_at=timezone.now(), heartbeat_at=None,
                    log=stamp(f"cancelled; its worker {worker or '?'} had stopped answering"))
                settled(pk, kind, Run.Status.CANCELLED)
                continue
            Run.objects.filter(pk=pk).update(
                status=Run.Status.QUEUED, dispatch=F("dispatch") + 1, published_at=None,
                heartbeat_at=None,
                log=stamp(f"worker {worker or '?'} stopped answering; queued again"))
            handed_back.append(pk)
    for pk in handed_back:
        logger.warning("run %s: its worker stopped answering; queued again", pk)
    return handed_back


def send_unpublished(*, lost_before=None) -> int:
    """Publish queued Runs that never reached the broker, and again those sent that never
    started: all those sent before ``lost_before`` (when the broker lost its queue), else
    those sent long ago (a lost message nothing else noticed). The task's claim makes a
    second copy harmless. Stops at the first broker error."""
    now = timezone.now()
    grace = now - timedelta(seconds=settings.RUN_PUBLISH_GRACE_SECONDS)
    long_ago = now - timedelta(seconds=settings.RUN_REPUBLISH_SECONDS)
    sent_before = Q(published_at__lt=lost_before or long_ago)
    sent = 0
    with transaction.atomic():
        runs = list(
            Run.objects.select_for_update(skip_locked=True)
            .filter(Q(published_at__isnull=True, created__lt=grace)
                    | Q(published_at__isnull=True, dispatch__gt=1)
                    | sent_before,
                    status=Run.Status.QUEUED, cancel_requested=False)
            .order_by("created", "id")[:BATCH]
        )
        for run in runs:
            if not publish(run):
                break
            sent += 1
    if sent:
        logger.info("dispatcher: sent %s queued run(s) to the broker", sent)
    return sent


_lost_before = None  # set when the broker lost its queue, until those Runs were sent again


def sweep() -> tuple[list[int], int]:
    global _lost_before
    handed_back = requeue_stale()
    if broker_lost_its_queue():
        _lost_before = timezone.now()
    sent = batch = send_unpublished(lost_before=_lost_before)
    while batch == BATCH and _lost_before is not None:
        batch = send_unpublished(lost_before=_lost_before)
        sent += batch
    _lost_before = None
    return handed_back, sent


class Dispatcher(threading.Thread):
    """Sweeps every ``RUN_SWEEP_SECONDS`` until stopped; a failed pass is logged and retried."""

    def __init__(self):
        super().__init__(name="run-dispatcher", daemon=True)
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(settings.RUN_SWEEP_SECONDS):
            try:
                close_old_connections()
                sweep()
            except (DatabaseError, *broker_errors()) as exc:
                logger.warning("dispatcher: pass skipped (%s: %s)", type(exc).__name__, exc)

    def stop(self) -> None:
        self.stopped.set()


_dispatcher: Dispatcher | None = None


def start_dispatcher(**_signal_kwargs) -> None:
    """``worker_ready`` handler: one dispatcher thread per worker process."""
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = Dispatcher()
        _dispatcher.start()


def stop_dispatcher(**_signal_kwargs) -> None:
    if _dispatcher is not None:
        _dispatcher.stop()
