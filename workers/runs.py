"""Runs: worker jobs recorded in the database.

``run_task`` turns a function ``fn(ctx, **params)`` into a Celery task that takes a Run id
and the Run's dispatch number. ``start_run`` creates the Run and hands it to the broker once
the transaction commits, so a worker never looks for a row that is not there yet. A Run is
its own outbox: when the broker is unreachable it stays queued and unpublished, and the
dispatcher (``workers.dispatch``) sends it when the broker returns.

While a Run executes, a heartbeat thread stamps it; a Run whose worker stopped beating is
handed back to the queue under a new dispatch number, so the message it had does nothing
when it comes back. Cancellation is a flag on the Run that ``ctx.progress`` and
``ctx.check_cancelled`` honour, so it stops work on any broker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from celery import current_app, shared_task
from django.conf import settings
from django.db import (
    DatabaseError,
    InterfaceError,
    OperationalError,
    close_old_connections,
    connection,
    transaction,
)
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from outbound.redact import redact

from .failures import public_reason
from .models import Run

logger = logging.getLogger(__name__)

#: kind -> Celery task, filled by @run_task.
RUN_KINDS: dict[str, Any] = {}

#: kind -> callbacks ``fn(run_id, status)`` run when a Run of that kind ends failed or
#: cancelled, wherever that happens: in its task, by ``cancel_run`` while nobody runs it, or
#: by the dispatcher's sweep after its worker died. Apps register in ``AppConfig.ready()``
#: (``on_settle``) to settle what the Run left half-done (a model left "training").
SETTLE_HOOKS: dict[str, list[Callable[[int, str], None]]] = {}


def on_settle(kind: str) -> Callable:
    def decorator(fn: Callable[[int, str], None]):
        SETTLE_HOOKS.setdefault(kind, []).append(fn)
        return fn

    return decorator


def settled(run_id: int, kind: str, status: str) -> None:
    """Run the kind's settle hooks once the current transaction commits; a failing hook is
    logged, never raised into the code that ended the Run."""
    if status not in (Run.Status.FAILED, Run.Status.CANCELLED):
        return

    def call():
        for hook in SETTLE_HOOKS.get(kind, ()):
            try:
                hook(run_id, status)
            except Exception:
                logger.exception("run %s: settle hook %s failed", run_id, hook.__name__)

    transaction.on_commit(call)


def this_worker() -> str:
    """"host:pid" of this process (read at claim time: prefork children have their own pid)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RunCancelled(Exception):
    """Raised inside a run when someone asked it to stop."""


class RunSuperseded(Exception):
    """Raised inside a run whose Run was handed to another attempt (its beat had lapsed)."""


class RunFailure(Exception):
    """An expected failure. ``reason`` is short and safe to show anyone the Run affects (an
    annotator waiting for candidates); the message is the full error, for admins."""

    def __init__(self, message: str, *, reason: str):
        super().__init__(message)
        self.reason = reason


def stamp(message: str) -> Concat:
    """An expression that appends a time-stamped line to a Run's log."""
    return Concat(F("log"), Value(f"[{timezone.now():%H:%M:%S}] {message}\n"))


class RunContext:
    """What a run's function uses to report progress and to notice cancellation."""

    def __init__(self, run: Run):
        self.run = run
        self.superseded = threading.Event()

    @property
    def run_id(self) -> int:
        return self.run.pk

    def log(self, message: str) -> None:
        Run.objects.filter(pk=self.run.pk).update(log=stamp(message))
        logger.info("run %s: %s", self.run.pk, message)

    def progress(self, done: int, total: int | None = None) -> None:
        fields: dict[str, Any] = {"progress_done": done}
        if total is not None:
            fields["progress_total"] = total
        Run.objects.filter(pk=self.run.pk).update(**fields)
        self.check_cancelled()

    def check_cancelled(self) -> None:
        if self.superseded.is_set():
            raise RunSuperseded()
        if Run.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise RunCancelled()


