"""Verify mode against rating mode: keys, server round trips and label accuracy per solution,
and label-save latency, for a simulated annotator who labels by the exact checker.

Two first-error projects over the same seeded demo solutions (``seed_demo_content``, a
planted error in about half, carried forward; one candidate per position, so a Bad step ends
the walk): rating mode (no verify source) and verify mode (``verify_source`` = the demo
judge, run over the verify project's solutions by the judge service in process, as
``bench_lessons.py`` runs it). A logged-in annotator labels every solution of both projects
through the real views (Django's test client, production settings, PostgreSQL), one solution
in one project then the same in the other, alternating which goes first, so both modes share
the machine's noise. Its keys (``verify_keys.py``): rating mode, a digit per step; verify
mode, accept (``a``) when the machine's verdicts from the current step up to its first Bad
all agree with the checker, else confirm (``c``) the agreeing steps and a digit at the first
disagreeing one; both end with Enter, Enter (submit and confirm). The keys counted over HTTP
are checked against ``verify_keys.walk_counts``.

    python bench/bench_verify.py [--problems 30] [--per-problem 2] [--rounds 2]
    python bench/bench_verify.py --judge data/test-models/demo-judge-<hash>

Needs PostgreSQL (``--database-url``; the database is dropped and created). Prints a JSON
line per phase and a Markdown summary; results in docs/performance.md ("Verify mode: keys and
latency"). Numbers are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import verify_keys as vk  # noqa: E402

HTMX = {"HTTP_HX_REQUEST": "true"}
STATE = re.compile(r'id="task(?:-state)?"[^>]*?\sdata-walk-done="([01])"[^>]*?\sdata-reason="([^"]*)"'
                   r'[^>]*?\sdata-position="([^"]*)"', re.S)
ITEM = re.compile(r'<div class="item [^"]*"\s+data-node="(\d+)"(?: data-verdict="(-?\d*)")?', re.S)


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def seeded_pair(args):
    """The two projects over the same seeded solutions; solutions paired by position."""
    from annotate.models import Project, Solution
    from demo.seed import seed_demo_content

    out = {}
    for mode in ("rating", "verify"):
        project = Project.objects.create(
            name=f"Verify bench ({mode})", slug=f"verify-bench-{mode}",
            mode=Project.Mode.FIRST_ERROR, candidates_per_position=1, overlap=args.rounds + args.latency_rounds + 1,
            generator={"model": "/nonexistent/model"})  # no candidates are generated
        seed_demo_content(project, n_problems=args.problems, solutions_per_problem=args.per_problem,
                          error_rate=args.error_rate, seed=0)
        out[mode] = (project, list(Solution.objects.filter(project=project)
                                   .select_related("problem", "last_step").order_by("pk")))
    return out


def annotators(projects, rounds: int) -> list:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from annotate.models import Membership

    clients = []
    for r in range(rounds):
        user = get_user_model().objects.create(username=f"verify-bench-{r}")
        for project in projects:
            Membership.objects.create(project=project, user=user)
        client = Client()
        client.force_login(user)
        clients.append(client)
    return clients


class Walker:
    """One annotator's walk of one task through the views: the keys, POSTs and latencies."""

    def __init__(self, client, task: int, path: list[int], truth: list[bool], verdicts, lat):
        self.client, self.task, self.path, self.truth = client, task, path, truth
        self.verdicts, self.lat = verdicts, lat  # lat: {"rate": [...], "accept": [...], ...}
        self.keys = self.posts = 0
        self.seen: dict[int, str] = {}  # node -> the verdict the page showed ("" none)

    def post(self, what: str, url: str, data: dict) -> str:
        t0 = time.perf_counter()
        resp = self.client.post(url, data, **HTMX)
        self.lat.setdefault(what, []).append((time.perf_counter() - t0) * 1000)
        if resp.status_code not in (200, 204):
            raise RuntimeError(f"{what} {url}: {resp.status_code} {resp.content[:300]!r}")
        self.posts += 1
        return resp.content.decode()

    def read(self, html: str) -> tuple[bool, str, int | None]:
        for node, verdict in ITEM.findall(html):
            self.seen[int(node)] = verdict or ""
        m = STATE.search(html)
        if m is None:
            raise RuntimeError(f"No task state in the answer: {html[:300]!r}")
        return m.group(1) == "1", m.group(2), int(m.group(3)) if m.group(3) else None

    def run(self) -> None:
        resp = self.client.get(f"/task/{self.task}/")
        done, reason, at = self.read(resp.content.decode())
        last = None
        for _ in range(4 * len(self.path)):
            if done:
                break
            if self.verdicts is None:
                actions = vk.rating_decision(self.truth, at)
            else:
                shown = self.seen.get(self.path[at])
                want = self.verdicts[at]
                if shown != ("" if want is None else str(want)):
                    raise RuntimeError(f"Step {at} shows verdict {shown!r}, the source says {want}")
                actions = vk.verify_decision(self.verdicts, self.truth, at)
            for action in actions:
                self.keys += 1
                last = action.kind
                if action.kind == "accept":
                    html = self.post("accept", f"/task/{self.task}/accept/", {})
                else:
                    html = self.post(action.kind, f"/task/{self.task}/rate/",
                                     {"node": self.path[action.position],
                                      "rating": action.rating, "ms": 900})
                done, reason, at = self.read(html)
        if not done:
            raise RuntimeError(f"Task {self.task}: the walk did not end")
        self.keys += vk.submit_keys(last)
        self.post("finish", f"/task/{self.task}/finish/", {"reason": reason})


