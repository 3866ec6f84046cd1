"""Label sources: where a step's label came from, and one selector for any source's labels.

A source is named by a spec string (docs/labels.md):

  human:<username>      one annotator's submitted ratings
  human:consensus       the project's consensus (majority, reviewer corrections win)
  gold                  the gold key (GoldLabel)
  mc_hard[:<name>]      Monte Carlo hard estimates, P(good) >= 0.5 is +1, else -1
  mc_soft[:<name>][@t]  Monte Carlo soft estimates, P(good) >= t (default 0.5) is +1, else -1
  prm:<model>[@t]       a PRM's scores, P(good) >= t (default 0.5) is +1, else -1
  judge:<name>          an LLM judge's labels (-1/0/+1; an unparsed answer is labeled None)
  imported:<name>       an imported machine label (as judges)

``labels_for(spec, solution_ids)`` gives ``{solution_id: {position: label}}`` over each
solution's path (position 0 is the first step); ``label`` is -1, 0 or +1, or None where the
source has a row for the step but no usable label (an unparsed judge answer). A step the
source never labeled is absent. Nothing else reads labels its own way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Max, Q

from annotate.models import Assignment, GoldLabel, PreAnnotation, StepRating
from annotate.selectors.paths import solution_paths
from annotate.selectors.verdicts import Verdict, VerdictRows

from .consensus import consensus_labels

CHUNK = 2000
Labels = dict[int, dict[int, int | None]]
#: Source kinds whose PreAnnotations carry a discrete rating.
RATED_KINDS = {"judge": PreAnnotation.Kind.JUDGE, "imported": PreAnnotation.Kind.IMPORTED}
SCORED_KINDS = {"mc_hard": PreAnnotation.Kind.MC_HARD, "mc_soft": PreAnnotation.Kind.MC_SOFT,
                "prm": PreAnnotation.Kind.PRM_SCORE}


class UnknownSource(ValueError):
    """A spec that names no source (the message says why)."""


@dataclass(frozen=True)
class Source:
    spec: str
    family: str  # human | consensus | gold | judge | imported | mc_hard | mc_soft | prm
    name: str = ""
    threshold: float | None = None


@dataclass
class SourceInfo:
    spec: str
    family: str
    title: str
    version: dict = field(default_factory=dict)


def parse_source(spec: str) -> Source:
    spec = (spec or "").strip()
    head, _, rest = spec.partition(":")
    if spec == "gold":
        return Source(spec, "gold")
    if spec == "human:consensus":
        return Source(spec, "consensus")
    if head == "human" and rest:
        return Source(spec, "human", rest)
    if head in RATED_KINDS and rest:
        return Source(spec, head, rest)
    body, at, threshold = spec.rpartition("@") if "@" in spec else (spec, "", "")
    family, _, name = body.partition(":")
    if family in SCORED_KINDS:
        try:
            value = float(threshold) if at else 0.5
        except ValueError:
            raise UnknownSource(f"'{spec}': the threshold after '@' must be a number") from None
        if not 0 <= value <= 1:
            raise UnknownSource(f"'{spec}': the threshold must be in [0, 1]")
        if family == "prm" and not name:
            raise UnknownSource(f"'{spec}': name the PRM, prm:<model>@<threshold>")
        return Source(spec, family, name, value)
    raise UnknownSource(
        f"'{spec}' names no label source; expected human:<username>, human:consensus, gold, "
        "mc_hard, mc_soft, prm:<model>@<threshold>, judge:<name> or imported:<name>")


def labels_for(source: str | Source, solution_ids: Iterable[int],
               paths: dict[int, list[int]] | None = None, project=None) -> Labels:
    """{solution_id: {position: -1/0/+1 or None}} for every step the source labels.

    ``paths`` ({solution id: node ids}, ``solution_paths``) spares reading the paths again
    when the caller has them (the report reads every source of the same solutions). With
    ``project`` (all of whose solutions ``solution_ids`` are, with their ``paths``) the rows are
    read in one query over the project, not in chunks of ids: at 100k solutions each chunk's
    query would scan as much as the whole project's."""
    source = parse_source(source) if isinstance(source, str) else source
    ids = list(dict.fromkeys(solution_ids))
    result: Labels = {}
    step = (len(ids) or 1) if project is not None and paths is not None else CHUNK
    for start in range(0, len(ids), step):
        chunk = ids[start:start + step]
        if paths is None:
            paths_here = solution_paths(chunk)
        else:
            paths_here = {sid: paths[sid] for sid in chunk if sid in paths}
        by_node = _node_labels(source, chunk, paths_here,
                               project if project is not None and paths is not None else None)
        for sid, path in paths_here.items():
            row = {pos: by_node[(sid, node)] for pos, node in enumerate(path)
                   if (sid, node) in by_node}
            if row:
                result[sid] = row
    return result


