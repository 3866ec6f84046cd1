"""Writes of the search app: start a search Run."""

from __future__ import annotations

from generation.config import GeneratorSettings
from training.models import PrmModel
from training.scoring import AGGREGATES

MAX_BUDGET = 64
MAX_PROBLEMS = 5000


class SearchError(ValueError):
    """Bad search input, with a message fit for the user."""


def start_search(*, prm_model: PrmModel, max_budget: int = 8, aggregate: str = "min",
                 problem_ids: list[int] | None = None, limit: int | None = None, user=None):
    """Validate and queue a ``search`` Run on the gpu queue: every strategy at budgets
    1, 2, 4, ... ``max_budget`` on the project's problems (or ``problem_ids``)."""
    from annotate.models import Problem
    from workers.runs import start_run

    if prm_model.status != PrmModel.Status.READY or not prm_model.artifact_path:
        raise SearchError("The reward model is not ready yet.")
    try:
        GeneratorSettings.from_dict(prm_model.project.generator)
    except ValueError as exc:
        raise SearchError(f"The project's generator is not set up: {exc}") from None
    if isinstance(max_budget, bool) or not isinstance(max_budget, int) or not 1 <= max_budget <= MAX_BUDGET:
        raise SearchError(f"The largest budget must be a whole number from 1 to {MAX_BUDGET}.")
    if aggregate not in AGGREGATES:
        raise SearchError(f"Unknown aggregate '{aggregate}'; use one of {', '.join(AGGREGATES)}.")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or not 1 <= limit <= MAX_PROBLEMS):
        raise SearchError(f"The number of problems must be from 1 to {MAX_PROBLEMS}.")
    problems = Problem.objects.filter(project=prm_model.project).exclude(ground_truth_answer="")
    if problem_ids is not None:
        problems = problems.filter(pk__in=problem_ids)
    ids = list(problems.order_by("pk").values_list("pk", flat=True)[:limit or MAX_PROBLEMS])
    if not ids:
        raise SearchError("No problems with a ground-truth answer to search on.")
    return start_run("search", {"prm_model_id": prm_model.pk, "problem_ids": ids,
                                "max_budget": max_budget, "aggregate": aggregate},
                     project=prm_model.project, user=user)
