"""Dashboard tables, each aggregated by the database (a handful of GROUP BY queries).

Every function returns a list of flat dicts, so the page, the charts and the CSV download
share one shape.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Avg, Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from annotate.models import Assignment, Solution, StepRating
from workers.models import Run

S = Assignment.Status


def progress(project) -> list[dict]:
    solutions = Solution.objects.filter(project=project).aggregate(
        total=Count("id"), gold=Count("id", filter=Q(is_gold=True)))
    by_status = dict(
        Assignment.objects.filter(project=project, solution__is_gold=False).values_list("status")
        .annotate(n=Count("id")).order_by()
    )
    gold_done = Assignment.objects.filter(project=project, solution__is_gold=True,
                                          status=S.SUBMITTED).count()
    # Gold items are extra work on top of the target, so they are counted apart.
    capacity = (solutions["total"] - solutions["gold"]) * project.overlap
    submitted = by_status.get(S.SUBMITTED, 0)
    return [{
        "solutions": solutions["total"], "gold_solutions": solutions["gold"],
        "target_assignments": capacity, "submitted": submitted, "gold_submitted": gold_done,
        "active": by_status.get(S.ACTIVE, 0), "skipped": by_status.get(S.SKIPPED, 0),
        "expired": by_status.get(S.EXPIRED, 0),
        "done_fraction": round(min(1.0, submitted / capacity), 4) if capacity else None,
    }]


def throughput(project, days: int = 7) -> list[dict]:
    """Per annotator: submitted assignments (all time and last ``days``), steps rated, speed."""
    since = timezone.now() - timedelta(days=days)
    assignments = {
        r["annotator__username"]: r
        for r in Assignment.objects.filter(project=project, status=S.SUBMITTED)
        .values("annotator__username")
        .annotate(submitted=Count("id"), recent=Count("id", filter=Q(finished_at__gte=since)),
                  total_ms=Sum("total_time_ms"))
        .order_by()
    }
    steps = {
        r["assignment__annotator__username"]: r
        for r in StepRating.objects.filter(assignment__project=project, rating__isnull=False)
        .values("assignment__annotator__username")
        .annotate(steps=Count("id"), avg_ms=Avg("time_spent_ms"))
        .order_by()
    }
    rows = []
    for name in sorted(set(assignments) | set(steps)):
        a, s = assignments.get(name, {}), steps.get(name, {})
        rows.append({
            "annotator": name, "submitted": a.get("submitted", 0),
            f"submitted_last_{days}d": a.get("recent", 0), "steps_rated": s.get("steps", 0),
            "avg_seconds_per_step": round(s["avg_ms"] / 1000, 2) if s.get("avg_ms") else None,
            "hours": round(a["total_ms"] / 3_600_000, 2) if a.get("total_ms") else None,
        })
    return rows


def daily_submissions(project, days: int = 14) -> list[dict]:
    since = timezone.now() - timedelta(days=days)
    return [
        {"day": r["day"].isoformat(), "submitted": r["n"]}
        for r in Assignment.objects.filter(project=project, status=S.SUBMITTED,
                                           finished_at__gte=since)
        .annotate(day=TruncDate("finished_at")).values("day").annotate(n=Count("id"))
        .order_by("day")
    ]


def time_per_step(project) -> list[dict]:
    """Average seconds spent on a step, by step position."""
    return [
        {"position": r["node__depth"] + 1, "ratings": r["n"],
         "avg_seconds": round(r["avg"] / 1000, 2) if r["avg"] is not None else None}
        for r in StepRating.objects.filter(assignment__project=project, rating__isnull=False)
        .values("node__depth").annotate(n=Count("id"), avg=Avg("time_spent_ms"))
        .order_by("node__depth")
    ]


LABELS = {1: "great (+1)", 0: "okay (0)", -1: "bad (-1)"}


def label_distribution(project) -> list[dict]:
    """Labels given, by value. A rating that was undone is kept as a row with no value (its
    history is in RatingChange) but is no label, so it is not counted."""
    counts = dict(
        StepRating.objects.filter(assignment__project=project, rating__isnull=False)
        .values_list("rating")
        .annotate(n=Count("id")).order_by()
    )
    total = sum(counts.values()) or 1
    return [{"label": LABELS[k], "count": counts.get(k, 0),
             "share": round(counts.get(k, 0) / total, 4)} for k in (1, 0, -1)]


def queue_health(project) -> list[dict]:
    now = timezone.now()
    active = Assignment.objects.filter(project=project, status=S.ACTIVE).aggregate(
        active=Count("id"), stale=Count("id", filter=Q(lease_expires_at__lt=now)),
        oldest=Min("started_at"))
    # Solutions still short of their overlap, counted in one grouped query.
    open_solutions = (
        Solution.objects.filter(project=project, is_gold=False)
        .annotate(taken=Count("assignments", filter=Q(assignments__status__in=[S.SUBMITTED,
                                                                              S.ACTIVE])))
        .filter(taken__lt=project.overlap).count()
    )
    runs = Run.objects.filter(project=project).aggregate(
        queued=Count("id", filter=Q(status=Run.Status.QUEUED)),
        running=Count("id", filter=Q(status=Run.Status.RUNNING)),
        failed=Count("id", filter=Q(status=Run.Status.FAILED)),
        last=Max("created"))
    oldest = active["oldest"]
    return [{
        "open_solutions": open_solutions, "active_leases": active["active"],
        "expired_leases_not_reclaimed": active["stale"],
        "oldest_active_minutes": round((now - oldest).total_seconds() / 60, 1) if oldest else None,
        "runs_queued": runs["queued"], "runs_running": runs["running"],
        "runs_failed": runs["failed"],
    }]


def agreement_positions(project) -> list[dict]:
    from quality.agreement import alpha_table

    return alpha_table(project)


def gold_accuracy(project) -> list[dict]:
    from quality.selectors import gold_accuracy as accuracy

    return [{k: v for k, v in row.items() if k != "user_id"} for row in accuracy(project)]


TABLES = {
    "progress": progress,
    "throughput": throughput,
    "daily": daily_submissions,
    "time_per_step": time_per_step,
    "labels": label_distribution,
    "gold": gold_accuracy,
    "agreement": agreement_positions,
    "queue": queue_health,
}


def compute_table(project, name: str) -> list[dict]:
    from quality.sql import analytic_session

    with analytic_session():
        return TABLES[name](project)


def cached_table(project, name: str) -> list[dict]:
    """A table through the cache: dashboards of big projects tolerate seconds of staleness,
    and repeated views by several admins then cost one aggregation, not one each."""
    from django.conf import settings
    from django.core.cache import cache

    seconds = int(getattr(settings, "DASHBOARD_CACHE_SECONDS", 30))
    if seconds <= 0:
        return compute_table(project, name)
    # The creation time keeps keys apart when a test database reuses a primary key.
    key = f"stepwise:dash:{project.pk}:{project.created.timestamp()}:{name}"
    return cache.get_or_set(key,
                            lambda: compute_table(project, name), seconds)
