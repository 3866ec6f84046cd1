"""The path an annotator walked, read from an assignment's presentation.

First-error labeling walks the solution's own path, and an imported record's solution is
the path its labeler walked, so both export the solution's path. Branch labeling in
Stepwise continues from a chosen candidate (or from the annotator's own step) at each
position, so its walk leaves the seeded solution after the first branch: the walk is the
chain of steps continued from, position by position.
"""

from __future__ import annotations


def branch_presentation():
    """The presentation of a Stepwise branch-mode assignment, else NULL: an expression for
    ``values_list``, so no other assignment's (maybe large, imported) layout is read."""
    from django.db.models import Case, F, JSONField, Q, Value, When

    return Case(When(Q(source="labeling", project__mode="branch"), then=F("presentation")),
                default=Value(None), output_field=JSONField())


def walk_chain(presentation: list) -> tuple[list[int], set[int]]:
    """(the node ids continued from, in order; those the annotator wrote). It stops at the
    first position with neither a chosen candidate nor an own step: the walk ended there."""
    chain, written = [], set()
    for entry in presentation or []:
        chosen, candidates = entry.get("chosen"), entry.get("candidates") or []
        if chosen is not None and 0 <= chosen < len(candidates):
            chain.append(candidates[chosen])
        elif entry.get("human"):
            chain.append(entry["human"])
            written.add(entry["human"])
        else:
            break
    return chain, written


def distinct_walks(walks: list[tuple[int, ...]]) -> list[tuple[int, ...]]:
    """Each walk once, in first-seen order, leaving out one that is the start of another
    (an annotator who stopped earlier on the same path adds no record of its own)."""
    unique = list(dict.fromkeys(walks))
    return [w for w in unique if not any(len(o) > len(w) and o[:len(w)] == w for o in unique)]
