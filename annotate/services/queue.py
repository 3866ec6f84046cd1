"""The labeling queue: hand an annotator their next solution, under a lease.

Label Studio semantics without its known bugs:

* reloading returns the task you hold (one active assignment per project and user,
  enforced by a partial unique constraint as well);
* a solution never has more holders and finishers than ``project.overlap``: candidate
  Solution rows are locked with ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED`` and the holder
  count is derived in the same transaction, never kept as a counter;
* a lease expires, and an expired one goes back to the queue (marked lazily here);
* skipping; and "no more tasks" (``None``) only when nothing is left for you.

The order comes from the project's queue strategy (``queue_strategies``); only a
short window from its front is read, so the call stays cheap at a million solutions.
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, Func, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from annotate.models import Assignment, Project, Solution

from . import blind, queue_gates
from .queue_strategies import get_strategy
from .verify_draw import shown_source_for

#: Candidate rows read per attempt; small, so concurrent callers rarely collide.
WINDOW = 8
#: Attempts before concluding that nothing is left (each one excludes full solutions).
MAX_ATTEMPTS = 50


class QueueError(Exception):
    """A queue action that cannot be done; the message is for the annotator."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def holding_q(now=None) -> Q:
    """Assignments that take a slot of a solution's overlap: finished ones and live leases."""
    now = now or timezone.now()
    return Q(status=Assignment.Status.SUBMITTED) | Q(
        status=Assignment.Status.ACTIVE, lease_expires_at__gt=now
    )


def _held_or_expire(project: Project, user) -> tuple[Assignment | None, Assignment | None]:
    """The user's live task in the project, if any, else their lapsed one: the user's latest
    task (by lease) when its lease ran out unfinished (a review's reject also leaves a task
    expired, but finished). The same query finds the project's lapsed leases, which are
    marked expired here (lazily, on each queue call)."""
    now = timezone.now()
    held, lapsed, stale = None, None, {}
    latest = (Assignment.objects.filter(project=project, annotator=user)
              .order_by(F("lease_expires_at").desc(nulls_last=True), "-id").values("pk")[:1])
    for row in (Assignment.objects.filter(project=project).filter(
            Q(status=Assignment.Status.ACTIVE) & (Q(annotator=user) | Q(lease_expires_at__lte=now))
            | Q(status=Assignment.Status.EXPIRED, finish_reason="", pk=Subquery(latest)))[:10_000]):
        if row.status == Assignment.Status.EXPIRED:
            lapsed = lapsed or row
        elif row.lease_expires_at is not None and row.lease_expires_at <= now:
            stale[row.pk] = row.solution_id
            if row.annotator_id == user.pk:
                lapsed = row
        elif row.annotator_id == user.pk:
            held = row
    if stale:
        _expire(project, stale, now)
    if held is not None:
        held.project = project
    return held, (None if held is not None else lapsed)


def _expire(project: Project, stale: dict[int, int], now) -> None:
    """Mark these lapsed assignments (id -> solution id) expired and free their slots. The
    status and lease are checked again: a row may have been finished since it was read."""
    Assignment.objects.filter(
        pk__in=list(stale), status=Assignment.Status.ACTIVE, lease_expires_at__lte=now,
    ).update(status=Assignment.Status.EXPIRED, finished_at=timezone.now())
    slot_freed(project, list(stale.values()))


def held_task(project: Project, user) -> Assignment | None:
    """The user's active, unexpired assignment in the project, if any."""
    found = list(Assignment.objects.filter(
        project=project, annotator=user, status=Assignment.Status.ACTIVE,
        lease_expires_at__gt=timezone.now())[:1])  # at most one (a partial unique constraint)
    if not found:
        return None
    found[0].project = project
    return found[0]


def _slots_taken(now) -> Subquery:
    """Holders of the outer solution, as a scalar subquery: evaluated per candidate row with
    an index probe, so it costs the same however many assignments the table holds (an
    EXISTS would be planned as an anti join over all of them)."""
    return Subquery(
        Assignment.objects.filter(holding_q(now), solution_id=OuterRef("pk")).order_by()
        .annotate(n=Func(F("id"), function="COUNT")).values("n")
    )


def _open_candidates(project: Project, user, *, gold: bool, now, mark: int = 0) -> QuerySet:
    """Solutions the user has not had (an own expired lease may be resumed) with a free slot."""
    mine = Subquery(
        Assignment.objects.filter(solution_id=OuterRef("pk"), annotator=user)
        .exclude(status=Assignment.Status.EXPIRED).values("id")[:1]
    )
    return (
        Solution.objects.filter(project=project, is_gold=gold, id__gte=mark)
        .annotate(_taken=_slots_taken(now), _mine=mine)
        .filter(_taken__lt=project.overlap, _mine__isnull=True)
    )


