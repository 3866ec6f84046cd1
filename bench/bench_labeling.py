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
import gc
import hashlib
import http.client
import os
import random
import re
import statistics
import subprocess
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
                      " is_correct, source, external_id, is_gold, metadata, trajectory, created)"
                      " FROM STDIN") as copy:
            for problem, last in last_ids:
                copy.write_row((project.pk, problem, last, "1", None, "import", "", False, "{}",
                                "{}", "now"))
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
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore

    store = SessionStore()
    store[SESSION_KEY] = str(user.pk)
    store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    store[HASH_SESSION_KEY] = user.get_session_auth_hash()
    store.create()
    return f"sessionid={store.session_key}; csrftoken={CSRF}"


#: The server set-up measured before gunicorn.conf.py existed: 2 processes x 8 threads and
#: nothing else (no config file, so no gc.freeze in the workers).
BASELINE_SERVER = {"config": "/dev/null", "workers": 2, "threads": 8}


def start_server(port: int, workers: int | None, threads: int | None, conn_max_age: int,
                 redis_url: str, config: str = "gunicorn.conf.py", tree: str | None = None
                 ) -> subprocess.Popen:
    """gunicorn with the project's gunicorn.conf.py, as production runs it; --workers and
    --threads override its process and thread counts. ``tree``: serve another checkout."""
    # Persistent database connections (DB_CONN_MAX_AGE) save a connection set-up per request;
    # REDIS_URL puts sessions in the cache, as docker-compose.yml does.
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ["DJANGO_SETTINGS_MODULE"],
               DB_CONN_MAX_AGE=str(conn_max_age), PYTHONWARNINGS="ignore", REDIS_URL=redis_url)
    overrides = (["-w", str(workers)] if workers else []) + (["--threads", str(threads)] if threads else [])
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "stepwise.wsgi", "-c", config, "-k", "gthread",
         "--keep-alive", "30", "-b", f"127.0.0.1:{port}", *overrides, "--log-level", "warning"],
        cwd=tree or Path(__file__).resolve().parent.parent, env=env)
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
                     workers: int | None, threads: int | None, conn_max_age: int,
                     redis_url: str, warmup: float, config: str = "gunicorn.conf.py",
                     tree: str | None = None                     ) -> tuple[list, list]:
    """N annotators as HTTP clients of a real gunicorn server: next task, rate each step
    (the label save), finish; repeat until the time is up. Calls in the first ``warmup``
    seconds (the backlog of everyone's first request at once) are not counted."""
    project = build_project("bench-concurrent", size, steps=STEPS_PER_SOLUTION)
    people = users("conc-", n_annotators, project)
    cookies = {u.pk: session_cookie(u) for u in people}
    with connection.cursor() as cur:
        # The rebuild left dead rows: vacuum now, or autovacuum runs during the measurement.
        cur.execute("VACUUM ANALYZE annotate_assignment, annotate_steprating, annotate_ratingchange,"
                    " annotate_solution, annotate_stepnode, annotate_problem, django_session")
    connection.close()
    server = start_server(port, workers, threads, conn_max_age, redis_url, config, tree)
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
        measure_from = time.monotonic() + warmup
        stop = measure_from + seconds
        first_call = True
        while time.monotonic() < stop:
            resp, data, dt = call("POST", f"/p/{project.slug}/next/")
            if resp.status != 204:
                errors.append(f"next {resp.status} {data[:80]!r}")
                return
            task_id = int(resp.getheader("HX-Redirect").rstrip("/").split("/")[-1])
            with lock:
                # The first call of all N annotators at the same instant is a burst that
                # queues behind the server's threads; it is reported apart.
                if first_call:
                    bursts.append(dt)
                elif time.monotonic() >= measure_from:
                    nexts.append(dt)
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
                if time.monotonic() >= measure_from:
                    with lock:
                        saves.append(dt)
            resp, data, _ = call("POST", f"/task/{task_id}/finish/", "reason=solution")
            if resp.status != 204:
                errors.append(f"finish {resp.status} {data[:100]!r}")
                return

    # The load generator's own full garbage collections (this process holds Django) would
    # stall every client thread and count as server latency; so would a client thread whose
    # response has arrived waiting out the default 5 ms GIL switch interval.
    gc.freeze()
    sys.setswitchinterval(0.0005)
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


