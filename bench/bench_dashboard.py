"""Dashboard and quality queries on a big project (default 1M step ratings), PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
        python bench/bench_dashboard.py --ratings 1000000

Builds (once; reused when the sizes match) a project of solutions with ``--steps`` steps,
each rated by ``--overlap`` annotators, 5% of them gold, loaded with COPY. Then times each
dashboard table, the agreement summary, the review queue's first page, and the whole
dashboard page through the test client. The baseline, run in the same process, is the
naive way: a Python loop over every rating of the project computing the label distribution.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, models  # noqa: E402
from django.utils import timezone  # noqa: E402

from annotate.models import (  # noqa: E402
    Assignment,
    GoldLabel,
    Membership,
    Problem,
    Project,
    Solution,
    StepNode,
    StepRating,
)

SLUG = "bench-dashboard"


def _copy(model, names: list[str], rows) -> int:
    """COPY rows (tuples in ``names`` order) into the model's table; other columns get their
    Python defaults, auto timestamps get now."""
    now = timezone.now()
    fields = [f for f in model._meta.concrete_fields if not f.primary_key or f.attname in names]
    given = {n: i for i, n in enumerate(names)}
    consts = {}
    for f in fields:
        if f.attname in given:
            continue
        if isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
            consts[f.attname] = now
        else:
            value = f.get_default()
            consts[f.attname] = json.dumps(value) if isinstance(f, models.JSONField) else value
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    n = 0
    with connection.cursor() as cur, cur.cursor.copy(
        f"COPY {model._meta.db_table} ({columns}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row([row[given[f.attname]] if f.attname in given else consts[f.attname]
                            for f in fields])
            n += 1
    return n


def _next_id(model) -> int:
    return (model.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1


def build(n_ratings: int, steps: int, overlap: int, annotators: int) -> Project:
    n_solutions = max(1, n_ratings // (steps * overlap))
    project = Project.objects.filter(slug=SLUG).first()
    if project is not None:
        if StepRating.objects.filter(assignment__project=project).count() == n_solutions * steps * overlap:
            return project
        project.delete()
    t0 = time.perf_counter()
    project = Project.objects.create(name="Bench dashboard", slug=SLUG, overlap=overlap)
    User = get_user_model()
    users = []
    for i in range(annotators):
        user, _ = User.objects.get_or_create(username=f"bench-annotator-{i}")
        users.append(user)
        Membership.objects.get_or_create(project=project, user=user)
    rng = random.Random(7)
    p0, n0, s0 = _next_id(Problem), _next_id(StepNode), _next_id(Solution)
    a0, r0 = _next_id(Assignment), _next_id(StepRating)
    sha = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    _copy(Problem, ["id", "project_id", "statement", "statement_hash", "external_id"],
          ((p0 + i, project.pk, f"bench problem {i}", sha(f"bench problem {i}"), "")
           for i in range(n_solutions)))

    def nodes():
        for i in range(n_solutions):
            for d in range(steps):
                text = f"step {d} of {i}"
                yield (n0 + i * steps + d, p0 + i, None if d == 0 else n0 + i * steps + d - 1,
                       d, text, sha(text))

    _copy(StepNode, ["id", "problem_id", "parent_id", "depth", "text", "text_hash"], nodes())
    gold = set(rng.sample(range(n_solutions), max(1, n_solutions // 20)))
    _copy(Solution, ["id", "project_id", "problem_id", "last_step_id", "is_gold", "external_id"],
          ((s0 + i, project.pk, p0 + i, n0 + i * steps + steps - 1, i in gold, "")
           for i in range(n_solutions)))
    _copy(GoldLabel, ["solution_id", "node_id", "rating", "source"],
          ((s0 + i, n0 + i * steps + d, 1 if d < steps // 2 else -1, "bench")
           for i in sorted(gold) for d in range(steps)))
    now = timezone.now()

    def assignments():
        for i in range(n_solutions):
            for k, user in enumerate(rng.sample(users, overlap)):
                yield (a0 + i * overlap + k, project.pk, s0 + i, user.pk, "submitted",
                       now - timezone.timedelta(minutes=rng.randrange(20000)), steps * 9000)

    _copy(Assignment, ["id", "project_id", "solution_id", "annotator_id", "status", "finished_at",
                       "total_time_ms"], assignments())

    def ratings():
        rid = r0
        for i in range(n_solutions):
            truth = [rng.choice((1, 1, 0, -1)) for _ in range(steps)]
            for k in range(overlap):
                for d in range(steps):
                    value = truth[d] if rng.random() < 0.8 else rng.choice((1, 0, -1))
                    yield (rid, a0 + i * overlap + k, n0 + i * steps + d, value,
                           rng.random() < 0.02, rng.randrange(2000, 30000))
                    rid += 1

    n = _copy(StepRating, ["id", "assignment_id", "node_id", "rating", "flagged", "time_spent_ms"],
              ratings())
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"built {n:,} ratings, {n_solutions:,} solutions in {time.perf_counter() - t0:.1f}s")
    return project


def timed(label: str, fn, baseline: float | None = None, repeat: int = 3):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    ratio = f"  ({best / baseline:.3f}x baseline)" if baseline else ""
    print(f"{label:<38} {best * 1000:9.1f} ms{ratio}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--annotators", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Run against PostgreSQL (DATABASE_URL=postgres://...).")
    call_command("migrate", verbosity=0)
    project = build(args.ratings, args.steps, args.overlap, args.annotators)

    # A web process imports these once; keep their import time out of the timings.
    import krippendorff  # noqa: F401
    import sklearn.metrics  # noqa: F401
    from django.test import Client

    from quality import agreement, dashboard

    def python_loop():
        counts = {}
        for rating in StepRating.objects.filter(assignment__project=project).values_list(
                "rating", flat=True).iterator(chunk_size=20000):
            counts[rating] = counts.get(rating, 0) + 1
        return counts

    admin = get_user_model().objects.get_or_create(username="bench-admin", is_superuser=True)[0]
    client = Client()
    client.force_login(admin)
    base = timed("baseline: Python loop over ratings", python_loop, repeat=1)
    for name in dashboard.TABLES:
        timed(f"table {name}", lambda name=name: dashboard.compute_table(project, name), base,
              args.repeat)
    timed("agreement: pairwise kappa", lambda: agreement.pairwise_kappa(project), base, 1)
    timed("agreement: first-error alpha", lambda: agreement.first_error_agreement(project), base, 1)
    timed("review queue, first page", lambda: client.get(f"/manage/{SLUG}/review/", secure=True),
          base, 1)
    from django.core.cache import cache

    def page():
        cache.clear()
        assert client.get(f"/manage/{SLUG}/dashboard/", secure=True).status_code == 200
        for part in ("throughput", "labels", "time_per_step", "gold", "agreement"):
            r = client.get(f"/manage/{SLUG}/dashboard/part/{part}/", secure=True)
            assert r.status_code == 200

    timed("dashboard page + 5 sections, cold", page, base, 1)
    timed("dashboard page + 5 sections, cached", lambda: [
        client.get(f"/manage/{SLUG}/dashboard/part/{p}/", secure=True)
        for p in ("throughput", "labels", "time_per_step", "gold", "agreement")], base, 1)
    timed("agreement page (alpha, kappa, first error)",
          lambda: client.get(f"/manage/{SLUG}/agreement/", secure=True), base, 1)


if __name__ == "__main__":
    main()
