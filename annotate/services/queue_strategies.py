"""Queue strategies: small, swappable functions that order a project's open solutions.

A strategy is ``fn(candidates, project, user) -> QuerySet[Solution]`` returning the
candidates ordered best-first. The queue only ever reads a short window from the
front of that order, so a strategy must keep the order index-friendly: ordering by
``id`` walks the ``(project, id)`` index; a computed ORDER BY over the whole table
does not, and gets slower as the project grows.

Other apps register their own with ``@register_strategy("name")`` in a module that is
imported at start-up (e.g. their ``apps.py`` ``ready()``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from django.db.models import Max, Min, QuerySet

from annotate.models import Project, Solution

Strategy = Callable[[QuerySet, Project, object], QuerySet]

STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str) -> Callable[[Strategy], Strategy]:
    def decorator(fn: Strategy) -> Strategy:
        STRATEGIES[name] = fn
        return fn

    return decorator


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise ValueError(
            f"Unknown queue strategy '{name}'. Known: {', '.join(sorted(STRATEGIES))}."
        ) from None


@register_strategy("sequential")
def sequential(candidates: QuerySet, project: Project, user) -> QuerySet:
    """Oldest first: the order solutions were imported or generated."""
    return candidates.order_by("project_id", "id")


@register_strategy("random")
def random_order(candidates: QuerySet, project: Project, user) -> QuerySet:
    """A random starting point, then id order, wrapping around.

    ``ORDER BY random()`` would sort the whole project on every call; a random pivot on
    the (project, id) index costs the same at 10k and 1M solutions.
    """
    bounds = Solution.objects.filter(project=project).aggregate(lo=Min("id"), hi=Max("id"))
    if bounds["lo"] is None:
        return candidates.order_by("project_id", "id")
    pivot = random.randint(bounds["lo"], bounds["hi"])
    after = candidates.filter(id__gte=pivot).order_by("project_id", "id")
    if after.exists():
        return after
    return candidates.order_by("project_id", "id")
