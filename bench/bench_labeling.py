"""Labeling benchmark on PostgreSQL: next-task latency against project size, and
label-save / next-task latency with N concurrent simulated annotators.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
      python bench/bench_labeling.py --sizes 10000,100000,1000000 --annotators 50

The database named in DATABASE_URL is migrated and filled by the script (rows are
bulk-loaded with COPY); use a scratch database. Numbers are printed, never asserted.
Ratios are against the smallest size, measured in the same process.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import re
import subprocess
import os
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from annotate.models import Membership, Project  # noqa: E402
from annotate.services.queue import next_task  # noqa: E402

STEPS_PER_SOLUTION = 4
SOLUTIONS_PER_PROBLEM = 100


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def fmt(values: list[float]) -> str:
    return f"p50 {pct(values, 50):7.2f} ms  p99 {pct(values, 99):7.2f} ms  (n={len(values)})"


def build_project(slug: str, n_solutions: int, steps: int = 1) -> Project:
    """A project of ``n_solutions`` solutions (``steps`` steps each), loaded with COPY."""
    Project.objects.filter(slug=slug).delete()
    project = Project.objects.create(name=slug, slug=slug, overlap=1, lease_seconds=3600)
    n_problems = max(1, n_solutions // SOLUTIONS_PER_PROBLEM)
    t0 = time.perf_counter()
    with connection.cursor() as cur:
        with cur.copy("COPY annotate_problem (project_id, external_id, statement, statement_hash,"
                      " ground_truth_answer, reference_solution, subject, level, metadata, created)"
                      " FROM STDIN") as copy:
            for i in range(n_problems):
                text = f"{slug} problem {i}: compute {i} + 1."
                copy.write_row((project.pk, "", text, hashlib.sha256(text.encode()).hexdigest(),
                                str(i + 1), "", "", None, "{}", "now"))
        cur.execute("SELECT id FROM annotate_problem WHERE project_id = %s ORDER BY id", [project.pk])
        problems = [r[0] for r in cur.fetchall()]
        cur.execute("SELECT nextval(pg_get_serial_sequence('annotate_stepnode', 'id'))")
        # Reserve ids so that parents can be written in the same COPY.
        total_nodes = n_solutions * steps
        cur.execute("SELECT setval(pg_get_serial_sequence('annotate_stepnode', 'id'), "
                    "nextval(pg_get_serial_sequence('annotate_stepnode', 'id')) + %s)", [total_nodes])
        first_id = cur.fetchone()[0] - total_nodes
        last_ids = []
        with cur.copy("COPY annotate_stepnode (id, problem_id, parent_id, depth, text, text_hash,"
                      " author, generator, created) FROM STDIN") as copy:
            node_id = first_id
            for s in range(n_solutions):
                problem = problems[s // SOLUTIONS_PER_PROBLEM % len(problems)]
                parent = None
                for d in range(steps):
                    text = f"Solution {s}, step {d}: some reasoning."
                    if d == steps - 1:
                        text += "\n\n# Answer\n\n1"
                    copy.write_row((node_id, problem, parent, d, text,
                                    hashlib.sha256(text.encode()).hexdigest(), "import", "{}", "now"))
                    parent = node_id
                    node_id += 1
                last_ids.append((problem, parent))
        with cur.copy("COPY annotate_solution (project_id, problem_id, last_step_id, final_answer,"
                      " is_correct, source, external_id, is_gold, metadata, created)"
                      " FROM STDIN") as copy:
            for problem, last in last_ids:
                copy.write_row((project.pk, problem, last, "1", None, "import", "", False, "{}", "now"))
        cur.execute("ANALYZE annotate_problem; ANALYZE annotate_stepnode; ANALYZE annotate_solution;"
                    " ANALYZE annotate_assignment")
    print(f"  built {n_solutions:,} solutions x {steps} steps in {time.perf_counter() - t0:.1f} s")
    return project


def users(prefix: str, n: int, project: Project) -> list:
    model = get_user_model()
    out = []
    for i in range(n):
        user, _ = model.objects.get_or_create(username=f"{prefix}{i}")
        Membership.objects.get_or_create(project=project, user=user)
        out.append(user)
    return out


def mark_done(project: Project, fraction: float) -> int:
    """Submit the first ``fraction`` of the project's solutions (by a bot annotator), in SQL."""
    bot, _ = get_user_model().objects.get_or_create(username="bench-done-bot")
    with connection.cursor() as cur:
        cur.execute(
            """INSERT INTO annotate_assignment (status, source, started_at, finished_at, finish_reason,
                   finish_note, is_quality_control, is_screening, presentation, created, updated,
                   annotator_id, project_id, solution_id)
               SELECT 'submitted', 'labeling', now(), now(), 'solution', '', false, false, '[]',
                      now(), now(), %s, s.project_id, s.id
               FROM annotate_solution s
               WHERE s.project_id = %s AND s.id < (
                   SELECT min(id) + %s FROM annotate_solution WHERE project_id = %s)
                 AND NOT EXISTS (SELECT 1 FROM annotate_assignment a WHERE a.solution_id = s.id)""",
            [bot.pk, project.pk, int(fraction * project.solutions.count()), project.pk])
        done = cur.rowcount
        cur.execute("ANALYZE annotate_assignment")
    return done


