"""OpenRLHF PRM data: ``input`` is the problem then each step followed by the placeholder
``ки``; ``label`` has one entry per placeholder: ``+``/``-`` (hard) or floats (soft).
Train with ``--input_key input --label_key label --placeholder_token ки --reward_tokens + -``.
"""

from ..records import Record, labeled_prefix, soft_label, step_is_good
from ..selectors import iter_records

PLACEHOLDER = "ки"


def clean(text: str) -> str:
    # A stray placeholder inside a text would shift every label after it.
    return text.replace(PLACEHOLDER, "")


def record_row(record: Record, spec: dict) -> dict | None:
    prefix = labeled_prefix(record.steps)
    if not prefix:
        return None
    body = "\n".join(f"{clean(s.text).strip()} {PLACEHOLDER}" for s in prefix)
    if spec["label_type"] == "soft":
        labels = [soft_label(s) for s in prefix]
    else:
        labels = ["+" if step_is_good(s, spec["neutral"]) else "-" for s in prefix]
    row = {"input": f"{clean(record.problem).strip()}\n{body}", "label": labels, "id": record.id}
    if spec["machine_labels"]:
        row["label_sources"] = [s.source for s in prefix]
    return row


def iter_rows(spec: dict):
    for record in iter_records(spec):
        row = record_row(record, spec)
        if row is not None:
            yield record.split, row, len(row["label"])
