"""The label-sources report: each source against a reference, pairwise kappa, a consensus rule.

Definitions (docs/labels.md, "The report"):

* A step is *labeled* by a source when the source has a row for it, parsed or not;
  *coverage* is labeled steps / all steps of the project's solutions.
* Two labels *agree* when they are the same 3-way label (-1, 0 or +1).
* *Accuracy* is agreeing steps / steps both the source and the reference label with a
  parsed label; an unparsed or missing label is left out.
* *Agreement on the reference's steps* is agreeing steps / steps the reference labels
  (parsed): a step the source left unlabeled or unparsed counts as a disagreement.
* *Cohen's kappa* is over the 3 classes, on the steps both label (parsed).
* The *agree* rule over chosen sources keeps a step when every chosen source has a parsed
  label for it and they are all equal; the *kept fraction* is kept steps / steps every
  chosen source labels (parsed); the kept labels' *accuracy* is against the reference, over
  the kept steps the reference labels.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from itertools import combinations

from annotate.models import Solution

from . import anchoring as anchoring_section
from .labels import (
    Labels,
    SourceInfo,
    UnknownSource,
    available_sources,
    labels_for,
    machine_source,
    parse_source,
)

CLASSES = (-1, 0, 1)
#: References the anchoring section judges a machine verdict wrong by (people, not machines).
ANCHORING_REFERENCES = ("gold", "consensus")


def cohen_kappa(pairs: list[tuple[int, int]]) -> float | None:
    """Cohen's kappa over -1/0/+1; None with no pairs, or when chance agreement is total."""
    n = len(pairs)
    if not n:
        return None
    observed = sum(a == b for a, b in pairs) / n
    left, right = Counter(a for a, _ in pairs), Counter(b for _, b in pairs)
    expected = sum(left[c] * right[c] for c in CLASSES) / (n * n)
    if expected >= 1:
        return None
    return (observed - expected) / (1 - expected)


def _ratio(a: int, b: int) -> float | None:
    return a / b if b else None


def _compare(labels: Labels, reference: Labels, keys=None) -> dict:
    """Accuracy, agreement on the reference's steps and kappa of ``labels`` vs ``reference``."""
    pairs, ref_steps = [], 0
    for sid, ref_row in reference.items():
        row = labels.get(sid, {})
        for pos, ref in ref_row.items():
            if ref is None or (keys is not None and not keys(sid, pos)):
                continue
            ref_steps += 1
            if row.get(pos) is not None:
                pairs.append((row[pos], ref))
    agree = sum(a == b for a, b in pairs)
    return {"reference_steps": ref_steps, "compared": len(pairs), "agree": agree,
            "accuracy": _ratio(agree, len(pairs)),
            "agreement_on_reference": _ratio(agree, ref_steps),
            "kappa": cohen_kappa(pairs)}


def _first_error(row: dict[int, int | None]) -> int | None:
    errors = [pos for pos, label in row.items() if label == -1]
    return min(errors) if errors else None


