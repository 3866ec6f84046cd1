"""Long-trace import throughput against the PRM800K bulk path, in steps per second, side by side.

On one throwaway database (``test_<name>``), in this process, one after the other:

1. the PRM800K bulk path (``import_file(..., "prm800k")``) on replicas of the shared PRM800K
   records (``bench_ingest.replica``: each replica its own problem, steps and labeler); a step
   is a rated completion (a node and its rating);
2. ``deltabench`` on replicas of the 9 shared DeltaBench traces (each replica its own question,
   so its own tree): a step is a paragraph (a node; most rated through their section), plus
   the trace and the step groups;
3. ``trace`` on the same traces wrapped as ``<think>...</think>`` + the answer, cut by the
   ``blank_line`` strategy, then by ``markers`` (the segmentation's cost included; markers
   cut these traces into few long steps, so its steps/s mostly shows the per-trace cost).

The ratio is each trace path's steps/s over the PRM800K path's (the issue's bar: >= 0.5x).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
        python bench/bench_trace_import.py --prm-replicas 100 --trace-replicas 30
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

from bench_ingest import load_records, write_replicas  # noqa: E402
from scratch import scratch_database  # noqa: E402


def write_traces(records: list[dict], replicas: int, folder: Path) -> tuple[Path, Path, int]:
    """DeltaBench and ``<think>`` replicas; (deltabench file, trace file, paragraphs)."""
    deltabench, think = folder / "deltabench.jsonl", folder / "think.jsonl"
    paragraphs = 0
    with open(deltabench, "w") as db, open(think, "w") as th:
        for k in range(replicas):
            for rec in records:
                r = dict(rec, question=f"{rec['question']} [t{k}]", id=f"{rec['id']}-{k}")
                paragraphs += rec["long_cot"].count("\n\n") + 1
                db.write(json.dumps(r) + "\n")
                th.write(json.dumps({"question": r["question"], "id": r["id"],
                                     "text": f"<think>\n{rec['long_cot']}\n</think>\n\n"
                                             f"The answer is \\boxed{{{rec['answer']}}}."}) + "\n")
    return deltabench, think, paragraphs


def timed(project, path: Path, fmt: str, options: dict) -> tuple[float, object]:
    from annotate.services.imports import import_file

    t0 = time.perf_counter()
    report = import_file(project, path, fmt, options)
    return time.perf_counter() - t0, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prm-replicas", type=int, default=100,
                        help="Copies of the 12 shared PRM800K records (default 100).")
    parser.add_argument("--trace-replicas", type=int, default=30,
                        help="Copies of the 9 DeltaBench traces (default 30: 270 traces).")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection

    from annotate.models import Project, SolutionTrace

    data = Path(args.data)
    with scratch_database("bench-trace-") as (db_name, folder):
        prm_path = folder / "prm800k.jsonl"
        n_prm, prm_steps = write_replicas(load_records(data / "prm800k"), args.prm_replicas, prm_path)
        traces = [json.loads(line) for line in
                  (data / "deltabench" / "examples.jsonl").read_text().splitlines() if line.strip()]
        db_path, think_path, paragraphs = write_traces(traces, args.trace_replicas, folder)
        n_traces = len(traces) * args.trace_replicas
        print(f"database: {connection.vendor} ({db_name})")
        print(f"PRM800K: {n_prm} records, {prm_steps} rated steps; traces: {n_traces} records, "
              f"{paragraphs} paragraphs, {db_path.stat().st_size / 2**20:.0f} MiB")

        prm_s, prm = timed(Project.objects.create(name="p", slug="p"), prm_path, "prm800k",
                           {"grade_answers": False})
        assert prm.created == n_prm and not prm.rejected, prm.summary()
        db_s, db = timed(Project.objects.create(name="d", slug="d"), db_path, "deltabench", {})
        assert db.created == n_traces and not db.rejected, db.summary()
        runs = [("deltabench", paragraphs, db_s, db, db_path)]
        for strategy in ("blank_line", "markers"):
            think_project = Project.objects.create(name=strategy, slug=strategy.replace("_", "-"))
            th_s, th = timed(think_project, think_path, "trace", {"segmentation": strategy})
            assert th.created == n_traces and not th.rejected, th.summary()
            th_steps = sum(len(s) for s in SolutionTrace.objects.filter(
                solution__project=think_project).values_list("spans", flat=True))
            runs.append((f"trace ({strategy})", th_steps, th_s, th, think_path))

        prm_rate, prm_mib = prm_steps / prm_s, prm_path.stat().st_size / 2**20 / prm_s
        print(f"prm800k bulk path     : {prm_rate:8.0f} steps/s, {prm_mib:.2f} MiB/s of file "
              f"({prm_s:.1f}s; {dict(prm.objects)})")
        for name, steps, seconds, report, path in runs:
            rate, mib = steps / seconds, path.stat().st_size / 2**20 / seconds
            print(f"{name:<22}: {rate:8.0f} steps/s, {mib:.2f} MiB/s of file ({seconds:.1f}s, "
                  f"{steps} steps, {n_traces / seconds:.0f} traces/s; {dict(report.objects)}); "
                  f"{rate / prm_rate:.2f}x the PRM800K path's steps/s, {mib / prm_mib:.2f}x its MiB/s")


if __name__ == "__main__":
    main()
