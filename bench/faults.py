"""Fault benchmark: what annotators and Runs go through when a part of production stops.

Real processes on 127.0.0.1 only: two redis-server processes of its own (the Celery broker and
the cache), gunicorn with the repo's gunicorn.conf.py and one solo Celery worker, on a scratch
PostgreSQL database that the script creates, migrates, seeds and drops. Scenarios:

* broker-down: HTTP annotators label a first-error project (a Bad rating queues a
  ``generate_candidates`` Run, which fails at once: the generator model does not exist) while
  the broker Redis is killed for ~10 s; an admin POSTs /api/exports/ meanwhile. Runs created
  while it was down must all finish once it is back (lost), each sent once (duplicates: Runs
  with attempts > 1); recovery is the time from its restart until they all finished.
* cache-down: the same, killing the cache Redis; recovery is the time from its restart until
  a request is served from it again (its first keyspace hit).
* worker-killed: a ``healthcheck`` Run (60 steps of 0.25 s) loses its solo worker to SIGKILL;
  a new worker takes over. Recovery: from the kill until the Run succeeded.

    python bench/faults.py --annotators 10 --seconds 30

Numbers are printed, never asserted. Logs of every process stay in the printed directory.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from http_annotators import HOST, PASSWORD, STEPS, Annotators, Client, Stats, latency_line  # noqa: E402

SCENARIOS = ("broker-down", "cache-down", "worker-killed")
LOST_AFTER = 180.0  # seconds after the fault ends before an unfinished Run counts as lost

PROCS: list[subprocess.Popen] = []  # every process started here, stopped in main()'s finally


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen | None, sig=signal.SIGTERM, wait: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Redis:
    """A redis-server of our own on a fixed port; kill() is SIGKILL, as a crash would be.

    ``aof``: append-only file, fsync every second, as docker-compose.yml runs Redis; a restart
    reads it back. Without it a restart comes back empty."""

    def __init__(self, port: int, workdir: Path, aof: bool):
        self.port, self.workdir, self.aof, self.proc = port, workdir, aof, None
        workdir.mkdir(parents=True, exist_ok=True)

    def client(self):
        import redis

        return redis.Redis(host=HOST, port=self.port, socket_connect_timeout=0.2, socket_timeout=0.5)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", HOST, "--save", "",
             "--appendonly", "yes" if self.aof else "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        PROCS.append(self.proc)
        client = self.client()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except Exception:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def keyspace_hits(self) -> int | None:
        try:
            return int(self.client().info("stats")["keyspace_hits"])
        except Exception:
            return None


def wait_for_log(proc: subprocess.Popen, log: Path, marker: str, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early:\n{log.read_text()[-3000:]}")
        if marker in log.read_text(errors="replace"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start:\n{log.read_text()[-3000:]}")


class Stack:
    """The broker, the cache, gunicorn and one solo worker of one scenario."""

    def __init__(self, name: str, env: dict, ports: dict, logs: Path, aof: bool, web: bool = True):
        self.name, self.env, self.ports, self.logs, self.web = name, env, ports, logs, web
        self.broker = Redis(ports["broker"], logs / f"{name}-broker", aof)
        self.cache = Redis(ports["cache"], logs / f"{name}-cache", aof)
        self.server: subprocess.Popen | None = None
        self.workers: list[subprocess.Popen] = []

    @property
    def server_log(self) -> Path:
        return self.logs / f"{self.name}-gunicorn.log"

    def start(self) -> None:
        self.broker.start()
        self.cache.start()
        self.start_worker()
        if self.web:
            log = open(self.server_log, "w")
            self.server = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "stepwise.wsgi", "-c", "gunicorn.conf.py",
                 "--no-control-socket"],
                cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
            log.close()
            PROCS.append(self.server)
            deadline = time.monotonic() + 90
            while True:
                try:
                    conn = http.client.HTTPConnection(HOST, self.ports["web"], timeout=5)
                    conn.request("GET", "/login/")
                    status = conn.getresponse().status
                    conn.close()
                    if status == 200:
                        break
                except OSError:
                    pass
                if self.server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("gunicorn did not start:\n" + self.server_log.read_text()[-3000:])
                time.sleep(0.3)

    def start_worker(self) -> subprocess.Popen:
        n = len(self.workers) + 1
        path = self.logs / f"{self.name}-worker{n}.log"
        log = open(path, "w")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "stepwise", "worker", "-Q", "default,gpu",
             "--pool=solo", "--concurrency=1", "--loglevel=INFO", "-n", f"faults-{self.name}-{n}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        PROCS.append(proc)
        self.workers.append(proc)
        wait_for_log(proc, path, "ready.", "celery worker")
        return proc

    def stop(self) -> None:
        stop(self.server)
        for proc in self.workers:
            stop(proc)
        self.broker.kill()
        self.cache.kill()




def tracebacks(log: Path, limit: int = 3) -> list[str]:
    """Distinct tracebacks in a log (by their exception line), with the line before each."""
    if not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    seen: dict[str, list] = {}
    i = 0
    while i < len(lines):
        if not lines[i].startswith("Traceback (most recent call last)"):
            i += 1
            continue
        start, j = max(0, i - 1), i + 1
        while j < len(lines):
            if not lines[j].strip() or lines[j].startswith((" ", "Traceback")):
                j += 1
                continue
            k = j + 1
            while k < len(lines) and not lines[k].strip():
                k += 1
            if k < len(lines) and lines[k].startswith(("During handling", "The above exception")):
                j = k + 1  # a chained exception: its traceback follows
                continue
            break
        block = lines[start:j + 1]
        last = block[-1] if block else ""
        seen.setdefault(last, [0, block])[0] += 1
        i = j + 1
    out = []
    for last, (count, block) in list(seen.items())[:limit]:
        trimmed = block[:3] + ["      ..."] + block[-22:] if len(block) > 25 else block
        out.append(f"  x{count}: {last}\n" + "\n".join(trimmed))
    return out


def fault_rows(stats: Stats) -> tuple[int, int, int]:
    requests = len(stats.calls)
    errors = stats.count(lambda c: c[2] is not None and c[2] >= 500)
    refused = stats.count(lambda c: c[2] is None)
    return requests, errors, refused


def describe_failures(stats: Stats, began: float, fault: float, back: float,
                      notes: list[str]) -> None:
    """One line per 5xx or failed connection, with its time against the fault."""
    for t, what, status, ms, detail in stats.calls:
        if status is None or status >= 500:
            notes.append(f"t={t - began:5.1f}s (fault at {fault - began:.1f}s, back at {back - began:.1f}s) "
                         f"{what} -> {status or 'connection error'} ({ms:.0f} ms) {detail[:160]!r}")


def export_while_down(port: int, stats: Stats, seed: dict, until: float, out: list[str]) -> None:
    """The admin asks for 3 exports, spread over the outage."""
    admin = Client(port, stats, {"Authorization": f"Bearer {seed['token']}"})
    now = time.monotonic()
    for k in (3, 2, 1):
        time.sleep(max(0.0, until - k * (until - now) / 4 - time.monotonic()))
        resp = admin.call("POST", "/api/exports/", json_body={
            "spec": {"projects": [seed["project"]], "format": "trl"}})
        if resp is None:
            out.append("connection error")
            continue
        try:
            notice = json.loads(resp.body).get("run", {}).get("notice", "")
        except (ValueError, AttributeError):
            notice = resp.text()[:80]
        out.append(f"{resp.status}" + (f" ({notice})" if notice else ""))
    admin.close()


def slowest(stats: Stats, lo: float, hi: float, began: float, n: int = 3) -> str:
    calls = sorted((c for c in stats.calls if lo <= c[0] < hi and c[2] is not None),
                   key=lambda c: -c[3])[:n]
    return ", ".join(f"{c[1]} {c[3]:.0f} ms at t={c[0] - began:.1f}s" for c in calls)


def scenario_down(kind: str, args, env: dict, ports: dict, logs: Path, seed: dict) -> dict:
    """broker-down or cache-down: annotators label while one Redis is killed and restarted."""
    from django.utils import timezone

    from workers.models import Run

    stack = Stack(kind, env, ports, logs, args.redis_aof == "yes")
    notes: list[str] = []
    row = {"scenario": kind, "runs": "-", "lost": "-", "dup": "-", "recovery": "-", "open": "-"}
    stats = Stats()
    began = fault = back = time.monotonic()
    try:
        stack.start()
        target = stack.broker if kind == "broker-down" else stack.cache
        first_run = (Run.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        crowd = Annotators(args.annotators, ports["web"], seed["slug"], stats, args.think, args.p_bad)
        before_fault = min(8.0, args.seconds / 4)
        seconds = max(args.seconds, before_fault + args.outage + 5)
        began = crowd.start(seconds)
        time.sleep(before_fault)
        hits_before = stack.cache.keyspace_hits()
        fault_wall, fault = timezone.now(), time.monotonic()
        target.kill()
        exports: list[str] = []
        exporter = threading.Thread(target=export_while_down, daemon=True, args=(
            ports["web"], stats, seed, fault + args.outage, exports))
        if kind == "broker-down":
            exporter.start()
        time.sleep(max(0.0, fault + args.outage - time.monotonic()))
        back_wall = timezone.now()
        target.start()
        back = time.monotonic()
        if kind == "broker-down":
            window = Run.objects.filter(created__gte=fault_wall, created__lte=back_wall)
            ids = list(window.values_list("pk", flat=True))
            unfinished = set(ids)
            recovery = None
            while time.monotonic() < back + LOST_AFTER:
                unfinished = set(Run.objects.filter(pk__in=ids).exclude(
                    status__in=[Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.CANCELLED])
                    .values_list("pk", flat=True))
                if not unfinished:
                    recovery = time.monotonic() - back
                    break
                time.sleep(0.25)
            exporter.join(timeout=60)
            row["runs"], row["lost"] = len(ids), len(unfinished)
            early = Run.objects.filter(pk__in=ids, published_at__lt=back_wall).count()
            if early:
                notes.append(f"{early} of them were published before the broker was back")
            row["recovery"] = f"{recovery:.1f}" if recovery is not None else f">{LOST_AFTER:.0f}"
            if unfinished:
                notes.append(f"lost Runs: {describe_runs(Run.objects.filter(pk__in=unfinished))}")
            notes.append("exports while down: " + ", ".join(exports))
        else:
            recovery = None
            while time.monotonic() < max(crowd.stop_at, back + 10):
                hits = target.keyspace_hits()
                if hits:
                    recovery = time.monotonic() - back
                    break
                time.sleep(0.1)
            row["recovery"] = f"{recovery:.1f}" if recovery is not None else "0 (n/m)"
            if recovery is None:
                notes.append("recovery not measured: no keyspace hit on the restarted cache "
                             "before the annotators stopped")
            else:
                notes.append("recovery = restart until the cache's first keyspace hit "
                             f"({hits_before} hits before the kill)")
        crowd.join()
        runs = Run.objects.filter(pk__gte=first_run)
        row["dup"] = runs.filter(attempts__gt=1).count()
        if kind == "cache-down":
            row["runs"] = runs.count()
        stuck = runs.exclude(status__in=[Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.CANCELLED])
        # The worker may still be working through a backlog: give it a bounded moment.
        deadline = time.monotonic() + 45
        while stuck.exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        row["open"] = stuck.count()
        if row["open"]:
            notes.append(f"Runs of the scenario still open at the end: {describe_runs(stuck)}")
            early = stuck.filter(created__lt=fault_wall, published_at__lt=fault_wall).count()
            if early:
                notes.append(f"{early} of them were created and published before the fault "
                             "(their message was on the broker when it died)")
        by_status = {}
        for kind_, status in runs.values_list("kind", "status"):
            by_status[f"{kind_}:{status}"] = by_status.get(f"{kind_}:{status}", 0) + 1
        notes.append("Runs: " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
        notes.append(f"labels: {crowd.counts['good']} good, {crowd.counts['bad']} bad, "
                     f"{crowd.counts['finished']} tasks finished"
                     + (f", {crowd.counts['no_login']} could not log in" if crowd.counts["no_login"] else "")
                     + (", ran out of tasks" if crowd.counts["out_of_tasks"] else ""))
        notes.append(latency_line(stats, began, fault, back))
        notes.append(f"slowest while down: {slowest(stats, fault, back, began)}")
        notes.append(f"slowest after: {slowest(stats, back, float('inf'), began)}")
        outbox = stack.server_log.read_text(errors="replace").count("the broker is unreachable")
        if kind == "broker-down":
            notes.append(f"gunicorn logged {outbox} publish(es) kept in the outbox")
    finally:
        stack.stop()
    row["requests"], row["5xx"], row["conn"] = fault_rows(stats)
    describe_failures(stats, began, fault, back, notes)
    tb = tracebacks(stack.server_log)
    if tb:
        notes.append("tracebacks in the gunicorn log:\n" + "\n".join(tb))
    row["notes"] = notes
    return row


def describe_runs(runs) -> str:
    return "; ".join(f"#{r.pk} {r.kind} {r.status} dispatch {r.dispatch} attempts {r.attempts} "
                     f"published {'yes' if r.published_at else 'no'}" for r in runs[:10])


def scenario_worker_killed(args, env: dict, ports: dict, logs: Path, seed: dict) -> dict:
    from workers.models import Run
    from workers.runs import start_run

    stack = Stack("worker-killed", env, ports, logs, args.redis_aof == "yes", web=False)
    notes: list[str] = []
    row = {"scenario": "worker-killed", "requests": 0, "5xx": 0, "conn": 0, "runs": 1, "lost": "-",
           "open": "-", "dup": "-", "recovery": "-"}
    try:
        stack.start()
        run = start_run("healthcheck", {"steps": 60, "pause": 0.25})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Run.objects.filter(pk=run.pk, progress_done__gte=3).exists():
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the healthcheck Run made no progress in 60 s")
        first = stack.workers[0]
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = time.monotonic()
        stack.start_worker()
        notes.append(f"new worker ready {time.monotonic() - killed:.1f} s after the kill")
        while time.monotonic() < killed + LOST_AFTER:
            run.refresh_from_db()
            if run.is_finished:
                break
            time.sleep(0.2)
        recovery = time.monotonic() - killed
        row["lost"] = row["open"] = 0 if run.status == Run.Status.SUCCEEDED else 1
        row["dup"] = max(0, run.attempts - 2)
        row["recovery"] = f"{recovery:.1f}" if run.is_finished else f">{LOST_AFTER:.0f}"
        notes.append(f"Run #{run.pk}: {run.status}, attempts {run.attempts}, dispatch {run.dispatch}, "
                     f"progress {run.progress_done}/{run.progress_total}")
    finally:
        stack.stop()
    row["notes"] = notes
    return row


# --- Set-up ---------------------------------------------------------------------------------

def create_database(url: str, drop_only: bool = False) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(n_annotators: int, n_solutions: int) -> dict:
    """A first-error project whose generator does not exist, its annotators and an admin token."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    from annotate.models import Membership, Problem, Project, Solution, StepNode
    from annotate.models.problems import content_hash
    from api.models import APIToken
    from api.services import issue_token

    t0 = time.perf_counter()
    project = Project.objects.create(name="Faults", slug="faults", mode=Project.Mode.FIRST_ERROR,
                                     overlap=1, lease_seconds=3600,
                                     generator={"model": "/nonexistent/model"})
    problems = Problem.objects.bulk_create([
        Problem(project=project, statement=(s := f"Faults problem {i}: what is {i} + 1?"),
                statement_hash=content_hash(s), ground_truth_answer=str(i + 1))
        for i in range(n_solutions)])
    parents: list[StepNode | None] = [None] * n_solutions
    for depth in range(STEPS):
        nodes = []
        for i, problem in enumerate(problems):
            text = f"Step {depth + 1}: {i} plus {depth} is {i + depth}."
            if depth == STEPS - 1:
                text += f"\n\n# Answer\n\n{i + 1}"
            nodes.append(StepNode(problem=problem, parent=parents[i], depth=depth, text=text,
                                  text_hash=content_hash(text)))
        parents = StepNode.objects.bulk_create(nodes)
    Solution.objects.bulk_create([
        Solution(project=project, problem=problem, last_step=parents[i], final_answer=str(i + 1))
        for i, problem in enumerate(problems)])
    users = get_user_model()
    password = make_password(PASSWORD)
    people = users.objects.bulk_create([users(username=f"faults-annotator{i}", password=password)
                                        for i in range(n_annotators)])
    Membership.objects.bulk_create([Membership(project=project, user=u) for u in people])
    admin = users.objects.create_user("faults-admin", password=PASSWORD)
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    _, key = issue_token(user=admin, name="faults", scope=APIToken.Scope.WRITE)
    print(f"seeded {n_solutions} solutions x {STEPS} steps, {n_annotators} annotators, an admin "
          f"token, in {time.perf_counter() - t0:.1f} s")
    return {"slug": project.slug, "project": project.pk, "token": key}


