"""Export benchmark: N step ratings in the TRL format, streamed, against a naive
DRF-serializer export, and the full-record PRM800K snapshot against the TRL one, in the
same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
        python bench/bench_export.py --steps 1000000

The data is created once (bulk inserts) and reused on later runs of the same size. The
streamed export runs in a child process so its peak RSS is its own. The naive export
serializes model instances with nested DRF serializers (what a first version of an export
view does) on a subset, since it holds everything in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
# DEBUG stays off: with it Django keeps every query (and its SQL) in memory.


def setup_django():
    import django

    django.setup()


def ensure_data(steps: int, per_solution: int) -> int:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from annotate.models import Assignment, Problem, Project, Solution, StepNode, StepRating
    from annotate.models.problems import content_hash

    slug = f"bench-{steps}-{per_solution}"
    project = Project.objects.filter(slug=slug).first()
    if project is not None:
        return project.pk
    from django.db import connection
    project = Project.objects.create(name=slug, slug=slug)
    user, _ = get_user_model().objects.get_or_create(username="bench-annotator")
    solutions = steps // per_solution
    batch = 2000
    t0 = time.perf_counter()
    for start in range(0, solutions, batch):
        n = min(batch, solutions - start)
        problems = Problem.objects.bulk_create([
            Problem(project=project, statement=f"Bench problem {start + i}: what is {i}+{i}?",
                    statement_hash=content_hash(f"Bench problem {start + i}: what is {i}+{i}?"),
                    ground_truth_answer=str(2 * i)) for i in range(n)])
        parents = [None] * n
        last = []
        for depth in range(per_solution):
            texts = [f"Step {depth + 1}: we compute {depth} and carry on with problem {p.pk}."
                     for p in problems]
            nodes = StepNode.objects.bulk_create([
                StepNode(problem=p, parent=parents[i], depth=depth, text=texts[i],
                         text_hash=content_hash(texts[i])) for i, p in enumerate(problems)])
            parents = nodes
            last.append(nodes)
        sols = Solution.objects.bulk_create([
            Solution(project=project, problem=p, last_step=parents[i], final_answer="x")
            for i, p in enumerate(problems)])
        assigns = Assignment.objects.bulk_create([
            Assignment(project=project, solution=s, annotator=user, status="submitted",
                       finish_reason="solution") for s in sols])
        ratings = []
        for depth, nodes in enumerate(last):
            for i, a in enumerate(assigns):
                ratings.append(StepRating(assignment=a, node=nodes[i],
                                          rating=(1, 0, 1, -1)[(i + depth) % 4]))
        StepRating.objects.bulk_create(ratings, batch_size=10000)
        print(f"  created {start + n}/{solutions} solutions "
              f"({time.perf_counter() - t0:.0f}s)", file=sys.stderr, flush=True)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # as autovacuum would, before anyone exports
    return project.pk


def streamed(project_id: int, out: Path, fmt: str = "trl") -> dict:
    """The real export path: chunked queries -> records -> ``fmt`` rows -> JSONL."""
    from exports.sinks import JsonlSink
    from exports.spec import normalize_spec
    from exports.writers import iter_rows

    spec = normalize_spec({"projects": [project_id], "format": fmt})
    t0 = time.perf_counter()
    sink = JsonlSink(out)
    steps = rows = 0
    for _split, row, n in iter_rows(spec):
        sink.add(row, n)
        rows += 1
        steps += n
    info = sink.close()
    seconds = time.perf_counter() - t0
    return {"rows": rows, "steps": steps, "seconds": seconds, "bytes": info["bytes"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def naive(project_id: int, limit: int, out: Path) -> dict:
    """What a first export view does: nested ModelSerializers over model instances."""
    from rest_framework import serializers

    from annotate.models import Assignment, StepRating

    class RatingS(serializers.ModelSerializer):
        text = serializers.CharField(source="node.text")

        class Meta:
            model = StepRating
            fields = ["node", "text", "rating"]

    class AssignmentS(serializers.ModelSerializer):
        ratings = RatingS(many=True)
        prompt = serializers.CharField(source="solution.problem.statement")

        class Meta:
            model = Assignment
            fields = ["id", "prompt", "ratings"]

    t0 = time.perf_counter()
    qs = Assignment.objects.filter(project_id=project_id).order_by("id")[:limit]
    data = AssignmentS(qs, many=True).data
    steps = 0
    with open(out, "w") as fh:
        for a in data:
            ratings = sorted(a["ratings"], key=lambda r: r["node"])
            row = {"prompt": a["prompt"], "completions": [r["text"] for r in ratings],
                   "labels": [r["rating"] >= 0 for r in ratings]}
            steps += len(ratings)
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return {"rows": len(data), "steps": steps, "seconds": time.perf_counter() - t0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--per-solution", type=int, default=10)
    parser.add_argument("--naive-steps", type=int, default=50_000,
                        help="size of the naive run (it holds everything in memory)")
    parser.add_argument("--phase", choices=["all", "streamed", "prm800k", "naive"], default="all")
    parser.add_argument("--project", type=int)
    args = parser.parse_args()
    setup_django()
    out = Path(os.environ.get("BENCH_OUT", "/tmp"))
    if args.phase == "streamed":
        print(json.dumps(streamed(args.project, out / "bench_trl.jsonl")))
        return
    if args.phase == "prm800k":
        print(json.dumps(streamed(args.project, out / "bench_prm800k.jsonl", "prm800k")))
        return
    if args.phase == "naive":
        print(json.dumps(naive(args.project, args.naive_steps // args.per_solution,
                               out / "bench_naive.jsonl")))
        return
    t0 = time.perf_counter()
    project_id = ensure_data(args.steps, args.per_solution)
    print(f"data ready in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    results = {}
    for phase in ("streamed", "prm800k", "naive"):
        proc = subprocess.run([sys.executable, __file__, "--phase", phase, "--project",
                               str(project_id), "--per-solution", str(args.per_solution),
                               "--naive-steps", str(args.naive_steps)],
                              capture_output=True, text=True, check=True)
        results[phase] = json.loads(proc.stdout.strip().splitlines()[-1])
    s, n = results["streamed"], results["naive"]
    s_rate, n_rate = s["steps"] / s["seconds"], n["steps"] / n["seconds"]
    print(f"streamed TRL export: {s['steps']:,} steps in {s['seconds']:.1f}s = "
          f"{s_rate:,.0f} steps/s, peak RSS {s['peak_rss_mb']:.0f} MB, {s['bytes'] / 1e6:.0f} MB")
    print(f"naive DRF export:    {n['steps']:,} steps in {n['seconds']:.1f}s = "
          f"{n_rate:,.0f} steps/s")
    print(f"ratio (streamed / naive steps per second): {s_rate / n_rate:.1f}x")
    f = results["prm800k"]
    f_rate = f["steps"] / f["seconds"]
    print(f"streamed PRM800K:    {f['steps']:,} steps in {f['seconds']:.1f}s = "
          f"{f_rate:,.0f} steps/s, peak RSS {f['peak_rss_mb']:.0f} MB, {f['bytes'] / 1e6:.0f} MB")
    print(f"ratio (PRM800K / TRL steps per second): {f_rate / s_rate:.2f}x")


if __name__ == "__main__":
    main()
