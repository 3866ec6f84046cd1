"""OpenRLHF PRM data: ``input`` is the problem then each step followed by the placeholder
(``ки`` unless the spec's ``placeholder`` names another); ``label`` has one entry per
placeholder: ``+``/``-`` (hard) or floats (soft). Train with ``--input_key input
--label_key label --placeholder_token ки --reward_tokens + -``.

Texts are never altered: a row whose problem or steps contain the placeholder would
shift every label after it, so it is refused with a reason instead (``refused``).
"""

from ..records import Record, labeled_prefix, soft_label, step_is_good, step_sources
from ..selectors import iter_records
from ..spec import PLACEHOLDER


def collision(record: Record, prefix, placeholder: str) -> str | None:
    if placeholder in record.problem:
        return f"the problem contains the placeholder {placeholder!r}"
    for i, step in enumerate(prefix):
        if placeholder in step.text:
            return f"step {i + 1} contains the placeholder {placeholder!r}"
    return None


def record_row(record: Record, spec: dict) -> dict | str | None:
    """The row, None when nothing is labeled, or the reason it is refused."""
    prefix = labeled_prefix(record.steps)
    if not prefix:
        return None
    placeholder = spec.get("placeholder", PLACEHOLDER)
    reason = collision(record, prefix, placeholder)
    if reason is not None:
        return f"{reason}; choose another placeholder"
    body = "\n".join(f"{s.text} {placeholder}" for s in prefix)
    if spec["label_type"] == "soft":
        labels = [soft_label(s) for s in prefix]
    else:
        labels = ["+" if step_is_good(s, spec["neutral"]) else "-" for s in prefix]
    text = f"{record.problem}\n{body}"
    if text.count(placeholder) != len(labels):  # formed across a join
        return f"the texts form the placeholder {placeholder!r}; choose another placeholder"
    row = {"input": text, "label": labels, "id": record.id, "label_source": record.label_source}
    if step_sources(spec):
        row["label_sources"] = [s.source for s in prefix]
    return row


def iter_rows(spec: dict, refused: list | None = None, tally=None):
    for record in iter_records(spec, tally):
        row = record_row(record, spec)
        if isinstance(row, str):
            if refused is not None:
                refused.append((record.split, record.id, row))
        elif row is not None:
            yield record.split, row, len(row["label"])
