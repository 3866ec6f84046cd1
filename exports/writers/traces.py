"""Long traces: ``trace`` (the text with step spans and labels) and ``deltabench`` (the
DeltaBench records back).

``trace``: one row per record (an annotator's labels, the consensus, gold, or a label
rule's): ``text`` is the solution's ``SolutionTrace.text`` byte for byte, ``steps`` each
step's ``[start, end)`` span with its label (``rating`` -1/0/+1 or null, and where it came
from), ``groups`` the solution's step groups, ``segmentation`` how the steps were cut, and
``fields`` the imported record's other fields.

``deltabench``: one row per traced solution (the first record of it): the record's own
fields in its key order, ``long_cot`` the trace's text, ``sections`` rebuilt from the step
groups (``content`` is the section's paragraphs as in the text, unless the import kept another) and
``sections_labeled_info`` the groups' labels as they are now, then the entries that named no
section; objects come back in the record's key order (nested objects of the other fields
with the same content, in the database's key order). A solution with no trace, or whose path no longer has one step per span (re-cut
since), is refused with the reason.
"""

from __future__ import annotations

from annotate.models import SolutionTrace, StepGroup

from ..records import Record
from ..selectors import iter_records

CHUNK = 50  # a trace is some 30 kB


def iter_trace_rows(spec: dict, refused: list | None = None, tally=None):
    for batch in _batches(iter_records(spec, tally)):
        traces, groups = _load(batch)
        for record in batch:
            row, reason = trace_row(record, traces.get(record.solution_id),
                                    groups.get(record.solution_id, []))
            if row is None:
                _refuse(refused, record, reason)
                continue
            yield record.split, row, len(record.steps)


def iter_deltabench_rows(spec: dict, refused: list | None = None, tally=None):
    seen: set[int] = set()
    for batch in _batches(iter_records(spec, tally)):
        batch = [r for r in batch if r.solution_id not in seen]
        seen.update(r.solution_id for r in batch)
        traces, groups = _load(batch)
        for record in batch:
            row, reason = deltabench_row(record, traces.get(record.solution_id),
                                         groups.get(record.solution_id, []))
            if row is None:
                _refuse(refused, record, reason)
                continue
            yield record.split, row, len(record.steps)


def trace_row(record: Record, trace: SolutionTrace | None, groups: list) -> tuple[dict | None, str]:
    reason = _mismatch(record, trace)
    if reason:
        return None, reason
    return {
        "id": record.id, "problem": record.problem, "ground_truth_answer": record.ground_truth_answer,
        "solution_id": record.solution_id, "external_id": record.solution_external_id,
        "final_answer": record.final_answer, "is_correct": record.is_correct,
        "label_source": record.label_source, "text": trace.text,
        "steps": [{"span": list(span), "rating": step.rating, "source": step.source}
                  for span, step in zip(trace.spans, record.steps)],
        "groups": [{"index": g.index, "start": g.start, "end": g.end, "title": g.title,
                    "metadata": g.metadata} for g in groups],
        "segmentation": trace.segmentation,
        "fields": (trace.metadata or {}).get("fields", {}),
    }, ""


def deltabench_row(record: Record, trace: SolutionTrace | None, groups: list
                   ) -> tuple[dict | None, str]:
    reason = _mismatch(record, trace)
    if reason:
        return None, reason
    meta = trace.metadata or {}
    if meta.get("format") != "deltabench":
        return None, f"solution {record.solution_id} was not imported from DeltaBench"
    text, spans = trace.text, trace.spans
    sections, labels = [], []
    for g in groups:
        section = dict((g.metadata or {}).get("section") or {})
        section.setdefault("content", text[spans[g.start][0]:spans[g.end - 1][1]])
        sections.append(_in_order(section, (g.metadata or {}).get("keys")))
        if (g.metadata or {}).get("labels") is not None:
            labels.append(_in_order(g.metadata["labels"], g.metadata.get("label_keys")))
    labels += [_in_order(e["labels"], e["keys"]) for e in meta.get("extra_labels") or []]
    values = {**meta.get("fields", {}), "long_cot": text, "sections": sections,
              "sections_labeled_info": labels}
    return _in_order(values, meta.get("keys")), ""


def _in_order(value: dict, keys: list | None) -> dict:
    """``value`` with its keys in the imported order (then any added since)."""
    keys = [k for k in keys or [] if k in value]
    return {k: value[k] for k in keys + [k for k in value if k not in keys]}


def _mismatch(record: Record, trace: SolutionTrace | None) -> str:
    if trace is None:
        return f"solution {record.solution_id} has no trace (it was not imported as a long text)"
    if len(trace.spans) != len(record.steps):
        return (f"the labeled path of solution {record.solution_id} has {len(record.steps)} "
                f"steps; its trace has {len(trace.spans)} spans")
    return ""


def _batches(records):
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


def _load(batch: list[Record]) -> tuple[dict, dict]:
    ids = {r.solution_id for r in batch}
    traces = {t.solution_id: t for t in SolutionTrace.objects.filter(solution_id__in=ids)}
    groups: dict[int, list] = {}
    for g in StepGroup.objects.filter(solution_id__in=ids).order_by("solution_id", "index"):
        groups.setdefault(g.solution_id, []).append(g)
    return traces, groups


def _refuse(refused: list | None, record: Record, reason: str) -> None:
    if refused is not None:
        refused.append((record.split, record.id, reason))
