"""The label-sources report on big projects (1k, 10k, 100k solutions), PostgreSQL.

    python bench/bench_label_report.py \\
        --database-url postgres://postgres@127.0.0.1:5432/stepwise_bench_labels

The database is migrated and filled by the script (once; a project whose size matches is
reused): per size a project of solutions of ``--steps`` steps, loaded with COPY, with these
sources:

* ``human:bench-a``, ``human:bench-b``: both annotators rate every step (so
  ``human:consensus`` exists; where they differ it is a tie, an unparsed row);
* ``gold`` on 5% of the solutions (the default reference);
* ``mc_hard:bench`` and ``mc_soft:bench`` pre-annotations of every step;
* ``judge:alpha`` and ``judge:beta`` (2% of their answers unparsed), so the report's
  default consensus rule (two or more judges) is computed too.

Then, at each size, times ``quality.label_report.build_report`` (the ``label_report`` Run's
work; what a request computes for a project of up to ``LABEL_REPORT_INLINE_SOLUTIONS``) and
prints its ratio to a baseline run in the same process at the same size: one read of the
project's steps with every source's raw rows, no counting (the least any report that reads
the rows in Python costs). It then stores the result as the Run would and times the API and
page requests through the test client (for a big project: the stored report read back).
Numbers are printed, never asserted (docs/performance.md, "Label-sources report at 100k
solutions").

``--anchoring`` adds, at each size, the report's anchoring section (``quality.anchoring``):
``bench-a``'s tasks of every other solution are marked as having shown ``judge:alpha`` (its
verdict recorded on each rating as shown), and ``build_report(anchoring="judge:alpha")`` is
timed beside ``build_report`` without it (the project has no verify source, so the section
is only its one-line absence), in the same process.
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

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SIZES = (1_000, 10_000, 100_000)
ANNOTATORS = ("bench-a", "bench-b")
JUDGES = ("alpha", "beta")


def setup_django(database: str) -> None:
    os.environ.update(DJANGO_SETTINGS_MODULE="stepwise.settings", DATABASE_URL=database,
                      SECRET_KEY="bench-label-report", SECURE_SSL_REDIRECT="0",
                      ALLOWED_HOSTS="testserver,localhost")
    import django

    django.setup()


def _copy(model, names: list[str], rows) -> int:
    """COPY rows (tuples in ``names`` order) into the model's table; other columns get their
    Python defaults, auto timestamps now."""
    from django.db import connection, models
    from django.utils import timezone

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
            f"COPY {model._meta.db_table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[given[f.attname]] if f.attname in given else consts[f.attname]
                            for f in fields])
            n += 1
    return n


def _next_id(model) -> int:
    from django.db import models

    return (model.objects.aggregate(m=models.Max("id"))["m"] or 0) + 1


def build(n_solutions: int, steps: int):
    """The project of ``n_solutions`` (built once, reused while its size matches)."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from annotate.models import (
        Assignment,
        GoldLabel,
        Membership,
        PreAnnotation,
        Problem,
        Project,
        Solution,
        StepNode,
        StepRating,
    )

    slug = f"bench-labels-{n_solutions}"
    project = Project.objects.filter(slug=slug).first()
    if project is not None:
        if Solution.objects.filter(project=project).count() == n_solutions:
            return project
        project.delete()
    t0 = time.perf_counter()
    rng = random.Random(n_solutions)
    sha = lambda t: hashlib.sha256(t.encode()).hexdigest()  # noqa: E731
    with transaction.atomic():
        project = Project.objects.create(name=f"Bench labels {n_solutions}", slug=slug,
                                         overlap=len(ANNOTATORS))
        users = []
        for name in ANNOTATORS:
            user, _ = get_user_model().objects.get_or_create(username=name)
            Membership.objects.get_or_create(project=project, user=user)
            users.append(user)
        p0, n0, s0 = _next_id(Problem), _next_id(StepNode), _next_id(Solution)
        a0, r0 = _next_id(Assignment), _next_id(StepRating)
        _copy(Problem, ["id", "project_id", "statement", "statement_hash", "external_id"],
              ((p0 + i, project.pk, f"bench {slug} {i}", sha(f"bench {slug} {i}"), "")
               for i in range(n_solutions)))

        def node(i, d):
            return n0 + i * steps + d

        def nodes():
            for i in range(n_solutions):
                for d in range(steps):
                    text = f"step {d} of {i}"
                    yield (node(i, d), p0 + i, None if d == 0 else node(i, d - 1), d, text,
                           sha(text))

        _copy(StepNode, ["id", "problem_id", "parent_id", "depth", "text", "text_hash"], nodes())
        gold = set(rng.sample(range(n_solutions), max(1, n_solutions // 20)))
        _copy(Solution, ["id", "project_id", "problem_id", "last_step_id", "is_gold",
                         "external_id"],
              ((s0 + i, project.pk, p0 + i, node(i, steps - 1), i in gold, "")
               for i in range(n_solutions)))
        # The truth of each step: good until a first error (or none), then bad.
        truth = []
        for _ in range(n_solutions):
            first = rng.randrange(steps + 2)
            truth.append([1 if d < first else -1 for d in range(steps)])

        def noisy(label: int, p: float) -> int:
            return label if rng.random() < p else rng.choice((1, 0, -1))

        _copy(GoldLabel, ["solution_id", "node_id", "rating", "source"],
              ((s0 + i, node(i, d), truth[i][d], "bench") for i in sorted(gold)
               for d in range(steps)))
        now = timezone.now()
        _copy(Assignment, ["id", "project_id", "solution_id", "annotator_id", "status",
                           "finished_at", "total_time_ms"],
              ((a0 + i * len(users) + k, project.pk, s0 + i, user.pk, "submitted", now, 9000)
               for i in range(n_solutions) for k, user in enumerate(users)))

        def ratings():
            rid = r0
            for i in range(n_solutions):
                for k in range(len(users)):
                    for d in range(steps):
                        yield (rid, a0 + i * len(users) + k, node(i, d), noisy(truth[i][d], 0.9),
                               False, 4000)
                        rid += 1

        _copy(StepRating, ["id", "assignment_id", "node_id", "rating", "flagged",
                           "time_spent_ms"], ratings())

        def hints():
            for i in range(n_solutions):
                for d in range(steps):
                    n, t = node(i, d), truth[i][d]
                    p = min(1.0, max(0.0, (0.8 if t == 1 else 0.3) + rng.uniform(-0.3, 0.3)))
                    yield (n, "mc_hard", "bench", 1.0 if p >= 0.5 else 0.0, None, "{}", 0)
                    yield (n, "mc_soft", "bench", p, None, "{}", 0)
                    for j, judge in enumerate(JUDGES):
                        if rng.random() < 0.02:
                            yield (n, "judge", judge, 0.5, None, '{"unparsed": true}', s0 + i)
                        else:
                            label = noisy(t, 0.85 - 0.1 * j)
                            yield (n, "judge", judge, (label + 1) / 2, label, "{}", s0 + i)

        _copy(PreAnnotation, ["node_id", "kind", "source", "value", "rating", "provenance",
                              "scope"], hints())
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    print(f"built {n_solutions:,} solutions ({n_solutions * steps:,} steps) "
          f"in {time.perf_counter() - t0:.1f}s", flush=True)
    return project


def mark_shown(project, spec: str = "judge:alpha") -> int:
    """``bench-a``'s tasks of even-numbered solutions showed ``spec`` (idempotent): the
    assignment's ``shown_source`` and each rating's ``shown`` (the judge's verdict there)."""
    from django.db import connection

    from annotate.models import Assignment, PreAnnotation, StepRating

    family, _, name = spec.partition(":")
    tasks = Assignment.objects.filter(project=project, annotator__username=ANNOTATORS[0])
    ids = list(tasks.order_by("solution_id").values_list("id", flat=True))
    tasks.exclude(shown_source="").update(shown_source="")
    marked = tasks.filter(id__in=ids[::2]).update(shown_source=spec)
    StepRating.objects.filter(assignment__project=project, shown__isnull=False).update(shown=None)
    with connection.cursor() as cur:
        cur.execute(
            f"UPDATE {StepRating._meta.db_table} r SET shown = jsonb_build_object("
            "'source', %s::text, 'version', '{}'::jsonb, 'rating', p.rating) "
            f"FROM {Assignment._meta.db_table} a, {PreAnnotation._meta.db_table} p "
            "WHERE r.assignment_id = a.id AND a.project_id = %s AND a.shown_source = %s "
            "AND p.node_id = r.node_id AND p.kind = %s AND p.source = %s "
            "AND p.scope = a.solution_id", [spec, project.pk, spec, family, name])
    return marked


def baseline(project) -> int:
    """Every source's raw rows of the project, read once, nothing counted."""
    from annotate.models import GoldLabel, PreAnnotation, Solution, StepNode, StepRating

    n = len(list(Solution.objects.filter(project=project).values_list("id", "last_step_id")
                 .iterator(chunk_size=20000)))
    n += len(list(StepNode.objects.filter(problem__project=project).values_list("id", "parent_id")
                  .iterator(chunk_size=20000)))
    n += len(list(StepRating.objects.filter(assignment__project=project).values_list(
        "assignment__solution_id", "node_id", "rating").iterator(chunk_size=20000)))
    n += len(list(GoldLabel.objects.filter(solution__project=project).values_list(
        "solution_id", "node_id", "rating").iterator(chunk_size=20000)))
    n += len(list(PreAnnotation.objects.filter(node__problem__project=project).values_list(
        "node_id", "kind", "source", "scope", "rating").iterator(chunk_size=20000)))
    return n


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="a scratch PostgreSQL database")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="solutions per project, comma-separated")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=2, help="best of N at each size")
    parser.add_argument("--anchoring", action="store_true",
                        help="time the anchoring section only, against the report without it")
    args = parser.parse_args()
    setup_django(args.database_url)

    from django.core.management import call_command
    from django.db import connection

    from quality import label_report

    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: pass --database-url postgres://...")
    call_command("migrate", verbosity=0)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    projects = {n: build(n, args.steps) for n in sizes}
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.utils import timezone

    from quality import report_runs
    from workers.models import Run

    if args.anchoring:
        anchoring(projects, args.repeat)
        return
    admin = get_user_model().objects.get_or_create(username="bench-label-admin",
                                                   defaults={"is_superuser": True})[0]
    client = Client()
    client.force_login(admin)
    print(f"{'solutions':>10} {'steps':>9} {'baseline':>9} {'report':>9} {'ratio':>7} "
          f"{'growth':>7} {'API GET':>9} {'page GET':>9}  (report: build_report, the Run's work; "
          f"API/page: what a request costs now)")
    previous = None
    for n in sizes:
        project = projects[n]
        base, rows = timed(lambda p=project: baseline(p), args.repeat)
        took, report = timed(lambda p=project: label_report.build_report(p), args.repeat)
        # Stored as the label_report Run would (big projects read it back).
        Run.objects.filter(project=project, kind=report_runs.KIND).delete()
        Run.objects.create(kind=report_runs.KIND, project=project, status=Run.Status.SUCCEEDED,
                           params=report_runs.report_params(None, None), result=report,
                           finished_at=timezone.now())
        api, _ = timed(lambda p=project: client.get(f"/api/projects/{p.pk}/label-sources/"),
                       args.repeat)
        page, _ = timed(lambda p=project: client.get(f"/manage/{p.slug}/label-sources/"),
                        args.repeat)
        how = "stored" if report_runs.is_precomputed(project) else "inline"
        growth = f"{took / previous:.1f}x" if previous else "-"
        print(f"{n:>10,} {report['steps']:>9,} {base:>8.2f}s {took:>8.2f}s {took / base:>6.2f}x "
              f"{growth:>7} {api:>8.3f}s {page:>8.3f}s  ({how}; {rows:,} raw rows; "
              f"{len(report['sources'])} sources, reference {report['reference']})", flush=True)
        previous = took


