"""A ``resegment`` Run's re-cut throughput against the old in-request loop, side by side.

On one throwaway database (``test_<name>``), in this process: the shared DeltaBench traces
(replicated, each copy its own question) are imported twice as ``<think>`` traces cut by
``blank_line``, into two projects. Then both are re-cut by ``sentence``:

1. baseline: ``resegment(solution, ...)`` in a loop, as the console's request did;
2. the Run's work (``generation.resegmenting.resegment_solutions``) under a real ``Run`` row
   and ``RunContext``: progress and a cancel check per trace, and the Run and report written
   into each trace;
3. the same Run again (a redelivered message): every trace skipped.

Prints traces/s and the ratio to the baseline (no worker: the Run's own cost is measured).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
        python bench/bench_resegment_run.py --replicas 10 --data ../shared/data
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from bench_trace_import import write_traces  # noqa: E402
from scratch import scratch_database  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=10,
                        help="Copies of the 9 DeltaBench traces (default 10: 90 traces).")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    from annotate.models import Project, Solution
    from annotate.services.imports import import_file
    from annotate.services.resegment import resegment
    from generation.resegmenting import resegment_solutions
    from workers.models import Run
    from workers.runs import RunContext

    with scratch_database("bench-recut-") as (db_name, folder):
        traces = [json.loads(line) for line in (Path(args.data) / "deltabench" / "examples.jsonl")
                  .read_text().splitlines() if line.strip()]
        _, think_path, _ = write_traces(traces, args.replicas, folder)
        projects = []
        for slug in ("loop", "run"):
            project = Project.objects.create(name=slug, slug=slug)
            report = import_file(project, think_path, "trace", {"segmentation": "blank_line"})
            assert not report.rejected, report.summary()
            projects.append(project)
        ids = [list(Solution.objects.filter(project=p).order_by("pk").values_list("pk", flat=True))
               for p in projects]
        n = len(ids[0])
        print(f"database: {connection.vendor} ({db_name}); {n} traces per project")

        t0 = time.perf_counter()
        for solution in Solution.objects.filter(pk__in=ids[0]).order_by("pk"):
            resegment(solution, strategy="sentence")
        loop_s = time.perf_counter() - t0

        run = Run.objects.create(kind="resegment", project=projects[1], status="running")
        t0 = time.perf_counter()
        report = resegment_solutions(RunContext(run), ids[1], "sentence", {}, {})
        run_s = time.perf_counter() - t0
        assert report["recut"] == n, report
        t0 = time.perf_counter()
        again = resegment_solutions(RunContext(run), ids[1], "sentence", {}, {})
        again_s = time.perf_counter() - t0
        assert again == report

        print(f"in-request loop (baseline): {n / loop_s:7.1f} traces/s ({loop_s:.2f}s)  1.00x")
        print(f"resegment Run             : {n / run_s:7.1f} traces/s ({run_s:.2f}s)  "
              f"{loop_s / run_s:.2f}x")
        print(f"redelivered Run (skips)   : {n / again_s:7.1f} traces/s ({again_s:.2f}s)  "
              f"{loop_s / again_s:.2f}x")


if __name__ == "__main__":
    main()