def build_report(project, reference: str | None = None, sources: list[str] | None = None,
                 consensus: list[str] | None = None, anchoring: str | None = None,
                 progress=None) -> dict:
    """The report (module docstring). ``anchoring`` names the machine source whose anchoring
    the report measures (``quality.anchoring``; default the project's verify source).
    ``progress(done, total)``, when given, is called as each source's labels are read (the
    ``label_report`` Run's progress bar)."""
    infos = {info.spec: info for info in available_sources(project)}
    specs = list(dict.fromkeys(sources or infos))
    reference = reference or default_reference(list(infos.values()))
    if anchoring is not None:
        machine_source(anchoring)  # UnknownSource for a human or malformed one, before any query
    if reference is None:
        return {"reference": None, "sources": [], "steps": 0, "solutions": 0,
                "available": [], "positions": [], "first_error": [], "pairs": [],
                "consensus": None, "anchoring": anchoring_section.absent(
                    "No step in this project has a label yet.", anchoring)}
    if reference not in specs:
        specs.insert(0, reference)
    for spec in specs:
        parse_source(spec)  # UnknownSource for a malformed spec, before any query
    paths = _paths(project)
    ids = list(paths)
    labels = {}
    for done, spec in enumerate(specs):
        if progress is not None:
            progress(done, len(specs) + 1)
        labels[spec] = labels_for(spec, ids, paths, project=project)
    ref = labels[reference]
    total = sum(len(p) for p in paths.values())
    rows = []
    for spec in specs:
        mine = labels[spec]
        dist = Counter(label for row in mine.values() for label in row.values())
        labeled = sum(dist.values())
        info = infos.get(spec) or SourceInfo(spec, parse_source(spec).family, spec)
        rows.append({
            "source": spec, "title": info.title, "family": info.family, "version": info.version,
            "labeled": labeled, "coverage": _ratio(labeled, total), "unparsed": dist[None],
            "bad": dist[-1], "okay": dist[0], "good": dist[1], **_compare(mine, ref)})
    chosen = consensus if consensus is not None else default_consensus(specs, reference, infos)
    return {
        "reference": reference, "solutions": len(ids), "steps": total,
        "available": [vars(i) for i in infos.values()], "sources": rows,
        "positions": _by_position(specs, labels, ref),
        "first_error": _by_first_error(specs, labels, ref),
        "pairs": _pairs(specs, labels),
        "consensus": _consensus(chosen, labels, ref, ids, paths, project) if chosen else None,
        "anchoring": anchoring_section.anchoring(
            project, anchoring, paths, reference,
            ref if parse_source(reference).family in ANCHORING_REFERENCES else None, labels),
    }


def default_reference(infos: list[SourceInfo]) -> str | None:
    specs = [i.spec for i in infos]
    for preferred in ("gold", "human:consensus"):
        if preferred in specs:
            return preferred
    return specs[0] if specs else None


def default_consensus(specs, reference, infos) -> list[str]:
    """The judges and imported labels when there are two or more, else no rule."""
    machine = [s for s in specs if s != reference and parse_source(s).family in ("judge", "imported")]
    return machine if len(machine) >= 2 else []


def _paths(project) -> dict[int, list[int]]:
    """{solution id: its path's node ids}, in id order."""
    from annotate.selectors.paths import node_paths

    last = dict(Solution.objects.filter(project=project).order_by("id")
                .values_list("id", "last_step_id"))
    paths = node_paths(last.values())
    return {sid: paths[step] for sid, step in last.items()}


def _by_position(specs, labels, ref) -> list[dict]:
    positions = sorted({pos for row in ref.values() for pos, v in row.items() if v is not None})
    out = []
    for pos in positions:
        entry = {"position": pos, "sources": {}}
        for spec in specs:
            entry["sources"][spec] = _compare(labels[spec], ref, keys=lambda _s, p, q=pos: p == q)
        entry["reference_steps"] = next(iter(entry["sources"].values()))["reference_steps"]
        out.append(entry)
    return out


def _by_first_error(specs, labels, ref) -> list[dict]:
    """Solutions grouped by the reference's first -1 (None: the reference finds no error)."""
    groups: dict[int | None, set[int]] = defaultdict(set)
    for sid, row in ref.items():
        if any(v is not None for v in row.values()):
            groups[_first_error(row)].add(sid)
    out = []
    for first in sorted(groups, key=lambda k: (k is None, k or 0)):
        members = groups[first]
        entry = {"first_error": first, "solutions": len(members), "sources": {}}
        for spec in specs:
            stats = _compare(labels[spec], ref, keys=lambda s, _p, m=members: s in m)
            found = sum(_first_error(labels[spec].get(sid, {})) == first
                        for sid in members if sid in labels[spec])
            stats["first_error_match"] = _ratio(found, len(members))
            entry["sources"][spec] = stats
        out.append(entry)
    return out


