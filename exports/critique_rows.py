"""Critiques for export records: which critique each step of a batch of records gets, by the
spec's ``critique_source`` (exports/critique_spec.py), read through ``quality.critiques``."""

from __future__ import annotations

from .records import Record

BATCH = 500


def batches(records, size: int = BATCH):
    batch = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def step_critiques(records: list[Record], source: str = "human",
                   machine: str | None = None) -> dict[str, dict[int, object]]:
    """{record id: {position: CritiqueText}}. A record of one annotator's work reads that
    task's critiques; any other record (consensus, gold, a label rule) reads every
    annotator's (``human:any``) or the machine source's."""
    from quality.critiques import critiques_for, critiques_of_assignments

    origins = {"accepted"} if source == "accepted_machine" else None
    out: dict[str, dict[int, object]] = {}
    if source == "machine":
        found = critiques_for(machine, [r.solution_id for r in records])
        return {r.id: found.get(r.solution_id, {}) for r in records}
    own = critiques_of_assignments([r.assignment_id for r in records if r.assignment_id],
                                   origins=origins)
    shared = [r.solution_id for r in records if not r.assignment_id]
    anyone = critiques_for("human:any", shared, origins=origins) if shared else {}
    for r in records:
        if r.assignment_id:
            mine = own.get(r.assignment_id, {})
            out[r.id] = {pos: mine[s.node_id] for pos, s in enumerate(r.steps) if s.node_id in mine}
        else:
            out[r.id] = anyone.get(r.solution_id, {})
    return out
