"""Critiques as a label-source companion: ``critiques_for(spec, solution_ids)`` gives, per
solution and step position, the written reason a source gave for the step, beside the label
``labels_for`` reads from the same source (docs/labels.md).

Sources, named as label sources are:

  human:<username>   one annotator's critiques in their submitted tasks
  human:any          any annotator's (a reviewer-corrected one first, then the latest)
  judge:<name>       an LLM judge's reasons (PreAnnotation.reason)
  imported:<name>    an imported machine label's reasons

``origins`` keeps human critiques of those origins only (e.g. {"accepted"}: machine reasons
a person accepted as they were). A step with no critique is absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import F, OuterRef, Subquery

from annotate.models import Assignment, Critique, PreAnnotation, StepRating
from annotate.selectors.paths import solution_paths

from .labels import CHUNK, RATED_KINDS, UnknownSource, parse_source

ANY = "any"


@dataclass(frozen=True)
class CritiqueText:
    text: str
    origin: str  # written | accepted | edited | replaced | machine
    source: str  # the spec it came from; human critiques: human:<username>
    correction: str | None = None  # the corrected step's text
    reviewed: bool = False
    machine_source: str = ""  # the machine reason that was shown, for a human critique
    rating: int | None = None  # the critic's own label of the step (-1/0/+1), where known


Critiques = dict[int, dict[int, CritiqueText]]


def parse_critique_source(spec: str):
    source = parse_source(spec)
    if source.family not in ("human", *RATED_KINDS):
        raise UnknownSource(f"'{spec}' gives no critiques; use human:<username>, human:any, "
                            "judge:<name> or imported:<name>")
    return source


def critiques_for(spec: str, solution_ids: Iterable[int], *,
                  origins: Iterable[str] | None = None) -> Critiques:
    """{solution_id: {position: CritiqueText}} for every step on each solution's path that
    the source gave a critique of."""
    source = parse_critique_source(spec)
    origins = set(origins) if origins is not None else None
    ids = list(dict.fromkeys(solution_ids))
    result: Critiques = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        paths = solution_paths(chunk)
        if source.family == "human":
            by_node = _human(source.name, chunk, origins)
        else:
            by_node = _machine(source, paths)
        for sid, path in paths.items():
            row = {pos: by_node[(sid, node)] for pos, node in enumerate(path)
                   if (sid, node) in by_node}
            if row:
                result[sid] = row
    return result


def _own_rating():
    """The critic's own rating of the step in the same task."""
    return Subquery(StepRating.objects.filter(assignment_id=OuterRef("assignment_id"),
                                              node_id=OuterRef("node_id"))
                    .values("rating")[:1])


def _human(name: str, chunk, origins) -> dict[tuple[int, int], CritiqueText]:
    qs = Critique.objects.filter(assignment__solution_id__in=chunk,
                                 assignment__status=Assignment.Status.SUBMITTED)
    if name != ANY:
        qs = qs.filter(assignment__annotator__username__iexact=name)
    if origins is not None:
        qs = qs.filter(origin__in=origins)
    out = {}
    # Later rows win: plain ones by update time, then reviewer-corrected ones.
    rows = qs.annotate(own=_own_rating()).order_by(
        F("reviewed_at").asc(nulls_first=True), "updated", "id").values_list(
        "assignment__solution_id", "node_id", "text", "origin", "assignment__annotator__username",
        "correction__text", "reviewed_by_id", "machine_source", "own")
    for sid, node, text, origin, user, correction, reviewer, machine, own in rows:
        out[(sid, node)] = CritiqueText(text, origin, f"human:{user}", correction,
                                        reviewer is not None, machine, own)
    return out


def _machine(source, paths) -> dict[tuple[int, int], CritiqueText]:
    node_solutions: dict[int, list[int]] = {}
    for sid, path in paths.items():
        for node in path:
            node_solutions.setdefault(node, []).append(sid)
    qs = (PreAnnotation.objects.filter(node_id__in=list(node_solutions),
                                       kind=RATED_KINDS[source.family], source=source.name)
          .exclude(reason=""))
    out = {}
    # Unscoped rows first, then rows given in a solution's context, which win there.
    for node, scope, reason, rating in qs.order_by("scope", "created", "id").values_list(
            "node_id", "scope", "reason", "rating"):
        for sid in node_solutions[node]:
            if scope in (0, sid):
                out[(sid, node)] = CritiqueText(reason, "machine", source.spec, rating=rating)
    return out


def critiques_of_assignments(assignment_ids: Iterable[int], *,
                             origins: Iterable[str] | None = None) -> dict[int, dict[int, CritiqueText]]:
    """{assignment_id: {node_id: CritiqueText}}: each task's own critiques, submitted or
    not (an export of one annotator's work reads that annotator's critiques)."""
    ids = list(dict.fromkeys(assignment_ids))
    out: dict[int, dict[int, CritiqueText]] = {}
    for start in range(0, len(ids), CHUNK):
        qs = Critique.objects.filter(assignment_id__in=ids[start:start + CHUNK])
        if origins is not None:
            qs = qs.filter(origin__in=set(origins))
        for aid, node, text, origin, user, correction, reviewer, machine, own in qs.annotate(
                own=_own_rating()).order_by("id").values_list(
                "assignment_id", "node_id", "text", "origin", "assignment__annotator__username",
                "correction__text", "reviewed_by_id", "machine_source", "own"):
            out.setdefault(aid, {})[node] = CritiqueText(
                text, origin, f"human:{user}", correction, reviewer is not None, machine, own)
    return out
