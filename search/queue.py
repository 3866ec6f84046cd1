"""The "search_most_wrong" queue strategy: searched solutions the PRM got most wrong.

Two lists, interleaved half and half: solutions a search explored whose final answer is
wrong, highest PRM score first (the PRM was confidently wrong), and the rest of the
searched solutions by how close the PRM's scores were between a step and its siblings
(least sure first). Labels made there retrain the PRM like any others. Solutions no search
explored follow in id order.
"""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

from training.strategies import interleave

WRONG_SHARE = 0.5
RANKED_LIMIT = 500  # enough for many queue pulls; the rest follow in id order


def ranked_searched(solution_ids, project) -> list[int]:
    """Searched solutions among ``solution_ids`` in the order the strategy offers them."""
    from .models import SearchedSolution

    rows = (SearchedSolution.objects
            .filter(solution__in=solution_ids, prm_model__project=project)
            .order_by("solution_id", "-run_id")
            .values_list("solution_id", "score", "margin", "is_correct"))
    latest: dict[int, tuple] = {}
    for solution_id, score, margin, correct in rows:
        latest.setdefault(solution_id, (score, margin, correct))  # the newest search's view
    wrong = sorted((pk for pk, (score, _, c) in latest.items() if c is False and score is not None),
                   key=lambda pk: (-latest[pk][0], pk))
    unsure = sorted((pk for pk, (_, margin, c) in latest.items()
                     if c is not False and margin is not None),
                    key=lambda pk: (latest[pk][1], pk))
    return interleave(wrong, unsure, WRONG_SHARE)


def search_most_wrong_order(candidates: QuerySet, project, user=None) -> QuerySet:
    order = ranked_searched(candidates.values("pk"), project)[:RANKED_LIMIT]
    if not order:
        return candidates.order_by("pk")
    rank = Case(*[When(pk=pk, then=Value(i)) for i, pk in enumerate(order)],
                default=Value(len(order)), output_field=IntegerField())
    return candidates.annotate(_search_rank=rank).order_by("_search_rank", "pk")