def _node_labels(source: Source, chunk, paths, project=None) -> dict[tuple[int, int], int | None]:
    """{(solution id, node id): label} of the chunk's solutions (with ``project``: of all the
    project's solutions, read in one query)."""
    if source.family == "consensus":
        return {(sid, node): label.rating
                for sid, nodes in consensus_labels(chunk, project=project).items()
                for node, label in nodes.items()}
    if source.family == "gold":
        gold = (GoldLabel.objects.filter(solution__project=project) if project is not None
                else GoldLabel.objects.filter(solution_id__in=chunk))
        return {(sid, node): rating for sid, node, rating in gold.values_list(
            "solution_id", "node_id", "rating")}
    if source.family == "human":
        # Matched within these solutions' assignments only: a name is never looked up across
        # tenants (an unknown one and another project's user both give no labels).
        where = ({"assignment__project": project} if project is not None
                 else {"assignment__solution_id__in": chunk})
        rows = StepRating.objects.filter(
            **where, assignment__annotator__username__iexact=source.name,
            assignment__status=Assignment.Status.SUBMITTED, rating__isnull=False,
        ).order_by("assignment_id").values_list("assignment__solution_id", "node_id", "rating")
        return {(sid, node): rating for sid, node, rating in rows}
    node_solutions: dict[int, list[int]] = {}
    for sid, path in paths.items():
        for node in path:
            node_solutions.setdefault(node, []).append(sid)
    qs = (PreAnnotation.objects.filter(node__problem__project=project) if project is not None
          else PreAnnotation.objects.filter(node_id__in=list(node_solutions)))
    qs = qs.filter(machine_rows(source))
    out = {}
    # Unscoped rows first, then rows given in a solution's context, which win there; oldest
    # first, so where several unnamed sources label a step the newest is kept.
    # Only the "unparsed" mark of the provenance is read (not every row's whole JSON).
    for node, scope, value, rating, unparsed in qs.order_by("scope", "created", "id").values_list(
            "node_id", "scope", "value", "rating", "provenance__unparsed"):
        label = _discrete(source, value, rating, unparsed)
        for sid in node_solutions.get(node, ()):  # (project-wide: a node on no path)
            if scope in (0, sid):
                out[(sid, node)] = label
    return out


def machine_rows(source: Source) -> Q:
    """The PreAnnotation rows of a machine source (judge, imported, Monte Carlo, PRM)."""
    if source.family in RATED_KINDS:
        return Q(kind=RATED_KINDS[source.family], source=source.name)
    if source.family not in SCORED_KINDS:
        raise UnknownSource(f"'{source.spec}' is not a machine source")
    return Q(kind=SCORED_KINDS[source.family], **({"source": source.name} if source.name else {}))


def machine_source(spec: str) -> Source:
    """A spec that names a machine source (verify mode shows one); UnknownSource otherwise."""
    source = parse_source(spec)
    if source.family not in RATED_KINDS and source.family not in SCORED_KINDS:
        raise UnknownSource(f"'{spec}' is a human or gold source; verify mode shows a machine "
                            "source: judge:<name>, imported:<name>, mc_hard, mc_soft or prm:<model>")
    return source


def node_verdicts(spec: str, solution_id: int, node_ids: list[int], exclude: Q | None = None
                  ) -> dict[int, Verdict]:
    """Verify mode's reader (``annotate.selectors.verdicts``): the source's label of each node
    in this solution's context, with its reason, how sure it is and its version. The labels
    are ``labels_for``'s: the same rows, precedence and thresholds."""
    source = machine_source(spec)
    if exclude is None:
        rows = _verdict_rows(source, solution_id, node_ids)
    else:
        rows = (PreAnnotation.objects.filter(machine_rows(source), node_id__in=node_ids,
                                             scope__in=(0, solution_id)).exclude(exclude)
                .order_by("scope", "created", "id")
                .values_list("node_id", "value", "rating", "reason", "provenance"))
    return {node: _verdict(source, value, rating, reason, provenance)
            for node, value, rating, reason, provenance in rows}


def node_verdict_rows(spec: str, solution_id: int) -> VerdictRows:
    """``node_verdicts`` as a subquery of another read (``annotate.selectors.verdicts``): the
    winning row of the outer step ``n``, so that a label save reads its steps, ratings and
    verdicts in one round trip. The same rows, precedence and conversion."""
    source = machine_source(spec)
    kind = (RATED_KINDS | SCORED_KINDS)[source.family]
    by_name = " AND v.source = %s" if source.family in RATED_KINDS or source.name else ""
    sql = (f"SELECT v.id, v.value, v.rating, v.reason, v.provenance"
           f" FROM {PreAnnotation._meta.db_table} v"
           f" WHERE v.node_id = n.id AND v.kind = %s{by_name} AND v.scope IN (0, %s)"
           " ORDER BY v.scope DESC, v.created DESC, v.id DESC LIMIT 1")
    field = PreAnnotation._meta.get_field("provenance")

    def verdict(value, rating, reason, provenance) -> Verdict:
        return _verdict(source, value, rating, reason,
                        field.from_db_value(provenance, None, connection))

    return VerdictRows(sql, [kind, *([source.name] if by_name else []), solution_id], verdict)