def _pairs(specs, labels) -> list[dict]:
    out = []
    for a, b in combinations(specs, 2):
        stats = _compare(labels[a], labels[b])
        out.append({"a": a, "b": b, "compared": stats["compared"], "agree": stats["agree"],
                    "observed": stats["accuracy"], "kappa": stats["kappa"]})
    return out


def _consensus(chosen, labels, ref, ids, paths=None, project=None) -> dict:
    for spec in chosen:
        if spec not in labels:
            labels[spec] = labels_for(spec, ids, paths, project=project)
    candidates = kept = with_ref = agree = 0
    first = labels[chosen[0]]
    for sid, row in first.items():
        for pos, label in row.items():
            values = [labels[s].get(sid, {}).get(pos) for s in chosen]
            if any(v is None for v in values):
                continue
            candidates += 1
            if len(set(values)) != 1:
                continue
            kept += 1
            truth = ref.get(sid, {}).get(pos)
            if truth is not None:
                with_ref += 1
                agree += label == truth
    return {"rule": "agree", "sources": list(chosen), "candidates": candidates, "kept": kept,
            "kept_fraction": _ratio(kept, candidates), "kept_with_reference": with_ref,
            "kept_agree": agree, "kept_accuracy": _ratio(agree, with_ref)}


def kappa_matrix(report: dict) -> list[dict]:
    """Rows of the pairwise kappa matrix, in the order of ``report["sources"]``."""
    specs = [r["source"] for r in report["sources"]]
    kappa = {}
    for p in report["pairs"]:
        kappa[(p["a"], p["b"])] = kappa[(p["b"], p["a"])] = p
    return [{"source": a, "cells": [None if a == b else kappa.get((a, b)) for b in specs]}
            for a in specs]


def in_order(report: dict, key: str) -> list[dict]:
    """``report[key]`` rows (positions, first_error) with ``cells`` in the sources' order."""
    specs = [r["source"] for r in report["sources"]]
    return [{**row, "cells": [row["sources"][s] for s in specs]} for row in report[key]]


TABLES = ("sources", "positions", "first_error", "pairs", "consensus", "anchoring")
STATS = ("reference_steps", "compared", "agree", "accuracy", "agreement_on_reference", "kappa")
#: Columns in a fixed order: a report stored by a Run comes back with its keys reordered.
SOURCE_COLUMNS = ("source", "title", "family", "labeled", "coverage", "unparsed", "bad", "okay",
                  "good", *STATS)
PAIR_COLUMNS = ("a", "b", "compared", "agree", "observed", "kappa")
CONSENSUS_COLUMNS = ("rule", "sources", "candidates", "kept", "kept_fraction",
                     "kept_with_reference", "kept_agree", "kept_accuracy")


def table_rows(report: dict, table: str) -> list[dict]:
    """One of ``TABLES`` as flat rows (the CSV download)."""
    ref = report["reference"]
    if table == "sources":
        return [{"reference": ref, **{k: r[k] for k in SOURCE_COLUMNS},
                 "version": json.dumps(r["version"], sort_keys=True)} for r in report["sources"]]
    if table in ("positions", "first_error"):
        key = "position" if table == "positions" else "first_error"
        specs = [r["source"] for r in report["sources"]]
        return [{"reference": ref, key: row[key], "source": spec,
                 **{k: stats.get(k) for k in (*STATS, "first_error_match") if k in stats}}
                for row in report[table] for spec in specs
                for stats in (row["sources"][spec],)]
    if table == "pairs":
        return [{k: p[k] for k in PAIR_COLUMNS} for p in report["pairs"]]
    if table == "consensus":
        rule = report["consensus"]
        return [] if rule is None else [{"reference": ref, **{k: rule[k] for k in CONSENSUS_COLUMNS},
                                         "sources": " ".join(rule["sources"])}]
    if table == "anchoring":
        return anchoring_section.table_rows(report.get("anchoring"))
    raise KeyError(table)


__all__ = ["TABLES", "UnknownSource", "build_report", "cohen_kappa", "in_order", "kappa_matrix",
           "table_rows"]
