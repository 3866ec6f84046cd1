"""One label per step: the majority of submitted ratings, unless a reviewer corrected it.

Ties and low agreement are flagged ``needs_review``; a tie has no rating until reviewed.
Counting happens in the database (one GROUP BY per chunk of solutions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count

from annotate.models import Assignment, StepRating

#: Below this share of votes for the winning label, a step goes to review.
LOW_AGREEMENT = 0.6
CHUNK = 2000


@dataclass(frozen=True)
class ConsensusLabel:
    rating: int | None
    votes: int
    agreement: float
    needs_review: bool
    source: str  # "majority" | "review"
    #: The annotators' majority label when a reviewer's correction overrode it.
    original: int | None = None


def _majority(counts: dict[int, int]) -> ConsensusLabel:
    votes = sum(counts.values())
    best = max(counts.values())
    winners = [rating for rating, n in counts.items() if n == best]
    agreement = best / votes
    if len(winners) > 1:
        return ConsensusLabel(None, votes, agreement, True, "majority")
    return ConsensusLabel(winners[0], votes, agreement, agreement < LOW_AGREEMENT, "majority")


def consensus_labels(solution_ids: Iterable[int], project=None) -> dict[int, dict[int, ConsensusLabel]]:
    """solution_id -> node_id -> ConsensusLabel, for every rated or corrected step. With
    ``project`` (all of whose solutions are asked for) one GROUP BY over the project instead
    of one per chunk of ids."""
    from quality.models import ReviewCorrection

    ids = list(dict.fromkeys(solution_ids))
    result: dict[int, dict[int, ConsensusLabel]] = {}
    step = (len(ids) or 1) if project is not None else CHUNK
    for start in range(0, len(ids), step):
        chunk = ids[start:start + step]
        counts: dict[tuple[int, int], dict[int, int]] = defaultdict(dict)
        where = ({"assignment__project": project} if project is not None
                 else {"assignment__solution_id__in": chunk})
        rows = (
            StepRating.objects.filter(
                **where,
                assignment__status=Assignment.Status.SUBMITTED,
                rating__isnull=False,
            )
            .values_list("assignment__solution_id", "node_id", "rating")
            .annotate(n=Count("id"))
            .order_by()
        )
        for solution_id, node_id, rating, n in rows:
            counts[(solution_id, node_id)][rating] = n
        corrections: dict[tuple[int, int], int] = {}
        # Oldest first, so the newest correction of a step is the one left in the dict.
        for solution_id, node_id, rating in (
            (ReviewCorrection.objects.filter(solution__project=project) if project is not None
             else ReviewCorrection.objects.filter(solution_id__in=chunk))
            .order_by("id").values_list("solution_id", "node_id", "rating")
        ):
            corrections[(solution_id, node_id)] = rating
        for key in set(counts) | set(corrections):
            label = _majority(counts[key]) if counts.get(key) else ConsensusLabel(
                None, 0, 0.0, True, "majority")
            if key in corrections:
                label = ConsensusLabel(corrections[key], label.votes, label.agreement, False,
                                       "review", original=label.rating)
            result.setdefault(key[0], {})[key[1]] = label
    return result
