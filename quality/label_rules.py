"""Label rules: which step labels an export or a training takes, as a rule over label sources.

A rule (docs/labels.md, "Rules") is one of::

  {"rule": "source", "source": SPEC}                   one source's labels
  {"rule": "agree",  "sources": [SPEC, SPEC, ...]}     the label every source gives, when all agree
  {"rule": "prefer", "sources": [SPEC, ...]}           the first source (in order) with a label
  {"rule": "vote",   "sources": [SPEC, SPEC, ...], "min_votes": 1}
                                                       the most common label; a tie drops the step

Labels are read through ``quality.labels.labels_for`` only. Only parsed labels (-1, 0, +1)
count; an unparsed one (None) is no label. Per rule, over the given solutions' steps:

* ``source``: *candidates* are the steps the source labels (a row, parsed or not); *kept*
  are those with a parsed label.
* ``agree`` (the label-sources report's consensus rule, ``label_report._consensus``):
  *candidates* are the steps every source labels with a parsed label; *kept* are those where
  the labels are all equal.
* ``prefer``: *candidates* are the steps any source labels (a row, parsed or not); *kept*
  are those some source labels with a parsed label, the first in order giving it.
* ``vote``: *candidates* as ``prefer``; *kept* are those with at least ``min_votes`` parsed
  labels (default 1) and one label more common than every other.

The *kept fraction* is kept / candidates (None without candidates).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from .labels import Labels, UnknownSource, labels_for, parse_source

RULES = ("source", "agree", "prefer", "vote")
MAX_SOURCES = 16


class RuleError(ValueError):
    """A rule that cannot be applied (the message says why)."""


@dataclass(frozen=True)
class LabelRule:
    rule: str
    sources: tuple[str, ...]
    min_votes: int = 1

    def as_dict(self) -> dict:
        if self.rule == "source":
            return {"rule": "source", "source": self.sources[0]}
        out = {"rule": self.rule, "sources": list(self.sources)}
        if self.rule == "vote":
            out["min_votes"] = self.min_votes
        return out

    @property
    def name(self) -> str:
        """The rule as one string: a row's ``label_source``."""
        if self.rule == "source":
            return self.sources[0]
        joiner = ">" if self.rule == "prefer" else "+"
        return f"{self.rule}:{joiner.join(self.sources)}"


def parse_rule(raw) -> LabelRule:
    """A checked rule, or RuleError naming what is wrong."""
    if isinstance(raw, LabelRule):
        return raw
    if not isinstance(raw, dict):
        raise RuleError('A label rule is an object: {"rule": "source" | "agree" | "prefer" | '
                        '"vote", ...}.')
    rule = raw.get("rule")
    if rule not in RULES:
        raise RuleError(f"Unknown label rule {rule!r}; expected one of: {', '.join(RULES)}.")
    allowed = {"rule", "source"} if rule == "source" else {"rule", "sources"} | (
        {"min_votes"} if rule == "vote" else set())
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise RuleError(f"Unknown field{'s' if len(unknown) > 1 else ''} of a '{rule}' rule: "
                        f"{', '.join(map(str, unknown))}.")
    if rule == "source":
        specs = [raw.get("source")]
        if not isinstance(specs[0], str) or not specs[0].strip():
            raise RuleError("A 'source' rule names its source: {\"rule\": \"source\", "
                            "\"source\": \"judge:<name>\"}.")
    else:
        specs = raw.get("sources")
        if not isinstance(specs, list) or not all(isinstance(s, str) for s in specs):
            raise RuleError(f"A '{rule}' rule lists its sources: \"sources\": a list of "
                            "source specs.")
        least = 1 if rule == "prefer" else 2
        if len(specs) < least:
            raise RuleError(f"A '{rule}' rule needs at least {least} source"
                            f"{'s' if least > 1 else ''}; it has {len(specs)}.")
        if len(specs) > MAX_SOURCES:
            raise RuleError(f"A rule takes at most {MAX_SOURCES} sources; it has {len(specs)}.")
    names = []
    for spec in specs:
        if any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in spec):
            raise RuleError("A source spec contains a NUL byte or a lone surrogate.")
        try:
            names.append(parse_source(spec).spec)
        except UnknownSource as exc:
            raise RuleError(f"Unknown label source: {exc}") from None
    if len(set(names)) != len(names):
        raise RuleError("A rule names each source once.")
    min_votes = raw.get("min_votes", 1)
    if rule == "vote" and (isinstance(min_votes, bool) or not isinstance(min_votes, int)
                           or not 1 <= min_votes <= len(names)):
        raise RuleError(f"min_votes is a whole number from 1 to the number of sources "
                        f"({len(names)}).")
    return LabelRule(rule, tuple(names), min_votes if rule == "vote" else 1)