# The low-water mark: an id below which every solution of the pool was full when last
# looked at. Queries start there, so a project far into labeling is as fast as a fresh
# one. It is only a hint (the locked recount decides): freed slots lower it, it expires
# after MARK_TTL seconds, and an empty result is retried from 0 before saying "none left".
MARK_TTL = 60


def _mark_key(project: Project, gold: bool) -> str:
    # The creation time guards against a reused primary key (e.g. SQLite after a rollback).
    born = int(project.created.timestamp() * 1e6) if project.created else 0
    return f"stepwise:queue-mark:{project.pk}:{born}:{int(gold)}:{project.overlap}"


# How often one process recomputes the mark; in between it uses the cached value. A mark a
# second behind costs the claim query a few more index probes; recomputing it on every
# call cost a query per next task.
MARK_REFRESH = 1.0
_mark_checked: dict[str, float] = {}


def _low_water_mark(project: Project, gold: bool, now) -> tuple[int, bool]:
    """The pool's low-water mark, and (regular pool) whether any solution is to be served
    first (``blind.FIRST``): found by the same query and cached alike, so a project with no
    certification sampling pays no query for it on every next task."""
    key = _mark_key(project, gold)
    first_key = None if gold else blind.first_flag_key(project)
    cached = cache.get_many([key, first_key] if first_key else [key])
    mark = cached.get(key)
    known = first_key is None or first_key in cached
    if (mark is not None and known
            and time.monotonic() - _mark_checked.get(key, -MARK_REFRESH) < MARK_REFRESH):
        return mark, bool(cached.get(first_key))
    mark = mark or 0
    rows = (
        Solution.objects.filter(project=project, is_gold=gold, id__gte=mark)
        .annotate(_taken=_slots_taken(now)).filter(_taken__lt=project.overlap)
        .order_by("project_id", "id")
    )
    first_q = None if gold else blind.first_solutions(project)
    if first_q is not None:
        # An uncorrelated EXISTS: computed once for the query, not per row.
        rows = rows.annotate(_first=Exists(
            Solution.objects.filter(first_q, project=project, is_gold=False)))
        first, serve_first = rows.values_list("id", "_first").first() or (None, False)
    else:
        first, serve_first = rows.values_list("id", flat=True).first(), False
    _mark_checked[key] = time.monotonic()
    if first is not None and first != mark:
        cache.set(key, first, MARK_TTL)
    if first_key is not None:
        cache.set(first_key, bool(serve_first), MARK_TTL)
    return (first if first is not None else mark), bool(serve_first)


def slot_freed(project: Project, solution_ids) -> None:
    """A slot of these solutions opened again (skip, expiry): lower the mark to reach them."""
    ids = list(solution_ids)
    if not ids:
        return
    low = min(ids)
    for gold in (False, True):
        key = _mark_key(project, gold)
        if cache.get(key, 0) > low:
            cache.set(key, low, MARK_TTL)


def _pools(project: Project, user) -> list[bool]:
    """Which pools to draw from, in order: gold only during screening, else mixed in."""
    if not queue_gates.may_take_regular_tasks(project, user):
        return [True]
    if project.gold_rate > 0 and random.random() < project.gold_rate:
        return [True, False]
    return [False]


def _claim(project: Project, user, ordered: QuerySet, *, skip_locked: bool, now) -> Assignment | None:
    """Lock a window of candidates, recount their slots, and take the first one with room."""
    window = list(
        ordered.select_for_update(skip_locked=skip_locked, of=("self",), no_key=True)
        .values_list("pk", flat=True)[: WINDOW if skip_locked else 1]
    )
    if not window:
        return None
    # The holders of the locked rows, and the user's own lapsed assignments among them (to
    # resume rather than insert a second one): one query, at most overlap + 1 rows each.
    taken: dict[int, int] = {}
    own_expired: dict[int, int] = {}
    rows = (Assignment.objects.filter(solution_id__in=window)
            .filter(holding_q(now) | Q(annotator=user, status=Assignment.Status.EXPIRED))
            .values_list("id", "solution_id", "annotator_id", "status"))
    for pk, solution_id, _annotator_id, status in rows:
        if status == Assignment.Status.EXPIRED:
            own_expired[solution_id] = pk
        else:
            taken[solution_id] = taken.get(solution_id, 0) + 1
    for solution_id in window:
        if taken.get(solution_id, 0) >= project.overlap:
            continue
        lease = now + timedelta(seconds=project.lease_seconds)
        if solution_id in own_expired:
            own = Assignment.objects.get(pk=own_expired[solution_id])
            own.status, own.lease_expires_at, own.finished_at = (
                Assignment.Status.ACTIVE, lease, None)
            own.save(update_fields=["status", "lease_expires_at", "finished_at", "updated"])
            return own
        # No savepoint: an IntegrityError here (a concurrent request of the same user took
        # a task) aborts the whole attempt, and next_task returns the task that request took.
        return Assignment.objects.create(
            project=project, solution_id=solution_id, annotator=user,
            status=Assignment.Status.ACTIVE, lease_expires_at=lease,
            shown_source=shown_source_for(project, solution_id, user.pk),
        )
    return None