class Heartbeat:
    """Stamps ``heartbeat_at`` every few seconds from a thread while the run executes.

    The thread has its own database connection. When the stamp finds the Run no longer
    running under this dispatch (a sweep handed it on), it flags the context so the run
    stops at its next check instead of racing the new attempt.
    """

    def __init__(self, ctx: RunContext, dispatch: int):
        self.ctx, self.dispatch = ctx, dispatch
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"run-{ctx.run_id}-beat",
                                       daemon=True)

    def _beat(self) -> None:
        try:
            while not self.stop.wait(settings.RUN_HEARTBEAT_SECONDS):
                try:
                    alive = Run.objects.filter(
                        pk=self.ctx.run_id, dispatch=self.dispatch, status=Run.Status.RUNNING,
                    ).update(heartbeat_at=timezone.now())
                except OperationalError:
                    logger.warning("run %s: heartbeat skipped (database unreachable)",
                                   self.ctx.run_id)
                    close_old_connections()
                    continue
                if not alive:
                    self.ctx.superseded.set()
                    return
        finally:
            connection.close()

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=5)


def stale_before():
    return timezone.now() - timedelta(seconds=settings.RUN_STALE_SECONDS)


FINAL_WRITE_TRIES = 6


def on_fresh_connection(write: Callable[[], Any], what: str) -> Any:
    """Run ``write``; after a database error, again on a new connection (with a short back-off).

    A Run's end must be recorded by the worker that ran it: after a blink the old connection
    is dead for good, and a Run left ``running`` waits for the sweep, whose log would then
    wrongly say its worker stopped answering."""
    for attempt in range(FINAL_WRITE_TRIES):
        try:
            return write()
        except (OperationalError, InterfaceError) as exc:
            if attempt == FINAL_WRITE_TRIES - 1:
                raise
            logger.warning("%s: database error (%s); again on a new connection", what, exc)
            try:
                connection.close()
            except DatabaseError:
                pass
            time.sleep(min(0.25 * 2 ** attempt, 4.0))


def _finish(run_id: int, dispatch: int, status: str, kind: str = "", **fields: Any) -> None:
    for name in ("error", "reason"):  # shown on pages and the API: no credentials
        if fields.get(name):
            fields[name] = redact(fields[name])
    if on_fresh_connection(lambda: Run.objects.filter(pk=run_id, dispatch=dispatch).update(
            status=status, finished_at=timezone.now(), heartbeat_at=None, **fields),
            f"run {run_id}: recording {status}"):
        settled(run_id, kind, status)


