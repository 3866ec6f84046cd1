"""TRL / axolotl stepwise supervision: ``prompt``, ``completions: list[str]``,
``labels: list[bool]`` (TRL's PRMTrainer and axolotl's ``stepwise_supervised`` type), and
``label_source`` (per_annotator, consensus, gold or machine), which trainers ignore.

Steps are the labeled prefix of the solution (labeling stops after the first error).
With ``expand_alternatives`` each rated alternative candidate at a position adds a row:
the labeled prefix before it, then the alternative.
"""

from ..records import Record, labeled_prefix, step_is_good, step_sources
from ..selectors import iter_records


def record_rows(record: Record, spec: dict) -> list[dict]:
    neutral = spec["neutral"]
    prefix = labeled_prefix(record.steps)
    rows = []
    if prefix:
        good = {1: True, -1: False, 0: neutral == "positive"}
        rows.append({"prompt": record.problem, "completions": [s.text for s in prefix],
                     "labels": [good[s.rating] for s in prefix],
                     "label_source": record.label_source})
        if step_sources(spec):
            # Trainers drop unknown columns; this marks which labels a machine made.
            rows[0]["label_sources"] = [s.source for s in prefix]
    if spec["expand_alternatives"]:
        for position in sorted(record.alternatives):
            if position > len(prefix):
                continue  # the path before this position is not fully labeled
            head = prefix[:position]
            for alt in record.alternatives[position]:
                rows.append({
                    "prompt": record.problem,
                    "completions": [s.text for s in head] + [alt.text],
                    "labels": [step_is_good(s, neutral) for s in head]
                    + [step_is_good(alt, neutral)],
                    "label_source": record.label_source,
                })
                if step_sources(spec):
                    rows[-1]["label_sources"] = [s.source for s in head] + [alt.source]
    return rows


def iter_rows(spec: dict, refused: list | None = None, tally=None):
    for record in iter_records(spec, tally):
        for row in record_rows(record, spec):
            yield record.split, row, len(row["labels"])