def _resume(project: Project, user, lapsed: Assignment, pools: list[bool]) -> Assignment | None:
    """The user's own lapsed task comes back first while its solution has room (ratings kept),
    whatever the strategy would offer before it."""
    now = timezone.now()
    own = (Solution.objects.filter(project=project, pk=lapsed.solution_id, is_gold__in=pools)
           .annotate(_taken=_slots_taken(now)).filter(_taken__lt=project.overlap).order_by("pk"))
    try:
        with transaction.atomic():
            # One row, locked in a fresh transaction: waiting for it (no SKIP LOCKED) holds
            # no other lock, and a claimer that has it decides in milliseconds.
            return _claim(project, user, own, skip_locked=False, now=now)
    except IntegrityError:
        return held_task(project, user)  # a concurrent request of the same user took one


def _claim_first(project: Project, user) -> Assignment | None:
    """A regular solution another app asks to be served first (``blind.FIRST``: the samples
    of a certification), oldest first, with room and never had by the user."""
    first = blind.first_solutions(project)
    if first is None:
        return None
    now = timezone.now()
    ordered = (_open_candidates(project, user, gold=False, now=now).filter(first)
               .order_by("project_id", "id"))
    if not ordered.exists():  # one read, no transaction, in the usual case: none to serve first
        return None
    try:
        with transaction.atomic():
            return _claim(project, user, ordered, skip_locked=True, now=now)
    except IntegrityError:
        return held_task(project, user)  # a concurrent request of the same user took one


def next_task(project: Project, user) -> Assignment | None:
    """The task the user holds, or a new one; None when nothing is left for them."""
    held, lapsed = _held_or_expire(project, user)
    if held is not None:
        return held
    pools = _pools(project, user)
    if lapsed is not None:
        # Screening allows gold only ([True]); otherwise an own task of either pool resumes.
        resumed = _resume(project, user, lapsed, pools if pools == [True] else [True, False])
        if resumed is not None:
            resumed.project = project
            return resumed
    strategy = get_strategy(project.queue_strategy)
    for gold in pools:
        mark, serve_first = _low_water_mark(project, gold, timezone.now())
        first = _claim_first(project, user) if serve_first else None
        if first is not None:
            first.project = project
            return first
        for attempt in range(MAX_ATTEMPTS):
            now = timezone.now()
            candidates = _open_candidates(project, user, gold=gold, now=now, mark=mark)
            ordered = strategy(candidates, project, user)
            try:
                with transaction.atomic():
                    # Skip rows others are deciding on; when all visible ones are locked,
                    # wait for one instead of reporting an empty queue.
                    made = _claim(project, user, ordered, skip_locked=True, now=now)
                    if made is None and attempt > 0:
                        made = _claim(project, user, ordered, skip_locked=False, now=now)
            except IntegrityError:
                # A concurrent request of the same user took a task first: return that one.
                held = held_task(project, user)
                if held is not None:
                    return held
                continue
            if made is not None:
                made.project = project
                return made
            if not candidates.exists():
                if mark == 0:
                    break
                mark = 0  # the hint may be stale: look at the whole pool once more
    return None


def lease_until(project: Project):
    """When a lease taken or renewed now runs out; activity on a task renews it."""
    return timezone.now() + timedelta(seconds=project.lease_seconds)


def skip_task(assignment: Assignment) -> None:
    """Give the task back; the user is not offered this solution again. Ratings are kept."""
    updated = Assignment.objects.filter(pk=assignment.pk, status=Assignment.Status.ACTIVE).update(
        status=Assignment.Status.SKIPPED, finished_at=timezone.now()
    )
    if not updated:
        raise QueueError("This task is no longer active, so it cannot be skipped.", 409)
    slot_freed(assignment.project, [assignment.solution_id])
