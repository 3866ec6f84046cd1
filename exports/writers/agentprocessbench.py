"""AgentProcessBench JSONL: each imported agent trajectory as the record it came from.

The record's fields and messages come from ``Solution.trajectory`` (kept by the
``agent_trajectory`` import), in the record's own key order; ``step_labels`` are the
ratings as they are now in Stepwise (one annotator's, or the consensus, by the spec's
``labels``), keyed by the assistant turn's message index (an unrated turn has no key);
``final_label`` is the imported one. A labeled solution that is no imported trajectory
is refused with the reason.
"""

from __future__ import annotations

from annotate.models import Solution

from ..records import Record
from ..selectors import iter_records

#: Records whose trajectories are read in one query (a trajectory is some 10 kB).
CHUNK = 200


def iter_rows(spec: dict, refused: list | None = None, tally=None):
    batch: list[Record] = []
    for record in iter_records(spec, tally):
        batch.append(record)
        if len(batch) >= CHUNK:
            yield from _rows(batch, refused)
            batch = []
    yield from _rows(batch, refused)


def _rows(batch: list[Record], refused: list | None):
    if not batch:
        return
    kept = dict(Solution.objects.filter(id__in={r.solution_id for r in batch}).values_list(
        "id", "trajectory"))
    for record in batch:
        trajectory = kept.get(record.solution_id) or {}
        row, reason = trajectory_row(record, trajectory)
        if row is None:
            if refused is not None:
                refused.append((record.split, record.id, reason))
            continue
        yield record.split, row, len(record.steps)


def trajectory_row(record: Record, trajectory: dict) -> tuple[dict | None, str]:
    """The record back, or None and why it cannot be."""
    if not trajectory:
        return None, (f"solution {record.solution_id} is no imported agent trajectory "
                      f"(it has no messages to give back)")
    steps = trajectory["steps"]
    if len(record.steps) != len(steps):
        return None, (f"the labeled path of solution {record.solution_id} has "
                      f"{len(record.steps)} steps; its trajectory has {len(steps)} assistant turns")
    labels = {str(index): step.rating for index, step in zip(steps, record.steps)
              if step.rating is not None}
    names = trajectory.get("names") or {}  # the record's own keys where a field map renamed
    values = {**trajectory["fields"], names.get("messages", "messages"): trajectory["messages"],
              names.get("step_labels", "step_labels"): labels}
    if "final_label" in trajectory:
        values[names.get("final_label", "final_label")] = trajectory["final_label"]
    keys = trajectory["keys"] + [k for k in values if k not in trajectory["keys"]]
    return {k: values[k] for k in keys}, ""