def stack_env(database: str, ports: dict, logs: Path, **extra: str) -> dict:
    """The environment of every process of a stack: production settings (DEBUG off) on
    127.0.0.1, the scratch database, the stack's own Redis servers."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "STEPWISE_", "DEBUG"))}
    env.update(
        DJANGO_SETTINGS_MODULE="stepwise.settings", DATABASE_URL=database,
        SECRET_KEY="faults-bench-" + os.urandom(16).hex(), ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0",
        RUN_HEARTBEAT_SECONDS="1", RUN_STALE_SECONDS="8", RUN_SWEEP_SECONDS="1",
        RUN_PUBLISH_GRACE_SECONDS="1", CELERY_BROKER_URL=f"redis://{HOST}:{ports['broker']}/0",
        REDIS_URL=f"redis://{HOST}:{ports['cache']}/0", GUNICORN_BIND=f"{HOST}:{ports['web']}",
        STEPWISE_DATA_DIR=str(logs / "data"), PYTHONUNBUFFERED="1", PYTHONWARNINGS="ignore",
    )
    env.update(extra)
    return env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--annotators", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="labeling time per scenario (stretched to end 5 s after the outage)")
    parser.add_argument("--outage", type=float, default=10.0, help="seconds a Redis stays down")
    parser.add_argument("--think", type=float, default=0.05, help="mean pause between ratings, s")
    parser.add_argument("--p-bad", type=float, default=0.08,
                        help="chance a step is rated Bad (each queues a generate_candidates Run)")
    parser.add_argument("--solutions", type=int, default=4000)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/stepwise_faults",
                        help="scratch database URL: dropped and created")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--redis-aof", choices=["yes", "no"], default="yes",
                        help="the Redis servers keep an append-only file, as docker-compose.yml's "
                             "does (no: a killed broker comes back empty)")
    parser.add_argument("--keep-db", action="store_true", help="leave the scratch database")
    args = parser.parse_args()
    chosen = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(chosen) - set(SCENARIOS)
    if unknown:
        sys.exit(f"unknown scenarios: {', '.join(sorted(unknown))}; known: {', '.join(SCENARIOS)}")
    if urlsplit(args.database).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("--database must be on 127.0.0.1")

    logs = Path(tempfile.mkdtemp(prefix="stepwise-faults-"))
    ports = {"broker": free_port(), "cache": free_port(), "web": free_port()}
    env = stack_env(args.database, ports, logs)
    os.environ.clear()
    os.environ.update(env)

    load = os.getloadavg()
    print(f"faults benchmark: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"database {args.database}; ports broker {ports['broker']}, cache {ports['cache']}, "
          f"web {ports['web']}; logs in {logs}")
    print(f"{args.annotators} annotators, {args.seconds:.0f} s per scenario, outage {args.outage:.0f} s, "
          f"think ~{args.think} s, p(bad) {args.p_bad}, Redis append-only file: {args.redis_aof}")
    print("target: 0 5xx outside the instant of a killed connection, 0 Runs lost, "
          f"recovery under {LOST_AFTER:.0f} s")

    rows = []
    created = False
    try:
        create_database(args.database)
        created = True
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        call_command("migrate", verbosity=0)
        data = seed(args.annotators, args.solutions)
        connections.close_all()
        for name in chosen:
            t0 = time.monotonic()
            print(f"\n== {name}", flush=True)
            if name == "worker-killed":
                row = scenario_worker_killed(args, env, ports, logs, data)
            else:
                row = scenario_down(name, args, env, ports, logs, data)
            for note in row["notes"]:
                print(f"  {note}")
            print(f"  ({time.monotonic() - t0:.0f} s)", flush=True)
            rows.append(row)
    finally:
        for proc in PROCS:
            stop(proc, wait=10)
        if created and not args.keep_db:
            try:
                from django.db import connections

                connections.close_all()
            except Exception:
                pass
            create_database(args.database, drop_only=True)

    print()
    head = f"{'scenario':14} {'requests':>8} {'5xx':>5} {'conn err':>8} {'Runs':>5} {'lost':>5} " \
           f"{'dup':>4} {'recovery s':>10} {'open':>5}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['scenario']:14} {r['requests']:>8} {r['5xx']:>5} {r['conn']:>8} {r['runs']!s:>5} "
              f"{r['lost']!s:>5} {r['dup']!s:>4} {r['recovery']!s:>10} {r['open']!s:>5}")
    print("Runs: broker-down counts the Runs created while the broker was down (lost: not finished "
          f"{LOST_AFTER:.0f} s after it was back); cache-down all of its Runs; worker-killed its one "
          "healthcheck Run. dup: Runs with attempts > 1 (worker-killed: attempts beyond 2). "
          "open: any Run of the scenario still unfinished at its end.")


if __name__ == "__main__":
    main()