def worker_is_gone(worker: str) -> bool:
    """Whether ``worker`` ("host:pid") was a process on this host that no longer exists."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _claim(run: Run, dispatch: int, task_id: str) -> bool:
    """Take the Run for this attempt: queued, or running under a worker whose beat lapsed or
    that is gone (a prefork child killed on this host: its message comes straight back)."""
    running_elsewhere = Q(status=Run.Status.RUNNING, heartbeat_at__lt=stale_before())
    if run.status == Run.Status.RUNNING and run.worker and worker_is_gone(run.worker):
        running_elsewhere |= Q(status=Run.Status.RUNNING, worker=run.worker)
    return bool(Run.objects.filter(
        Q(status=Run.Status.QUEUED) | running_elsewhere, pk=run.pk, dispatch=dispatch,
    ).update(
        status=Run.Status.RUNNING, started_at=Coalesce(F("started_at"), timezone.now()),
        attempts=F("attempts") + 1, celery_task_id=task_id, heartbeat_at=timezone.now(),
        worker=this_worker(), published_at=Coalesce(F("published_at"), timezone.now()),
    ))


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
        def task(self, run_id: int, dispatch: int | None = None):
            close_old_connections()
            run = Run.objects.filter(pk=run_id).first()
            if run is None or run.is_finished:
                # Deleted, or a redelivery of a run that already ended: nothing to do.
                return
            dispatch = run.dispatch if dispatch is None else dispatch
            if dispatch != run.dispatch:
                logger.info("run %s: message of dispatch %s ignored (now %s)",
                            run_id, dispatch, run.dispatch)
                return
            if run.cancel_requested:
                _finish(run_id, dispatch, Run.Status.CANCELLED, kind)
                return
            if not _claim(run, dispatch, self.request.id or ""):
                # Another live worker holds this attempt (a duplicate message).
                return
            ctx = RunContext(run)
            try:
                with Heartbeat(ctx, dispatch):
                    result = fn(ctx, **run.params) or {}
            except RunSuperseded:
                logger.warning("run %s: handed to another attempt; this one stops", run_id)
            except RunCancelled:
                on_fresh_connection(lambda: ctx.log("cancelled"), f"run {run_id}: logging")
                _finish(run_id, dispatch, Run.Status.CANCELLED, kind)
            except OperationalError as exc:
                # Retries are counted per Run, not per message: a copy of the message that a
                # broker check re-sent must not start a fresh budget.
                if self.request.retries < max_retries and run.attempts + 1 <= max_retries:
                    # The database blinked: let the retried message claim the Run again.
                    on_fresh_connection(lambda: Run.objects.filter(
                        pk=run_id, dispatch=dispatch).update(
                        status=Run.Status.QUEUED, heartbeat_at=None),
                        f"run {run_id}: queueing the retry")
                    raise
                logger.exception("run %s failed", run_id)
                _finish(run_id, dispatch, Run.Status.FAILED, kind, error=traceback.format_exc(limit=5),
                        reason=public_reason(exc))
            except Exception as exc:  # recorded on the Run, which is what the UI shows
                # The traceback goes to the log and to ``error`` (staff only); ``reason`` is
                # the short cause anyone the Run affects may read.
                logger.exception("run %s failed", run_id)
                _finish(run_id, dispatch, Run.Status.FAILED, kind,
                        error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=8)}",
                        reason=public_reason(exc))
            else:
                _finish(run_id, dispatch, Run.Status.SUCCEEDED, result=result)

        task.run_kind = kind
        RUN_KINDS[kind] = task
        fn.task = task
        return fn

    return decorator


def task_for(kind: str):
    if kind not in RUN_KINDS:
        # Run kinds live in each app's tasks module; the web process imports them lazily.
        current_app.loader.import_default_modules()
    if kind not in RUN_KINDS:
        raise ValueError(f"Unknown run kind '{kind}'. Known: {', '.join(sorted(RUN_KINDS))}.")
    return RUN_KINDS[kind]


def broker_errors() -> tuple[type[BaseException], ...]:
    """What publishing raises when the broker is down, for the configured transport."""
    from kombu.exceptions import OperationalError as KombuOperationalError

    conn = current_app.connection_for_write()
    return (KombuOperationalError, OSError, *conn.connection_errors, *conn.channel_errors)


def publish(run: Run) -> bool:
    """Hand the Run's current dispatch to the broker; False (and logged) when it is down.

    On success ``published_at`` is stamped, on the row and on ``run``.
    """
    try:
        task_for(run.kind).apply_async(args=[run.pk], kwargs={"dispatch": run.dispatch},
                                       retry=False)
    except broker_errors() as exc:
        logger.warning("run %s: the broker is unreachable (%s); it stays queued", run.pk, exc)
        return False
    run.published_at = timezone.now()
    Run.objects.filter(pk=run.pk, dispatch=run.dispatch, status=Run.Status.QUEUED).update(
        published_at=run.published_at)
    return True


def start_run(kind: str, params: dict | None = None, *, project=None, user=None) -> Run:
    """Create a Run and hand it to the broker when the current transaction commits."""
    task_for(kind)
    run = Run.objects.create(
        kind=kind, params=params or {}, project=project,
        created_by=user if user is not None and user.is_authenticated else None,
    )
    transaction.on_commit(lambda: publish(run))
    return run


def cancel_run(run: Run) -> Run:
    """Ask a run to stop. A queued run, or one whose worker is gone, ends at once; a running
    one at its next check."""
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(cancel_requested=True)
        if Run.objects.filter(
            Q(status=Run.Status.QUEUED) | Q(status=Run.Status.RUNNING, heartbeat_at__lt=stale_before()),
            pk=run.pk,
        ).update(status=Run.Status.CANCELLED, finished_at=timezone.now(), heartbeat_at=None):
            settled(run.pk, run.kind, Run.Status.CANCELLED)
    run.refresh_from_db()
    return run