def bench_annotators(n: int, args) -> None:
    """``--repeat`` runs of the project's server set-up, each followed by one of the baseline
    set-up when ``--baseline`` is given: interleaved, so both see the same machine noise."""
    setups = [("gunicorn.conf.py", {"config": "gunicorn.conf.py", "workers": args.workers,
                                    "threads": args.threads})]
    if args.baseline:
        setups.append(("baseline 2x8, no config", BASELINE_SERVER))
    elif args.compare_tree:
        setups.append((f"the same, served from {args.compare_tree}",
                       {**setups[0][1], "tree": args.compare_tree}))
    p99s: dict[str, list[float]] = {name: [] for name, _ in setups}
    p50s: dict[str, list[float]] = {name: [] for name, _ in setups}
    for rep in range(args.repeat):
        for name, server in setups:
            print(f"{n} annotators, run {rep + 1}/{args.repeat}, {name} "
                  f"({server['workers'] or 'conf'}x{server['threads'] or 'conf'}), think ~{args.think}s, "
                  f"{args.seconds}s after {args.warmup}s warm-up, DB_CONN_MAX_AGE={args.conn_max_age}")
            saves, nexts = bench_concurrent(
                n, args.seconds, args.think, size=max(2000, n * 40), port=args.port,
                workers=server["workers"], threads=server["threads"], config=server["config"],
                tree=server.get("tree"),
                conn_max_age=args.conn_max_age, redis_url=args.redis_url, warmup=args.warmup)
            print(f"  label save (HTTP POST rate): {fmt(saves)}  ({len(saves) / args.seconds:.0f}/s)")
            print(f"  next task  (HTTP GET next, after the first): {fmt(nexts)}", flush=True)
            p99s[name].append(pct(saves, 99))
            p50s[name].append(pct(saves, 50))
    for name, values in p50s.items():
        print(f"label save p50 with {n} annotators, {name}: median of {len(values)} runs "
              f"{statistics.median(values):.1f} ms (runs: {', '.join(f'{v:.1f}' for v in values)})")
    if len(setups) == 2:
        mine, base = (statistics.median(v) for v in p50s.values())
        print(f"  ratio of median p50s, {setups[0][0]} / {setups[1][0]}: {mine / base:.2f}x"
              f" ({(1 - mine / base):.0%} lower)")
    for name, values in p99s.items():
        print(f"label save p99 with {n} annotators, {name}: median of {len(values)} runs "
              f"{statistics.median(values):.1f} ms (runs: {', '.join(f'{v:.1f}' for v in values)})")
    if len(setups) == 2:
        mine, base = (statistics.median(v) for v in p99s.values())
        print(f"  ratio of median p99s, {setups[0][0]} / {setups[1][0]}: {mine / base:.2f}x")


