"""Demo content without a model: arithmetic problems and solutions, some with errors.

Solutions are written by the domain's own solver with planted mistakes (a wrong
result, operand or operator, carried forward), so the demo and the tests have
realistic first-error data before any model exists. With ``alternatives``, every
position of every solution also gets candidate steps (a right and a wrong one, each
continued to an answer), so the labeling page never waits for a generator that is still
being built. Re-running adds nothing twice.
"""

from __future__ import annotations

import random

from django.db import transaction

from annotate.models import Problem

from . import domain

SOURCE = "stepwise-demo-seed"


@transaction.atomic
def seed_demo_content(project, n_problems: int = 12, solutions_per_problem: int = 2, *,
                      error_rate: float = 0.45, seed: int = 0, alternatives: bool = False) -> dict:
    """Create ``n_problems`` problems with up to ``solutions_per_problem`` solutions each.

    Each solution is wrong with probability ``error_rate`` (one planted error); at most
    one per problem is fully correct, since two correct ones would be the same path.
    """
    from annotate.services.tree import store_path, store_solution

    if n_problems < 0 or solutions_per_problem < 0 or not 0 <= error_rate <= 1:
        raise ValueError("Counts must be non-negative and error_rate in [0, 1].")
    rng = random.Random(seed)
    stats = {"problems": 0, "solutions": 0, "wrong_solutions": 0, "steps": 0, "wrong_steps": 0,
             "candidate_steps": 0}
    for i in range(n_problems):
        spec = domain.random_problem(rng)
        problem, created = Problem.objects.get_or_create(
            project=project, external_id=f"demo-{seed}-{i}",
            defaults={"statement": spec.statement, "ground_truth_answer": str(spec.answer),
                      "reference_solution": domain.STEP_DELIMITER.join(domain.correct_steps(spec)),
                      "subject": "Arithmetic", "level": len(spec.ops),
                      "metadata": {"demo": spec.to_metadata()}},
        )
        stats["problems"] += created
        have_correct, seen = False, set()
        for _ in range(solutions_per_problem):
            if have_correct or rng.random() < error_rate:
                # A few tries for a mistake not already made on this problem.
                for _try in range(10):
                    steps, _at = domain.flawed_steps(spec, rng)
                    if tuple(steps) not in seen:
                        break
            else:
                steps, have_correct = domain.correct_steps(spec), True
            seen.add(tuple(steps))
            labels = domain.check_steps(spec, steps)
            solution, new, _ = store_solution(
                problem, steps, generator={"model": SOURCE},
                metadata={"demo": True, "first_error": domain.first_error(labels)},
            )
            if new:
                stats["solutions"] += 1
                stats["wrong_solutions"] += not solution.is_correct
                stats["steps"] += len(labels)
                stats["wrong_steps"] += labels.count(False)
            if alternatives:
                for at in range(len(steps)):
                    for suffix in domain.alternative_suffixes(spec, steps, at, rng):
                        _, made = store_path(problem, steps[:at] + suffix,
                                             generator={"model": SOURCE})
                        stats["candidate_steps"] += made
    return stats
