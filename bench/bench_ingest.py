"""PRM800K-sized bulk import throughput, in rated steps per second.

Replicates the shared PRM800K records with varied text (each replica gets its own
problem statement, step texts and labeler, so every replica writes a new tree) and
imports them with ``import_prm800k``. The baseline, in the same process and on the
same database, is a straightforward ORM loop (get_or_create per node, one insert
per rating) that writes the same rows without validation or the exact layout.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
        python bench/bench_ingest.py --replicas 50

It creates and drops a throwaway test database (``test_<name>``).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")


def replicate(records: list[dict], replicas: int) -> list[str]:
    lines = []
    for k in range(replicas):
        for rec in records:
            r = json.loads(json.dumps(rec))
            tag = f" [r{k}]"
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
            lines.append(json.dumps(r))
    return lines


def count_steps(lines: list[str]) -> int:
    return sum(len(s["completions"]) for line in lines for s in json.loads(line)["label"]["steps"])


def naive_import(project, lines: list[str]) -> None:
    """The baseline: plain ORM calls, one transaction per record."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from annotate.models import Assignment, Problem, Solution, StepNode, StepRating
    from annotate.models.problems import content_hash

    users = get_user_model().objects
    for line in lines:
        r = json.loads(line)
        with transaction.atomic():
            q = r["question"]
            problem, _ = Problem.objects.get_or_create(
                project=project, statement_hash=content_hash(q["problem"]),
                defaults={"statement": q["problem"], "ground_truth_answer": q["ground_truth_answer"]})
            parent, rated = None, []
            for step in r["label"]["steps"]:
                nodes = [StepNode.objects.get_or_create(
                    problem=problem, parent=parent, text_hash=content_hash(c["text"]),
                    defaults={"text": c["text"], "depth": 0 if parent is None else parent.depth + 1})[0]
                    for c in step["completions"]]
                rated += list(zip(nodes, step["completions"]))
                if step["chosen_completion"] is not None:
                    parent = nodes[step["chosen_completion"]]
                elif step["human_completion"]:
                    parent = StepNode.objects.get_or_create(
                        problem=problem, parent=parent,
                        text_hash=content_hash(step["human_completion"]["text"]),
                        defaults={"text": step["human_completion"]["text"], "author": "human",
                                  "depth": 0 if parent is None else parent.depth + 1})[0]
            last = parent or rated[-1][0]
            solution, _ = Solution.objects.get_or_create(last_step=last, defaults={"problem": problem})
            user, _ = users.get_or_create(username=f"naive-{r['labeler']}", defaults={"is_active": False})
            a = Assignment.objects.create(project=project, solution=solution, annotator=user,
                                          status="submitted", source="import")
            seen = set()
            for node, c in rated:
                if node.pk not in seen:
                    seen.add(node.pk)
                    StepRating.objects.create(assignment=a, node=node, rating=c["rating"],
                                              flagged=c["flagged"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=50,
                        help="Copies of the 12 shared records (default 50 = 600 records).")
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "prm800k"))
    args = parser.parse_args()

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_test_environment

    from annotate.models import Project
    from annotate.services.imports import import_prm800k

    records = [json.loads(line) for name in ("phase1_sample.jsonl", "phase2_sample.jsonl")
               for line in (Path(args.data) / name).read_text().splitlines() if line.strip()]
    setup_test_environment()
    db_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        print(f"database: {connection.vendor} ({db_name}); records: {len(records)} x {args.replicas}")
        lines_a = replicate(records, args.replicas)
        lines_b = [line.replace(" [r", " [b") for line in lines_a]  # fresh text for the baseline
        steps = count_steps(lines_a)

        project = Project.objects.create(name="bench", slug="bench")
        t0 = time.perf_counter()
        naive_import(project, lines_b)
        naive = time.perf_counter() - t0

        project = Project.objects.create(name="bench2", slug="bench2")
        t0 = time.perf_counter()
        report = import_prm800k(project, lines_a, source_name="bench.jsonl", grade_answers=False)
        ours = time.perf_counter() - t0
        assert report.created == len(lines_a), report.summary()

        t0 = time.perf_counter()
        again = import_prm800k(project, lines_a, source_name="bench.jsonl", grade_answers=False)
        dup = time.perf_counter() - t0
        assert again.duplicates == len(lines_a)

        print(f"rated steps: {steps}, nodes written: {report.objects['nodes']}")
        print(f"baseline naive ORM loop : {steps / naive:9.0f} steps/s ({naive:.1f}s)")
        print(f"import_prm800k          : {steps / ours:9.0f} steps/s ({ours:.1f}s), "
              f"{len(lines_a) / ours:.0f} records/s, ratio vs baseline {naive / ours:.2f}x")
        print(f"re-import (duplicates)  : {steps / dup:9.0f} steps/s ({dup:.1f}s), "
              f"ratio vs baseline {naive / dup:.2f}x")
        prm800k_steps = 1_070_000  # about the rated step count of the released PRM800K
        print(f"PRM800K-size extrapolation: {prm800k_steps / (steps / ours) / 60:.0f} min "
              f"for ~{prm800k_steps:,} rated steps")
    finally:
        connection.creation.destroy_test_db(db_name, verbosity=0)


if __name__ == "__main__":
    main()
