"""Critiques export benchmark: rows per second of the ``critiques`` format (human critiques,
and with the ThinkPRM agreement filter against gold) against the ``trl`` and
``processbench`` formats over the same labeled solutions, in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/stepwise_bench \\
        python bench/bench_critiques.py --solutions 5000 --steps 8

Each solution has one annotator's submitted ratings (a first error at a varying position, or
none), a critique on every Bad step and on every other step before it, and a gold key that
agrees on two solutions in three. The data is made once per size and reused. Each format
runs ``--repeat`` times (best kept: the machine may be shared). Prints numbers only;
asserts no timings.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")


def ensure_data(solutions: int, steps: int) -> int:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from annotate.models import (
        Assignment,
        Critique,
        GoldLabel,
        Problem,
        Project,
        Solution,
        StepNode,
        StepRating,
    )
    from annotate.models.problems import content_hash

    slug = f"bench-critiques-{solutions}-{steps}"
    project = Project.objects.filter(slug=slug).first()
    if project is not None:
        return project.pk
    project = Project.objects.create(name=slug, slug=slug)
    user, _ = get_user_model().objects.get_or_create(username="bench-critic")
    batch = 1000
    for start in range(0, solutions, batch):
        n = min(batch, solutions - start)
        problems = Problem.objects.bulk_create([
            Problem(project=project, statement=f"Critique problem {start + i}: what is {i}*7?",
                    statement_hash=content_hash(f"Critique problem {start + i}: what is {i}*7?"),
                    ground_truth_answer=str(7 * i)) for i in range(n)])
        parents, levels = [None] * n, []
        for depth in range(steps):
            texts = [f"Step {depth}: multiply and carry, problem {p.pk}." for p in problems]
            parents = StepNode.objects.bulk_create([
                StepNode(problem=p, parent=parents[i], depth=depth, text=texts[i],
                         text_hash=content_hash(texts[i])) for i, p in enumerate(problems)])
            levels.append(parents)
        sols = Solution.objects.bulk_create([
            Solution(project=project, problem=p, last_step=parents[i], final_answer="x",
                     is_correct=False) for i, p in enumerate(problems)])
        firsts = [(start + i) % (steps + 1) for i in range(n)]  # == steps: no error
        assigns = Assignment.objects.bulk_create([
            Assignment(project=project, solution=s, annotator=user, status="submitted",
                       finish_reason="solution" if firsts[i] == steps else "found_error")
            for i, s in enumerate(sols)])
        ratings, critiques, gold = [], [], []
        for i, a in enumerate(assigns):
            last = min(firsts[i], steps - 1)
            for depth in range(last + 1):
                bad = depth == firsts[i]
                node = levels[depth][i]
                ratings.append(StepRating(assignment=a, node=node, rating=-1 if bad else 1))
                critiques.append(Critique(assignment=a, node=node, author=user,
                                          text=("Wrong: 6*7 is 42, not 41." if bad else
                                                f"Step {depth} follows from the one before.")))
                agrees = (start + i) % 3 != 0
                gold.append(GoldLabel(solution=sols[i], node=node,
                                      rating=(-1 if bad else 1) if agrees or depth else
                                      (1 if bad else -1)))
        StepRating.objects.bulk_create(ratings)
        Critique.objects.bulk_create(critiques)
        GoldLabel.objects.bulk_create(gold)
    return project.pk


def timed(spec: dict) -> tuple[int, float]:
    from exports.spec import normalize_spec
    from exports.writers import iter_rows

    spec = normalize_spec(spec)
    t0 = time.perf_counter()
    n = sum(1 for _ in iter_rows(spec, []))
    return n, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solutions", type=int, default=5000)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs each")
    args = parser.parse_args()
    import django

    django.setup()
    pid = ensure_data(args.solutions, args.steps)
    runs = [("trl (baseline)", {"format": "trl"}),
            ("processbench (+ first-error critique)", {"format": "processbench"}),
            ("critiques, human", {"format": "critiques"}),
            ("critiques, agree_with gold", {"format": "critiques", "agree_with": "gold"})]
    print(f"{args.solutions} solutions x {args.steps} steps, best of {args.repeat}")
    base = None
    for name, spec in runs:
        results = [timed({"projects": [pid], **spec}) for _ in range(args.repeat)]
        n, seconds = min(results, key=lambda r: r[1])
        base = base or seconds
        print(f"{name:40s} {n:7d} rows  {seconds:7.2f} s  {n / seconds:9.0f} rows/s  "
              f"time x{seconds / base:.2f} of trl")


if __name__ == "__main__":
    main()
