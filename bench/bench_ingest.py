"""PRM800K-sized bulk import throughput, in rated steps per second, side by side.

Replicates the shared PRM800K records with varied text (each replica gets its own
problem statement, step texts and labeler, so every replica writes a new tree) into a
JSONL file, then, on one throwaway database (``test_<name>``):

1. the baseline: the importer as it was before the bulk path (one savepoint and several
   queries per row), loaded from git revision ``--baseline-rev`` and run on the first
   ``--baseline-replicas`` replicas (it is too slow for the full file);
2. ``import_file`` on the whole file, in a child process so its peak RSS is its own;
3. the same file again (every row a duplicate), also in a child process;
4. the physical limit: the rows step 2 wrote, dumped, the tables emptied, and the rows
   written back with a plain ``COPY`` (no validation, same tables and indexes).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
        python bench/bench_ingest.py --replicas 400 --baseline-replicas 20
"""

import argparse
import atexit
import importlib.util
import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from bench.scratch import scratch_database  # noqa: E402

#: The last commit with the row-at-a-time importer.
BASELINE_REV = "967216b"
#: The tables an import writes, in the order a COPY can refill them.
TABLES = ("annotate_problem", "annotate_stepnode", "annotate_solution", "annotate_assignment",
          "annotate_steprating")


def load_records(data: Path) -> list[dict]:
    return [json.loads(line) for name in ("phase1_sample.jsonl", "phase2_sample.jsonl")
            for line in (data / name).read_text().splitlines() if line.strip()]


def replica(rec: dict, k: int, mark: str = "r") -> dict:
    r = json.loads(json.dumps(rec))
    tag = f" [{mark}{k}]"
    r["labeler"] = f"{r['labeler']}-{k}"
    q = r["question"]
    q["problem"] += tag
    if q.get("pre_generated_steps"):
        q["pre_generated_steps"] = [s + tag for s in q["pre_generated_steps"]]
    for step in r["label"]["steps"]:
        for c in step["completions"]:
            c["text"] += tag
        if step["human_completion"]:
            step["human_completion"]["text"] += tag
    return r


def write_replicas(records: list[dict], replicas: int, path: Path, mark: str = "r") -> tuple[int, int]:
    """(records, rated steps) written to ``path``."""
    steps = 0
    with open(path, "w") as fh:
        for k in range(replicas):
            for rec in records:
                r = replica(rec, k, mark)
                steps += sum(len(s["completions"]) for s in r["label"]["steps"])
                fh.write(json.dumps(r) + "\n")
    return replicas * len(records), steps