def label_all(pair, clients, truths, paths, verdicts) -> dict:
    """Every annotator labels every solution in both projects, alternating which goes first."""
    out = {mode: {"keys": [], "posts": [], "lat": {}, "tasks": []} for mode in pair}
    index = {mode: {s.pk: i for i, s in enumerate(solutions)} for mode, (_, solutions) in pair.items()}
    n = len(pair["rating"][1])
    for r, client in enumerate(clients):
        for k in range(n):
            for mode in (("rating", "verify") if (k + r) % 2 == 0 else ("verify", "rating")):
                task, i = take_task(client, pair, mode, index)
                walker = Walker(client, task, paths[mode][i], truths[i],
                                verdicts[i] if mode == "verify" else None, out[mode]["lat"])
                walker.run()
                expected = vk.walk_counts(truths[i], verdicts[i] if mode == "verify" else None)
                if (walker.keys, walker.posts) != (expected["keys"], expected["posts"]):
                    raise RuntimeError(f"{mode} solution {i}: {walker.keys} keys, {walker.posts} "
                                       f"POSTs over HTTP; the strategy says {expected}")
                out[mode]["keys"].append(walker.keys)
                out[mode]["posts"].append(walker.posts)
                out[mode]["tasks"].append((task, i))
    return out


def take_task(client, pair, mode: str, index) -> tuple[int, int]:
    """The next task in ``mode``'s project: (task id, the solution's index)."""
    from annotate.models import Assignment

    resp = client.post(f"/p/{pair[mode][0].slug}/next/", **HTMX)
    if resp.status_code != 204:
        raise RuntimeError(f"next task in {mode}: {resp.status_code} {resp.content[:200]!r}")
    task = int(resp["HX-Redirect"].rstrip("/").split("/")[-1])
    return task, index[mode][Assignment.objects.values_list("solution_id", flat=True).get(pk=task)]


def paired_saves(pair, clients, truths, paths) -> dict:
    """Label-save latency, like for like: each annotator opens the same solution in both
    projects and rates each walk step by the checker in one, then the other (alternating which
    goes first), so every save has a twin in the other mode a moment apart."""
    lat = {"rating": {}, "verify": {}}
    index = {mode: {s.pk: i for i, s in enumerate(solutions)} for mode, (_, solutions) in pair.items()}
    for r, client in enumerate(clients):
        for k in range(len(truths)):
            walkers = {}
            for mode in ("rating", "verify"):
                task, i = take_task(client, pair, mode, index)
                walkers[mode] = Walker(client, task, paths[mode][i], truths[i], None, lat[mode])
            if walkers["rating"].truth is not walkers["verify"].truth:
                raise RuntimeError("The queues gave different solutions.")
            truth = walkers["rating"].truth
            for pos in range(vk.walk_length(truth)):
                for mode in (("rating", "verify") if (k + r + pos) % 2 == 0 else ("verify", "rating")):
                    w = walkers[mode]
                    html = w.post("rate", f"/task/{w.task}/rate/",
                                  {"node": w.path[pos], "rating": vk.human_rating(truth[pos]),
                                   "ms": 900})
                    w.reason = w.read(html)[1]
            for w in walkers.values():
                w.post("finish", f"/task/{w.task}/finish/", {"reason": w.reason})
    return {mode: data["rate"] for mode, data in lat.items()}


