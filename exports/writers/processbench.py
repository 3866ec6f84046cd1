"""ProcessBench-style evaluation: ``id``, ``problem``, ``steps``, ``final_answer_correct``
and ``label`` = index of the first bad step, or -1 when every step is fine.

A record is left out when its label is unknown: no bad step and some step unlabeled,
or the final answer's correctness not known.
"""

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
    for record in iter_records(spec, tally):
        row = record_row(record, spec)
        if row is not None:
            yield record.split, row, len(row["steps"])
