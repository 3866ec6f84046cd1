"""Exact step labels for demo solutions: the yardstick for auto-labels and PRMs."""

from __future__ import annotations

from . import domain


def demo_problem(problem) -> domain.ArithProblem | None:
    data = (problem.metadata or {}).get("demo")
    return domain.ArithProblem.from_metadata(data) if data else None


def exact_labels(problem, steps: list[str]) -> list[bool] | None:
    """Each step's exact correctness, or None when the problem is not a demo problem."""
    spec = demo_problem(problem)
    return None if spec is None else domain.check_steps(spec, steps)


def exact_labels_for_solution(solution) -> list[bool] | None:
    from annotate.services.tree import path_of

    steps = [n.text for n in path_of(solution.last_step)]
    return exact_labels(solution.problem, steps)
