"""Labeled demo solutions for PRM benchmarks: exact step labels, no database.

Half the solutions carry one planted error. Labels stop at the first error and later
steps stay unlabeled ("mask"), so a PRM cannot find the error by noticing which step
comes last.
"""

from __future__ import annotations

import random

from training.data import StepExample

from . import domain


def first_error_labels(problem: domain.ArithProblem, steps: list[str]) -> list[int | None]:
    """Exact labels up to and including the first wrong step (1 good, 0 bad), None after."""
    labels = [int(v) for v in domain.check_steps(problem, steps)]
    cut = labels.index(0) + 1 if 0 in labels else len(labels)
    return labels[:cut] + [None] * (len(labels) - cut)


def training_set(n: int) -> list[StepExample]:
    """The ``n`` labeled solutions the PRM learning-curve runs train on (4 per problem, shuffled)."""
    pool = demo_solutions(max(250, n // 4 + 1), 4, seed=1)
    random.Random(0).shuffle(pool)
    return pool[:n]


def demo_solutions(n_problems: int, per_problem: int, seed: int) -> list[StepExample]:
    """``per_problem`` solutions for each of ``n_problems`` random problems (2-4 operations)."""
    rng = random.Random(seed)
    out = []
    for p in range(n_problems):
        problem = domain.random_problem(rng, min_ops=2, max_ops=4)
        for _ in range(per_problem):
            steps = domain.correct_steps(problem) if rng.random() < 0.5 else \
                domain.flawed_steps(problem, rng)[0]
            out.append(StepExample(
                group=f"{seed}-{p}", prompt=problem.statement, steps=steps,
                labels=first_error_labels(problem, steps),
                is_correct=domain.parse_answer(steps[-1]) == problem.answer,
            ))
    return out