def _verdict(source: Source, value, rating, reason, provenance) -> Verdict:
    provenance = provenance if isinstance(provenance, dict) else {}
    label = _discrete(source, value, rating, provenance.get("unparsed"))
    return Verdict(label, reason or "", _sureness(source, value, provenance), _version(provenance))


def _verdict_rows(source: Source, solution_id: int, node_ids: list[int]) -> list[tuple]:
    """``machine_rows``' rows of these nodes in this solution's context, in the order later
    rows win. Written out: verify mode reads them on every label save, and composing the
    ORM query cost more than PostgreSQL spent running it."""
    kind = (RATED_KINDS | SCORED_KINDS)[source.family]
    table = PreAnnotation._meta.db_table
    by_name = " AND source = %s" if source.family in RATED_KINDS or source.name else ""
    ids = ", ".join(["%s"] * len(node_ids)) or "NULL"
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT node_id, value, rating, reason, provenance FROM {table}"
            f" WHERE kind = %s{by_name} AND node_id IN ({ids}) AND scope IN (0, %s)"
            " ORDER BY scope, created, id",
            [kind, *([source.name] if by_name else []), *node_ids, solution_id])
        rows = cur.fetchall()
    field = PreAnnotation._meta.get_field("provenance")
    return [(node, value, rating, reason, field.from_db_value(provenance, None, connection))
            for node, value, rating, reason, provenance in rows]


def _sureness(source: Source, value: float, provenance: dict) -> float:
    """A judge's k-sample agreement where it has one; else how far the probability is from
    the threshold that makes it a label, scaled to [0, 1]."""
    agreement = provenance.get("agreement")
    if isinstance(agreement, (int, float)):
        return float(agreement)
    t = source.threshold if source.threshold is not None else 0.5
    return round(abs(value - t) / max(t, 1 - t), 4)


def _version(provenance: dict) -> dict:
    version = provenance.get("version")
    if isinstance(version, dict):
        return version
    return {k: v for k, v in provenance.items() if k in ("model", "rollouts", "generator", "run")}


def _discrete(source: Source, value: float, rating, unparsed) -> int | None:
    if source.family in RATED_KINDS:
        if rating is not None or unparsed:
            return rating
        return 1 if value >= 0.5 else -1  # an older imported label: a probability only
    return 1 if value >= (source.threshold if source.threshold is not None else 0.5) else -1


def available_sources(project) -> list[SourceInfo]:
    """Every source with labels in the project, with its version (judges: model, prompt
    version, sampling; PRMs and Monte Carlo: what their provenance records)."""
    out: list[SourceInfo] = []
    if GoldLabel.objects.filter(solution__project=project).exists():
        out.append(SourceInfo("gold", "gold", "Gold key"))
    submitted = Assignment.objects.filter(project=project, status=Assignment.Status.SUBMITTED,
                                          ratings__rating__isnull=False)
    if submitted.exists():
        out.append(SourceInfo("human:consensus", "consensus", "Human consensus"))
    for username, how in (submitted.order_by("annotator__username")
                          .values_list("annotator__username", "source").distinct()):
        title = f"Human: {username}" + (" (imported)" if how == Assignment.Source.IMPORT else "")
        out.append(SourceInfo(f"human:{username}", "human", title))
    # One aggregate gives each machine source and its newest row, one read their provenance
    # (not a newest-row lookup per source: that walks the whole table's id index backwards
    # past every other project's rows).
    machine = list(PreAnnotation.objects.filter(node__problem__project=project)
                   .values_list("kind", "source").annotate(last=Max("id")).order_by("kind", "source"))
    provenance = dict(PreAnnotation.objects.filter(id__in=[last for _, _, last in machine])
                      .values_list("id", "provenance"))
    names = {kind: fam for fam, kind in {**RATED_KINDS, **SCORED_KINDS}.items()}
    for kind, name, last_id in machine:
        family = names.get(kind)
        if family is None:
            continue
        version = _version(provenance.get(last_id) or {})
        if family in RATED_KINDS:
            spec, title = f"{family}:{name}", f"{family.title()}: {name}"
        elif family == "prm":
            spec, title = f"prm:{name}@0.5", f"PRM {name} (P(good) >= 0.5)"
        else:
            spec, title = f"{family}:{name}", f"Monte Carlo {family[3:]}: {name}"
        out.append(SourceInfo(spec, family, title, version or {}))
    return out