def stored_accuracy(tasks, paths, truths) -> dict:
    """The stored human labels against the checker, on each walk's steps (to the first error),
    and their provenance: how many carry the verdict shown, and how many changed it."""
    from annotate.models import StepRating

    right = total = missing = shown = changed = 0
    for task, i in tasks:
        rated = {r.node_id: r for r in StepRating.objects.filter(assignment_id=task)}
        for pos in range(vk.walk_length(truths[i])):
            r = rated.get(paths[i][pos])
            if r is None or r.rating is None:
                missing += 1
                continue
            total += 1
            right += (r.rating > 0) == truths[i][pos]
            shown += r.shown is not None
            changed += bool(r.changed_from_shown)
    return {"accuracy": round(right / max(total, 1), 4), "labeled": total, "missing": missing,
            "with_shown": shown, "changed_from_shown": changed}


def queries_per_action(pair, client, truths, paths) -> dict:
    """SQL statements of one label save in each mode (a task's first step), and of one accept
    (the rest of a verify task's walk); the probe annotator's own tasks."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    index = {mode: {s.pk: i for i, s in enumerate(solutions)} for mode, (_, solutions) in pair.items()}
    out = {}
    for mode in ("rating", "verify"):
        task, i = take_task(client, pair, mode, index)
        while vk.walk_length(truths[i]) < 2:  # a walk that leaves a step to accept (both modes alike)
            html = client.post(f"/task/{task}/rate/", {"node": paths[mode][i][0], "rating": vk.human_rating(
                truths[i][0])}, **HTMX).content.decode()
            client.post(f"/task/{task}/finish/", {"reason": STATE.search(html).group(2)}, **HTMX)
            task, i = take_task(client, pair, mode, index)
        for what, url, data in (("save", f"/task/{task}/rate/",
                                 {"node": paths[mode][i][0], "rating": vk.human_rating(truths[i][0])}),
                                ("accept", f"/task/{task}/accept/", {})):
            if what == "accept" and mode == "rating":
                continue
            with CaptureQueriesContext(connection) as ctx:
                resp = client.post(url, data, **HTMX)
            if resp.status_code != 200:
                raise RuntimeError(f"{what} in {mode}: {resp.status_code} {resp.content[:200]!r}")
            out[f"{mode}_{what}"] = {"queries": len(ctx.captured_queries), "machine_label_reads": sum(
                "annotate_preannotation" in q["sql"] for q in ctx.captured_queries)}
    return out


def noisy_checker(project, solutions, truths, source: str) -> tuple[str, dict]:
    """``imported:checker-<p>``: the checker's labels, each flipped with probability 1 - p
    (a fixed seed), imported as machine labels."""
    import random

    from annotate.services.imports.machine_labels import import_label_records

    try:
        p = float(source.removeprefix("checker@"))
    except ValueError:
        raise SystemExit(f"--source: 'judge' or 'checker@<accuracy>', not {source!r}")
    rng = random.Random(0)
    rows = [(i, {"solution_id": s.pk, "step_labels": [
        (1 if ok else -1) * (1 if rng.random() < p else -1) for ok in truths[i]]})
        for i, s in enumerate(solutions)]
    name = f"checker-{p:g}"
    t0 = time.perf_counter()
    report = import_label_records(project, rows, source_name=name, source=name)
    if report.rejected:
        raise SystemExit(f"Import rejected rows: {report.rejected[:3]}")
    return f"imported:{name}", {"seconds": round(time.perf_counter() - t0, 1),
                                "steps": sum(map(len, truths))}


def emit(phase: str, **data) -> None:
    import json

    print(json.dumps({"phase": phase, **data}), flush=True)


def main() -> None:
    from bench_lessons import add_demo_args

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_demo_args(parser, "stepwise_bench_verify")
    parser.add_argument("--rounds", type=int, default=2,
                        help="annotators, each labeling every solution in both projects")
    parser.add_argument("--latency-rounds", type=int, default=3,
                        help="more annotators, each rating every walk step of every solution in "
                             "both projects, step by step in turn (the like-for-like save latency)")
    parser.add_argument("--judge", default="",
                        help="a demo judge's folder (default: build or reuse the cached one)")
    parser.add_argument("--source", default="judge",
                        help="the verify source: 'judge' (the demo judge), or 'checker@0.9': the "
                             "checker's labels, each flipped with probability 0.1, imported as "
                             "machine labels (a what-if at a chosen source accuracy)")
    args = parser.parse_args()

    import warnings

    from faults import create_database

    warnings.filterwarnings("ignore", message="No directory at")  # no collectstatic: not served here

    create_database(args.database_url)
    # Production settings; the test client's host and plain HTTP allowed.
    os.environ.update(ALLOWED_HOSTS="testserver,localhost", SECURE_SSL_REDIRECT="0")
    from bench_lessons import exact_truth, score, setup_django

    setup_django(args.database_url, (str(Path(args.judge).resolve().parent),) if args.judge else ())
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import lessons_sources

    from annotate.models import Project
    from annotate.selectors.labeling import solution_path
    from annotate.selectors.verdicts import verdicts_for

    started = time.perf_counter()
    pair = seeded_pair(args)
    from demo.labels import exact_labels_for_solution

    truths = [exact_labels_for_solution(s) for s in pair["rating"][1]]
    if truths != [exact_labels_for_solution(s) for s in pair["verify"][1]]:
        raise SystemExit("The two projects' seeded solutions differ.")
    paths = {mode: [[n.pk for n in solution_path(s)] for s in solutions]
             for mode, (_, solutions) in pair.items()}
    emit("seeded", solutions=len(truths), steps=sum(map(len, truths)),
         walk_steps=sum(vk.walk_length(t) for t in truths),
         wrong_solutions=sum(not all(t) for t in truths))

    verify_project, verify_solutions = pair["verify"]
    if args.source == "judge":
        spec, info = lessons_sources.judge(verify_solutions, args.judge or None)
    else:
        spec, info = noisy_checker(verify_project, verify_solutions, truths, args.source)
    emit("source", spec=spec, **info)
    Project.objects.filter(pk=verify_project.pk).update(verify_source=spec)
    verdicts = []
    for i, s in enumerate(verify_solutions):
        found = verdicts_for(spec, s.pk, paths["verify"][i])
        verdicts.append([found[n].rating if n in found else None for n in paths["verify"][i]])
    judge_labels = {s.pk: {pos: v for pos, v in enumerate(verdicts[i]) if v is not None}
                    for i, s in enumerate(verify_solutions)}
    judge_score = score(judge_labels, exact_truth(verify_solutions))
    emit("judge_on_walk_steps", **judge_score)

    clients = annotators([p for p, _ in pair.values()], args.rounds + args.latency_rounds + 1)
    labeled = label_all(pair, clients[:args.rounds], truths, paths, verdicts)
    paired = paired_saves(pair, clients[args.rounds:-1], truths, paths)
    queries = queries_per_action(pair, clients[-1], truths, paths)
    emit("queries", **queries)
    emit("paired_saves", **{f"{mode}_{p}_ms": round(pct(ms, p), 2) for mode, ms in paired.items()
                            for p in (50, 99)}, n=len(paired["rating"]))
    perfect = statistics.mean(vk.walk_counts(t, [vk.human_rating(ok) for ok in t])["keys"]
                              for t in truths)
    rows = {}
    for mode, data in labeled.items():
        lat = data["lat"]
        rows[mode] = {
            "keys_per_solution": round(statistics.mean(data["keys"]), 3),
            "posts_per_solution": round(statistics.mean(data["posts"]), 3),
            **{f"{what}_p50_ms": round(pct(ms, 50), 2) for what, ms in lat.items()},
            **{f"{what}_p99_ms": round(pct(ms, 99), 2) for what, ms in lat.items()},
            **{f"{what}_n": len(ms) for what, ms in lat.items()},
            "label_accuracy": stored_accuracy(data["tasks"], paths[mode], truths),
        }
        emit("labeled", mode=mode, **rows[mode])
    # Label saves: every rate POST (a digit or a confirm) in each mode.
    saves = {mode: data["lat"].get("rate", []) + data["lat"].get("confirm", [])
             for mode, data in labeled.items()}
    keys = {mode: statistics.mean(d["keys"]) for mode, d in labeled.items()}
    by_kind = {}
    for kind, test in (("right", all), ("with an error", lambda t: not all(t))):
        picked = [j for j, t in enumerate(truths) if test(t)]
        by_kind[kind] = {mode: statistics.mean(labeled[mode]["keys"][n]
                                               for n, (_, i) in enumerate(labeled[mode]["tasks"])
                                               if i in picked) for mode in labeled}
    posts = {mode: statistics.mean(d["posts"]) for mode, d in labeled.items()}
    seconds = time.perf_counter() - started

    print(f"\n{len(truths)} solutions ({sum(not all(t) for t in truths)} with an error), "
          f"{sum(vk.walk_length(t) for t in truths)} walk steps; {args.rounds} annotator(s) x "
          f"both projects; source {spec}: {info['seconds']} s over {info['steps']} steps; {seconds:.0f} s in all\n")
    print(f"{spec} on the walk steps: accuracy {judge_score['accuracy']}, balanced "
          f"{judge_score['balanced_accuracy']} (good / bad recall {judge_score['good_recall']} / "
          f"{judge_score['bad_recall']})\n")
    print("| mode | keys / solution | POSTs / solution | stored labels' accuracy | "
          "label save p50 / p99 (ms) | accept p50 / p99 (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for mode in ("rating", "verify"):
        acc = rows[mode]["label_accuracy"]
        accept = labeled[mode]["lat"].get("accept", [])
        print(f"| {mode} | {keys[mode]:.2f} | {posts[mode]:.2f} | {acc['accuracy']} "
              f"({acc['labeled']} steps, {acc['missing']} missing; {acc['with_shown']} with a verdict "
              f"shown, {acc['changed_from_shown']} changed) | "
              + (f"{pct(saves[mode], 50):.1f} / {pct(saves[mode], 99):.1f} (n={len(saves[mode])})"
                 if saves[mode] else "- (every step accepted)") + " | "
              + (f"{pct(accept, 50):.1f} / {pct(accept, 99):.1f} (n={len(accept)})" if accept else "-")
              + " |")
    for kind, k in by_kind.items():
        print(f"\nsolutions {kind}: keys rating {k['rating']:.2f}, verify {k['verify']:.2f} "
              f"({k['rating'] / k['verify']:.2f}x)", end="")
    print(f"\n\nA perfect source would give {perfect:.2f} keys per solution in verify mode "
          f"({keys['rating'] / perfect:.2f}x fewer than rating mode): the ceiling on this data.")
    print("SQL per action (queries, of them machine-label reads): " + "; ".join(
        f"{k} {v['queries']} ({v['machine_label_reads']})" for k, v in queries.items()))
    print(f"Label saves like for like (the same steps rated in both projects in turn, n={len(paired['rating'])} "
          f"each): rating p50 {pct(paired['rating'], 50):.1f} / p99 {pct(paired['rating'], 99):.1f} ms, "
          f"verify p50 {pct(paired['verify'], 50):.1f} / p99 {pct(paired['verify'], 99):.1f} ms; verify / "
          f"rating p50 {pct(paired['verify'], 50) / pct(paired['rating'], 50):.2f}x, p99 "
          f"{pct(paired['verify'], 99) / pct(paired['rating'], 99):.2f}x")
    print(f"\nkeys rating / verify: {keys['rating'] / keys['verify']:.2f}x; POSTs rating / verify: "
          f"{posts['rating'] / posts['verify']:.2f}x; label save verify / rating, like for like: "
          f"p50 {pct(paired['verify'], 50) / pct(paired['rating'], 50):.2f}x, p99 "
          f"{pct(paired['verify'], 99) / pct(paired['rating'], 99):.2f}x")


if __name__ == "__main__":
    main()