def anchoring(projects: dict, repeat: int) -> None:
    """``build_report`` with the anchoring of ``judge:alpha`` against without, per size."""
    from quality import label_report

    print(f"{'solutions':>10} {'shown tasks':>11} {'report':>9} {'+ anchoring':>12} {'ratio':>7} "
          f"{'section':>9}  (report: build_report, no verify source; + anchoring: "
          f"build_report(anchoring='judge:alpha'))")
    for n, project in projects.items():
        marked = mark_shown(project)
        plain = took = float("inf")
        for _ in range(repeat):  # alternated, so load on the machine falls on both alike
            plain = min(plain, timed(lambda p=project: label_report.build_report(p), 1)[0])
            spent, report = timed(
                lambda p=project: label_report.build_report(p, anchoring="judge:alpha"), 1)
            took = min(took, spent)
        overall = report["anchoring"]["overall"]
        print(f"{n:>10,} {marked:>11,} {plain:>8.2f}s {took:>11.2f}s {took / plain:>6.2f}x "
              f"{took - plain:>8.2f}s  (shown agreement {overall['shown_agreement']:.3f} on "
              f"{overall['shown_steps']:,} steps, blind {overall['blind_agreement']:.3f} on "
              f"{overall['blind_steps']:,}; changed {overall['changed_share']:.3f})", flush=True)


if __name__ == "__main__":
    main()
