"""The "convincing_wrong" queue strategy (Let's Verify Step by Step, section 4.2).

Label what the current PRM gets most wrong: solutions with a wrong final answer
that it scores highest, mixed 80/20 with the highest-scoring of the rest so the
labeled data does not become all-wrong. Without a ready PRM (or a score for a
solution) it falls back to id order.
"""

from __future__ import annotations

from django.db.models import Case, IntegerField, QuerySet, Value, When

WRONG_SHARE = 0.8
RANKED_LIMIT = 500  # enough for many queue pulls; the rest follow in id order


def interleave(wrong: list[int], rest: list[int], wrong_share: float = WRONG_SHARE) -> list[int]:
    """Merge two ranked lists so about ``wrong_share`` of every prefix is from ``wrong``."""
    out, i, j = [], 0, 0
    while i < len(wrong) or j < len(rest):
        # Take from "wrong" while it is under its share of what has been taken so far.
        take_wrong = j >= len(rest) or (i < len(wrong) and i < wrong_share * (len(out) + 1))
        if take_wrong:
            out.append(wrong[i])
            i += 1
        else:
            out.append(rest[j])
            j += 1
    return out


def convincing_wrong_order(candidates: QuerySet, project, user=None) -> QuerySet:
    from .models import SolutionScore
    from .services import current_model

    prm = current_model(project)
    if prm is None:
        return candidates.order_by("pk")
    scores = dict(
        SolutionScore.objects.filter(prm_model=prm, solution__in=candidates.values("pk"))
        .values_list("solution_id", "min_score")
    )
    rows = [(pk, correct) for pk, correct in candidates.values_list("pk", "is_correct")
            if pk in scores]
    ranked = lambda ids: sorted(ids, key=lambda pk: (-scores[pk], pk))  # noqa: E731
    order = interleave(ranked([pk for pk, c in rows if c is False]),
                       ranked([pk for pk, c in rows if c is not False]))[:RANKED_LIMIT]
    if not order:
        return candidates.order_by("pk")
    rank = Case(*[When(pk=pk, then=Value(i)) for i, pk in enumerate(order)],
                default=Value(len(order)), output_field=IntegerField())
    return candidates.annotate(_prm_rank=rank).order_by("_prm_rank", "pk")
