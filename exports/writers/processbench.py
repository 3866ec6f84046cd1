"""ProcessBench-style evaluation: ``id``, ``problem``, ``steps``, ``final_answer_correct``
and ``label`` = index of the first bad step, or -1 when every step is fine.

A record is left out when its label is unknown: no bad step and some step unlabeled,
or the final answer's correctness not known. Where the first error has a human critique
(the annotator's own for one annotator's labels, else any annotator's), the row has
``critique``: its text, and ``correction``: the corrected step, if one was written.
"""

from ..critique_rows import batches, step_critiques
from ..records import Record, step_sources
from ..selectors import iter_records


def record_row(record: Record, spec: dict) -> dict | None:
    label = -1
    for i, step in enumerate(record.steps):
        if step.rating is None:
            return None
        if step.rating < 0:
            label = i
            break
    if record.is_correct is None:
        return None
    return {"id": record.id, "generator": record.label_source, "problem": record.problem,
            "steps": [s.text for s in record.steps],
            "final_answer_correct": bool(record.is_correct),
            "label": label, "label_source": record.label_source,
            **({"label_sources": [s.source for s in record.steps]} if step_sources(spec) else {})}


def iter_rows(spec: dict, refused: list | None = None, tally=None):
    for batch in batches(iter_records(spec, tally)):
        critiques = step_critiques(batch)
        for record in batch:
            row = record_row(record, spec)
            if row is None:
                continue
            first = critiques.get(record.id, {}).get(row["label"]) if row["label"] >= 0 else None
            if first is not None:
                row["critique"] = first.text
                if first.correction:
                    row["correction"] = first.correction
            yield record.split, row, len(row["steps"])