def check_sources(rule: LabelRule, project_ids) -> None:
    """RuleError for a ``human:<username>`` source naming nobody who labeled in these projects
    (asked before a build). A user of another project reads as one that does not exist."""
    from annotate.models import Assignment

    for spec in rule.sources:
        source = parse_source(spec)
        if source.family == "human" and not Assignment.objects.filter(
                project_id__in=list(project_ids), annotator__username__iexact=source.name).exists():
            raise RuleError(f"Unknown label source: no user '{source.name}' labels in this "
                            f"project ({spec}).")


@dataclass
class Tally:
    """Candidates and kept steps, added up over chunks of solutions."""

    candidates: int = 0
    kept: int = 0
    by_source: Counter = field(default_factory=Counter)  # kept steps per step label source

    @property
    def fraction(self) -> float | None:
        return self.kept / self.candidates if self.candidates else None

    def add(self, other: Tally) -> None:
        self.candidates += other.candidates
        self.kept += other.kept
        self.by_source.update(other.by_source)

    def as_dict(self) -> dict:
        return {"candidates": self.candidates, "kept": self.kept,
                "kept_fraction": self.fraction, "kept_by_source": dict(self.by_source)}


#: {solution_id: {position: (label, step label source)}}
RuleLabels = dict[int, dict[int, tuple[int, str]]]


def apply_rule(rule: LabelRule | dict, solution_ids: Iterable[int]) -> tuple[RuleLabels, Tally]:
    """The rule's label of each kept step and which source(s) it came from, and the tally."""
    rule = parse_rule(rule)
    ids = list(dict.fromkeys(solution_ids))
    try:
        labels = [labels_for(spec, ids) for spec in rule.sources]
    except UnknownSource as exc:  # a user that does not exist
        raise RuleError(f"Unknown label source: {exc}") from None
    return combine(rule, labels)


def combine(rule: LabelRule, labels: list[Labels]) -> tuple[RuleLabels, Tally]:
    """The rule over each source's labels (``labels`` in the rule's source order)."""
    out: RuleLabels = {}
    tally = Tally()
    steps = sorted({(sid, pos) for mine in labels for sid, row in mine.items() for pos in row})
    combined = rule.name
    for sid, pos in steps:
        rows = [mine.get(sid, {}) for mine in labels]
        values = [row.get(pos) for row in rows]
        picked = None
        if rule.rule == "agree":
            if any(v is None for v in values):
                continue  # not a candidate: some source has no parsed label
            tally.candidates += 1
            if len(set(values)) == 1:
                picked = (values[0], combined)
        else:
            tally.candidates += 1
            parsed = [(v, s) for v, s in zip(values, rule.sources) if v is not None]
            if rule.rule in ("source", "prefer"):
                picked = parsed[0] if parsed else None
            elif len(parsed) >= rule.min_votes:
                counts = Counter(v for v, _ in parsed).most_common()
                if len(counts) == 1 or counts[0][1] > counts[1][1]:
                    picked = (counts[0][0], "vote")
        if picked is not None:
            out.setdefault(sid, {})[pos] = picked
            tally.kept += 1
            tally.by_source[picked[1]] += 1
    return out, tally


def rule_metadata(rule: LabelRule, tally: Tally, versions: dict[str, dict]) -> dict:
    """What a snapshot or a model card records of a rule: the rule, each source's version
    (``available_sources``; {} for a source with no labels there) and the tally."""
    return {**rule.as_dict(), "name": rule.name,
            "versions": {spec: versions.get(spec, {}) for spec in rule.sources},
            **tally.as_dict()}


def source_versions(projects) -> dict[str, dict]:
    """spec -> version of every source available in the projects (the first project's wins)."""
    from .labels import available_sources

    out: dict[str, dict] = {}
    for project in projects:
        for info in available_sources(project):
            out.setdefault(info.spec, info.version)
    return out