def time_next_tasks(project: Project, people: list) -> list[float]:
    times = []
    for user in people:
        t0 = time.perf_counter()
        task = next_task(project, user)
        times.append((time.perf_counter() - t0) * 1000)
        assert task is not None
    return times


def bench_sizes(sizes: list[int], calls: int, done_fraction: float) -> dict:
    """next_task for ``calls`` annotators in turn: on a fresh project, then with the first
    ``done_fraction`` of it already labeled."""
    results = {}
    for size in sizes:
        print(f"size {size:,}")
        project = build_project(f"bench-size-{size}", size)
        people = users(f"size{size}-", 2 * calls + 5, project)
        for user in people[:5]:  # warm-up
            next_task(project, user)
        fresh = time_next_tasks(project, people[5:calls + 5])
        print(f"  next_task, fresh:            {fmt(fresh)}")
        results[(size, "fresh")] = fresh
        if done_fraction > 0:
            done = mark_done(project, done_fraction)
            later = time_next_tasks(project, people[calls + 5:])
            print(f"  next_task, {done:,} done ({done_fraction:.0%}): {fmt(later)}")
            results[(size, "done")] = later
    return results


CSRF = "b" * 32  # an unmasked CSRF secret: valid as both cookie and header


def session_cookie(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"sessionid={store.session_key}; csrftoken={CSRF}"


def start_server(port: int, workers: int, threads: int, conn_max_age: int) -> subprocess.Popen:
    # Persistent database connections (DB_CONN_MAX_AGE) save a connection set-up per request.
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ["DJANGO_SETTINGS_MODULE"],
               DB_CONN_MAX_AGE=str(conn_max_age), PYTHONWARNINGS="ignore")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "stepwise.wsgi", "-b", f"127.0.0.1:{port}",
         "-w", str(workers), "--threads", str(threads), "-k", "gthread", "--keep-alive", "30",
         "--log-level", "warning"],
        cwd=Path(__file__).resolve().parent.parent, env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/login/")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    sys.exit("gunicorn did not start")


