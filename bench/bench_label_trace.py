"""Long-trace labeling benchmark on PostgreSQL, in process (Django's test client, no server):
label-save latency (p50, p99) and answer bytes at several trace lengths in the same run,
and the page load (server time) of the 362-paragraph DeltaBench trace.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
      python bench/bench_label_trace.py --steps 5,50,362,1000 --saves 30 --repeat 3

Each length gets a fresh task of the DeltaBench trace (paragraphs repeated past 362), in
first-error mode. "head": the first saves of the task (few steps shown); "tail": the last
saves, with every earlier step already rated and shown (the largest page). Ratios are
against the shortest length, measured in the same run. Numbers are printed, never asserted.
The database is migrated and written to: use a scratch database.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from annotate.models import Membership, Project, StepRating  # noqa: E402
from annotate.selectors.labeling import solution_path  # noqa: E402
from tests.trace_factories import make_trace_solution  # noqa: E402

HTMX = {"HTTP_HX_REQUEST": "true"}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def task_for(steps: int, tag: str) -> tuple[Client, int, list[int]]:
    slug = f"bench-trace-{tag}-{steps}"
    Project.objects.filter(slug=slug).delete()
    project = Project.objects.create(name=slug, slug=slug, overlap=1, lease_seconds=3600)
    solution = make_trace_solution(project, steps, statement=f"{slug}: the DeltaBench problem")
    user, _ = get_user_model().objects.get_or_create(username=f"{slug}-ann")
    Membership.objects.get_or_create(project=project, user=user)
    client = Client()
    client.force_login(user)
    resp = client.post(f"/p/{slug}/next/", **HTMX)
    task = int(resp["HX-Redirect"].rstrip("/").split("/")[-1])
    return client, task, [n.pk for n in solution_path(solution)]


def pre_rate(task: int, nodes: list[int]) -> None:
    """Rate ``nodes`` Great directly (set-up, not measured)."""
    StepRating.objects.bulk_create(StepRating(assignment_id=task, node_id=n, rating=1)
                                   for n in nodes)


def time_saves(client: Client, task: int, nodes: list[int]) -> tuple[list, list, int]:
    times, sizes, queries = [], [], 0
    for i, node in enumerate(nodes):
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            resp = client.post(f"/task/{task}/rate/", {"node": node, "rating": 1, "ms": 900}, **HTMX)
            dt = (time.perf_counter() - t0) * 1000
        assert resp.status_code == 200, resp.content[:200]
        if i:  # the first save warms up
            times.append(dt)
            sizes.append(len(resp.content))
            queries = len(ctx.captured_queries)
    return times, sizes, queries


def bench_saves(lengths: list[int], saves: int, repeat: int = 1) -> None:
    """``repeat`` rounds, each timing every length in turn (interleaved, so that all lengths
    see the same machine noise); the summary gives the median over rounds of each p50."""
    p50s: dict[tuple[int, str], list[float]] = {}
    print(f"label save (POST rate, answer in parts), {saves} saves per row, in process:")
    for rnd in range(repeat):
        rows = {}
        for steps in lengths:
            n = min(saves + 1, steps)
            client, task, nodes = task_for(steps, f"head{rnd}")
            head = time_saves(client, task, nodes[:n])
            client, task, nodes = task_for(steps, f"tail{rnd}")
            pre_rate(task, nodes[: steps - n])
            client.get(f"/task/{task}/")  # the page as the annotator opens it (stores nothing)
            tail = time_saves(client, task, nodes[steps - n:])
            rows[steps] = (head, tail)
        base_head, base_tail = (statistics.median(x[0]) for x in rows[lengths[0]])
        for steps, parts in rows.items():
            for name, (times, sizes, queries), base in zip(("head", "tail"), parts,
                                                           (base_head, base_tail), strict=True):
                p50s.setdefault((steps, name), []).append(statistics.median(times))
                print(f"  round {rnd + 1}/{repeat}: {steps:5d} steps, {name}: p50 {pct(times, 50):6.2f} ms"
                      f"  p99 {pct(times, 99):6.2f} ms"
                      f"  p50 ratio to {lengths[0]} steps {statistics.median(times) / base:4.2f}x"
                      f"  answer {min(sizes)}-{max(sizes)} bytes  {queries} queries")
    print(f"median over {repeat} rounds of each round's p50 (ratio: against {lengths[0]} steps):")
    for name in ("head", "tail"):
        base = statistics.median(p50s[(lengths[0], name)])
        for steps in lengths:
            values = p50s[(steps, name)]
            print(f"  {steps:5d} steps, {name}: p50 {statistics.median(values):6.2f} ms"
                  f"  ratio {statistics.median(values) / base:4.2f}x"
                  f"  (rounds: {', '.join(f'{v:.1f}' for v in values)})")


def bench_page(steps: int, loads: int) -> None:
    for state in ("fresh", "resumed"):
        client, task, nodes = task_for(steps, f"page-{state}")
        if state == "resumed":
            pre_rate(task, nodes[:-1])
        times, size = [], 0
        for i in range(loads + 1):
            t0 = time.perf_counter()
            resp = client.get(f"/task/{task}/")
            dt = (time.perf_counter() - t0) * 1000
            assert resp.status_code == 200
            if i:
                times.append(dt)
                size = len(resp.content)
        shown = len(re.findall(rb'class="item step', resp.content))
        print(f"page load (GET task, full page), {steps} steps, {state} ({shown} shown): "
              f"p50 {pct(times, 50):6.2f} ms  p99 {pct(times, 99):6.2f} ms  {size:,} bytes"
              f"  (n={len(times)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", default="5,50,362,1000", help="trace lengths, comma-separated")
    parser.add_argument("--saves", type=int, default=30, help="timed saves per length and phase")
    parser.add_argument("--page-steps", type=int, default=362)
    parser.add_argument("--loads", type=int, default=20, help="timed page loads")
    parser.add_argument("--repeat", type=int, default=1,
                        help="rounds of the save timings, lengths interleaved within each")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the start-up objects to the garbage collector (gunicorn's"
                             " workers freeze them: gunicorn.conf.py, post_worker_init)")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL.")
    call_command("migrate", verbosity=0)
    if not args.no_freeze:
        # As a gunicorn worker does once it has loaded Django: without it, the full
        # collections that walk Django's ~150k start-up objects land on the saves that
        # allocate most (the long traces) and are counted as their latency.
        gc.freeze()
    print(f"database {connection.settings_dict['NAME']}, {os.cpu_count()} CPUs,"
          f" start-up objects {'left to' if args.no_freeze else 'frozen out of'} the GC")
    bench_saves([int(x) for x in args.steps.split(",") if x], args.saves, args.repeat)
    bench_page(args.page_steps, args.loads)


if __name__ == "__main__":
    main()
