"""RLHFlow PRM chat data: the problem and first step as the first user turn, each step a
user turn answered by an assistant turn ``+`` or ``-``."""

from ..records import Record, labeled_prefix, step_is_good, step_sources
from ..selectors import iter_records


def record_row(record: Record, spec: dict) -> dict | None:
    prefix = labeled_prefix(record.steps)
    if not prefix:
        return None
    turns = []
    for i, step in enumerate(prefix):
        content = f"{record.problem} {step.text}" if i == 0 else step.text
        turns.append({"role": "user", "content": content})
        turns.append({"role": "assistant",
                      "content": "+" if step_is_good(step, spec["neutral"]) else "-"})
    row = {"conversations": turns, "label_source": record.label_source}
    if step_sources(spec):
        row["label_sources"] = [s.source for s in prefix]
    return row


def iter_rows(spec: dict, refused: list | None = None, tally=None):
    for record in iter_records(spec, tally):
        row = record_row(record, spec)
        if row is not None:
            yield record.split, row, len(row["conversations"]) // 2