def load_baseline(rev: str):
    """The importer package at ``rev``, imported under another name."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "annotate/services/imports"],
                             check=True, capture_output=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="baseline-imports-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(folder, filter="data")
    init = folder / "annotate" / "services" / "imports" / "__init__.py"
    spec = importlib.util.spec_from_file_location("baseline_imports", init,
                                                  submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_imports"] = module
    spec.loader.exec_module(module)
    return module


def child(args) -> None:
    """Import one file into one project and print seconds, peak RSS and the report."""
    import django

    django.setup()
    from annotate.models import Project
    from annotate.services.imports import import_file

    project = Project.objects.get(slug=args.child_project)
    t0 = time.perf_counter()
    report = import_file(project, args.child, "prm800k", {"grade_answers": False})
    seconds = time.perf_counter() - t0
    print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                      / 1024, "created": report.created, "duplicates": report.duplicates,
                      "rejected": len(report.rejected), "objects": dict(report.objects)}))


def run_child(path: Path, slug: str, db_name: str) -> dict:
    env = {**os.environ, "STEPWISE_TEST_WORKER": "1", "DJANGO_SETTINGS_MODULE": "tests.settings"}
    out = subprocess.run([sys.executable, __file__, "--child", str(path), "--child-project", slug],
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def plain_copy(cursor, folder: Path) -> float:
    """Dump the import tables, empty them, and time writing the same rows back with COPY."""
    for table in TABLES:
        with open(folder / f"{table}.copy", "wb") as fh, \
                cursor.copy(f"COPY {table} TO STDOUT (FORMAT binary)") as copy:
            for data in copy:
                fh.write(data)
    cursor.execute(f"TRUNCATE {', '.join(TABLES)} CASCADE")
    cursor.connection.commit()
    t0 = time.perf_counter()
    for table in TABLES:
        with open(folder / f"{table}.copy", "rb") as fh, \
                cursor.copy(f"COPY {table} FROM STDIN (FORMAT binary)") as copy:
            while data := fh.read(1 << 20):
                copy.write(data)
    cursor.connection.commit()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=400,
                        help="Copies of the 12 shared records for the new importer (default 400: "
                             "4,800 records, 104,800 rated steps; 4,000 is about 1M).")
    parser.add_argument("--baseline-replicas", type=int, default=20,
                        help="Copies for the baseline importer (default 20).")
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "prm800k"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-project", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    import django

    django.setup()
    from django.db import connection

    from annotate.models import Project

    baseline = load_baseline(args.baseline_rev)
    records = load_records(Path(args.data))
    with scratch_database("bench-ingest-") as (db_name, folder):
        print(f"database: {connection.vendor} ({db_name}); baseline from {args.baseline_rev}")
        base_path, main_path = folder / "baseline.jsonl", folder / "replicas.jsonl"
        base_records, base_steps = write_replicas(records, args.baseline_replicas, base_path, "b")
        n_records, steps = write_replicas(records, args.replicas, main_path)
        print(f"file: {n_records} records, {steps} rated steps, "
              f"{main_path.stat().st_size / 2**20:.0f} MiB")

        project = Project.objects.create(name="baseline", slug="baseline")
        t0 = time.perf_counter()
        with open(base_path, "rb") as fh:
            old = baseline.import_prm800k(project, fh, source_name="b.jsonl", grade_answers=False)
        base_s = time.perf_counter() - t0
        assert old.created == base_records, old.summary()
        base_rate = base_steps / base_s

        Project.objects.create(name="bulk", slug="bulk")
        new = run_child(main_path, "bulk", db_name)
        assert new["created"] == n_records and not new["rejected"], new
        again = run_child(main_path, "bulk", db_name)
        assert again["duplicates"] == n_records, again
        connection.ensure_connection()
        with connection.cursor() as cur:
            copy_s = plain_copy(cur.cursor, folder)
        rows = sum(new["objects"].values())

        new_rate, dup_rate, copy_rate = (steps / new["seconds"], steps / again["seconds"],
                                         steps / copy_s)
        print(f"rows written by the import: {rows} ({new['objects']})")
        print(f"baseline (rev {args.baseline_rev}, {base_steps} steps): {base_rate:9.0f} steps/s "
              f"({base_s:.1f}s)")
        print(f"bulk import_file             : {new_rate:9.0f} steps/s ({new['seconds']:.1f}s), "
              f"{n_records / new['seconds']:.0f} records/s, {new_rate / base_rate:.1f}x baseline, "
              f"peak RSS {new['rss_mb']:.0f} MB")
        print(f"re-import (all duplicates)   : {dup_rate:9.0f} steps/s ({again['seconds']:.1f}s), "
              f"{dup_rate / base_rate:.1f}x baseline, peak RSS {again['rss_mb']:.0f} MB")
        print(f"plain COPY of the same rows  : {copy_rate:9.0f} steps/s ({copy_s:.1f}s); "
              f"bulk import at {copy_s / new['seconds']:.2f}x of it "
              f"({new['seconds'] / copy_s:.1f}x slower)")
        print(f"PRM800K-size extrapolation   : {1_070_000 / new_rate:.0f} s for ~1,070,000 rated "
              f"steps (baseline {1_070_000 / base_rate / 60:.0f} min)")


if __name__ == "__main__":
    main()
