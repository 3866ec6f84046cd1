"""Solutions loaded for batch work (training data, evaluation, judging): each with its problem,
without the ``trajectory`` record (an agent trajectory's whole JSON, which only the labeling
page reads, ``annotate.selectors.trajectories``). The one place that decides what such
readers leave out, instead of a ``.defer`` in each of them."""

from __future__ import annotations

from django.db.models import QuerySet

from annotate.models import Solution


def solutions_for_batch(*args, **filters) -> QuerySet[Solution]:
    """``Solution.objects.filter(*args, **filters)`` with the problem, less the trajectory."""
    return Solution.objects.filter(*args, **filters).select_related("problem").defer("trajectory")