def bench_concurrent(n_annotators: int, seconds: float, think: float, size: int, port: int,
                     workers: int, threads: int, conn_max_age: int) -> tuple[list, list]:
    """N annotators as HTTP clients of a real gunicorn server: next task, rate each step
    (the label save), finish; repeat until the time is up."""
    project = build_project("bench-concurrent", size, steps=STEPS_PER_SOLUTION)
    people = users("conc-", n_annotators, project)
    cookies = {u.pk: session_cookie(u) for u in people}
    connection.close()
    server = start_server(port, workers, threads, conn_max_age)
    saves, nexts, bursts, errors = [], [], [], []
    lock = threading.Lock()
    barrier = threading.Barrier(n_annotators)

    def annotator(user):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Cookie": cookies[user.pk], "X-CSRFToken": CSRF, "HX-Request": "true",
                   "Content-Type": "application/x-www-form-urlencoded"}
        rng = random.Random(user.pk)

        def call(method, url, body=None):
            nonlocal conn
            t0 = time.perf_counter()
            try:
                conn.request(method, url, body=body, headers=headers)
                resp = conn.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected):
                # The server closed an idle keep-alive connection: reconnect (not timed).
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                t0 = time.perf_counter()
                conn.request(method, url, body=body, headers=headers)
                resp = conn.getresponse()
            data = resp.read()
            return resp, data, (time.perf_counter() - t0) * 1000

        barrier.wait()
        stop = time.monotonic() + seconds
        first_call = True
        while time.monotonic() < stop:
            resp, data, dt = call("GET", f"/p/{project.slug}/next/")
            if resp.status != 204:
                errors.append(f"next {resp.status} {data[:80]!r}")
                return
            task_id = int(resp.getheader("HX-Redirect").rstrip("/").split("/")[-1])
            with lock:
                # The first call of all N annotators at the same instant is a burst that
                # queues behind the server's threads; it is reported apart.
                (bursts if first_call else nexts).append(dt)
            first_call = False
            resp, data, _ = call("GET", f"/task/{task_id}/")
            first = int(re.search(rb'data-node="(\d+)"', data).group(1))  # steps have consecutive ids
            for node_id in range(first, first + STEPS_PER_SOLUTION):
                time.sleep(rng.uniform(0, 2 * think))
                resp, data, dt = call("POST", f"/task/{task_id}/rate/",
                                      f"node={node_id}&rating=1&ms=900")
                if resp.status != 200:
                    errors.append(f"rate {resp.status} {data[:100]!r}")
                    return
                with lock:
                    saves.append(dt)
            resp, data, _ = call("POST", f"/task/{task_id}/finish/", "reason=solution")
            if resp.status != 204:
                errors.append(f"finish {resp.status} {data[:100]!r}")
                return

    threads_ = [threading.Thread(target=annotator, args=(u,)) for u in people]
    try:
        for t in threads_:
            t.start()
        for t in threads_:
            t.join()
    finally:
        server.terminate()
        server.wait(20)
    if errors:
        print("  errors:", errors[:5])
    print(f"  first next task, all {n_annotators} at once: {fmt(bursts)}")
    return saves, nexts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated project sizes (solutions) for next-task latency")
    parser.add_argument("--calls", type=int, default=200, help="next_task calls per size")
    parser.add_argument("--annotators", default="1,50", help="comma-separated concurrency levels")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration per concurrency level")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean think time between ratings, seconds (0: back-to-back)")
    parser.add_argument("--done-fraction", type=float, default=0.5,
                        help="share of each project labeled before the second next-task measurement")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--conn-max-age", type=int, default=60,
                        help="DB_CONN_MAX_AGE for the server (0: a new connection per request)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL.")
    call_command("migrate", verbosity=0)
    print(f"database {connection.settings_dict['NAME']} on {connection.vendor}, {os.cpu_count()} CPUs")

    for n in [int(x) for x in args.annotators.split(",") if x]:
        print(f"{n} concurrent annotators, think time ~{args.think}s, {args.seconds}s, gunicorn "
              f"{args.workers}x{args.threads} gthread, DB_CONN_MAX_AGE={args.conn_max_age}")
        saves, nexts = bench_concurrent(n, args.seconds, args.think, size=max(2000, n * 40),
                                        port=args.port, workers=args.workers, threads=args.threads,
                                        conn_max_age=args.conn_max_age)
        print(f"  label save (HTTP POST rate): {fmt(saves)}  ({len(saves) / args.seconds:.0f}/s)")
        print(f"  next task  (HTTP GET next, after the first): {fmt(nexts)}")

    sizes = [int(x) for x in args.sizes.split(",") if x]
    if not sizes:
        return
    results = bench_sizes(sizes, args.calls, args.done_fraction)
    base = statistics.median(results[(sizes[0], "fresh")])
    for (size, state), times in results.items():
        med = statistics.median(times)
        print(f"next_task at {size:>9,} ({state:5}): median {med:6.2f} ms, p99 {pct(times, 99):6.2f} ms,"
              f" median ratio to {sizes[0]:,} fresh: {med / base:.2f}x")


if __name__ == "__main__":
    main()