def bench_in_process(cycles: int, profile: str | None) -> None:
    """One annotator's cycle (next task, task panel, 4 saves, finish) through Django's test
    client in this process: the CPU cost and query count of each request, with no server,
    network or other clients. Stable where the concurrent numbers are not."""
    import cProfile
    import pstats

    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    project = build_project("bench-in-process", max(2000, cycles * 2), steps=STEPS_PER_SOLUTION)
    user = users("inproc-", 1, project)[0]
    client = Client(enforce_csrf_checks=True, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=CSRF)
    for part in session_cookie(user).split("; "):
        name, value = part.split("=", 1)
        client.cookies[name] = value
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    queries: dict[str, int] = {}
    profiler = cProfile.Profile() if profile else None

    def call(name, method, url, data=None, mode="time"):
        t0, c0 = time.perf_counter(), time.process_time()
        if mode == "warm-up":
            resp = getattr(client, method)(url, data)
        elif mode == "count":
            with CaptureQueriesContext(connection) as ctx:
                resp = getattr(client, method)(url, data)
            queries[name] = len(ctx.captured_queries)
            if os.environ.get("BENCH_SHOW_SQL"):
                print(f"--- {name}")
                for q in ctx.captured_queries:
                    print("   ", q["sql"][:300])
        else:
            if profiler and profile in name:
                profiler.enable()
            resp = getattr(client, method)(url, data)
            if profiler:
                profiler.disable()
            times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
            cpu.setdefault(name, []).append((time.process_time() - c0) * 1000)
        assert resp.status_code in (200, 204), (name, resp.status_code, resp.content[:200])
        return resp

    for cycle in range(cycles + 2):
        # The first cycle warms up (untimed, uncounted), the second counts queries, the rest time.
        mode = {0: "warm-up", 1: "count"}.get(cycle, "time")
        resp = call("next task", "post", f"/p/{project.slug}/next/", mode=mode)
        task_id = int(resp["HX-Redirect"].rstrip("/").split("/")[-1])
        resp = call("task panel", "get", f"/task/{task_id}/", mode=mode)
        first = int(re.search(rb'data-node="(\d+)"', resp.content).group(1))
        for node_id in range(first, first + STEPS_PER_SOLUTION):
            call("label save", "post", f"/task/{task_id}/rate/",
                 {"node": node_id, "rating": 1, "ms": 900}, mode=mode)
        call("finish", "post", f"/task/{task_id}/finish/", {"reason": "solution"}, mode=mode)
    print(f"in-process, {cycles} cycles of one annotator (test client, no server; wall time,"
          " then the CPU time of this process alone, which excludes PostgreSQL's):")
    for name, values in times.items():
        print(f"  {name:11} median {statistics.median(values):6.2f} ms  p90 {pct(values, 90):6.2f} ms"
              f"  (this process's CPU: median {statistics.median(cpu[name]):5.2f} ms)"
              f"  {queries[name]:2d} queries")
    if profiler:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(os.environ.get("BENCH_PROFILE_FILTER", ""), 45)
        stats.sort_stats("tottime").print_stats(25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000",
                        help="comma-separated project sizes (solutions) for next-task latency")
    parser.add_argument("--calls", type=int, default=200, help="next_task calls per size")
    parser.add_argument("--annotators", default="1,50", help="comma-separated concurrency levels")
    parser.add_argument("--seconds", type=float, default=20.0,
                        help="measured duration per concurrency level")
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="seconds run before measuring (all annotators start at once)")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean think time between ratings, seconds (0: back-to-back)")
    parser.add_argument("--done-fraction", type=float, default=0.5,
                        help="share of each project labeled before the second next-task measurement")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--conn-max-age", type=int, default=60,
                        help="DB_CONN_MAX_AGE for the server (0: a new connection per request)")
    parser.add_argument("--workers", type=int, default=None,
                        help="gunicorn worker processes (default: gunicorn.conf.py's)")
    parser.add_argument("--threads", type=int, default=None,
                        help="gunicorn threads per worker (default: gunicorn.conf.py's)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per concurrency level (the machine is noisy: compare medians)")
    parser.add_argument("--baseline", action="store_true",
                        help="interleave runs of the pre-gunicorn.conf.py set-up (2x8 threads)")
    parser.add_argument("--compare-tree", "--baseline-checkout", default=None, metavar="PATH",
                        help="interleave runs of the same set-up served from another checkout "
                             "(e.g. a `git worktree add /tmp/old <commit>`): old code against new")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/8",
                        help="the server's REDIS_URL (session cache); empty: per-process memory")
    parser.add_argument("--in-process", type=int, default=0, metavar="CYCLES",
                        help="only time each request of CYCLES annotator cycles in this process")
    parser.add_argument("--profile", default=None, metavar="REQUEST",
                        help="with --in-process: cProfile the requests whose name starts so")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("This benchmark needs PostgreSQL: set DATABASE_URL.")
    call_command("migrate", verbosity=0)
    print(f"database {connection.settings_dict['NAME']} on {connection.vendor}, {os.cpu_count()} CPUs")
    if args.in_process:
        return bench_in_process(args.in_process, args.profile)

    for n in [int(x) for x in args.annotators.split(",") if x]:
        bench_annotators(n, args)

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
