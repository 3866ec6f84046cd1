"""Verification chains of thought for generative PRMs (ThinkPRM, GenPRM, R-PRM): one chat
row per solution in the layout TRL's ``SFTTrainer`` loads as it is (docs/api.md,
"critiques")::

  {"messages": [{"role": "user", "content": <problem, steps numbered from 0, instruction>},
                {"role": "assistant", "content": <verification chain of thought>}],
   "stepwise": {...ids, verdicts, critiques' origins and sources}}

The assistant's text verifies the steps in order up to the first wrong one, each as
``Step k: <critique>`` (or ``Step k:`` alone without one) and a line ``The step is
correct.`` / ``The step is incorrect.``, then ends with ``The first wrong step is
\\boxed{N}.`` (N the 0-based index, -1 when every step is correct). Verdicts are the spec's
labels (a label rule or a label mode): -1 is incorrect, 0 and +1 correct.

A critique whose critic labeled the step the other way (an annotator's own rating, a
judge's label) is not used for it: its text would argue against the verdict.

Left out (``refused``): a row whose verdicts are unknown (a step before the first error
unlabeled), one with no usable critique from the source, and with ``agree_with`` one whose
verdicts do not all agree with that reference's labels.
"""

from __future__ import annotations

from ..critique_rows import batches, step_critiques
from ..records import Record
from ..selectors import iter_records

INSTRUCTION = (
    "Review the solution step by step. For each step, explain what is right or wrong with it "
    "and say whether the step is correct; stop at the first incorrect step. End with \"The "
    "first wrong step is \\boxed{k}.\", where k is the index of the first incorrect step, or "
    "-1 if every step is correct.")


def verdicts(record: Record) -> list[bool] | None:
    """Correct (True) / incorrect (False) of each step up to and with the first wrong one;
    None when a step before it is unlabeled."""
    out = []
    for step in record.steps:
        if step.rating is None:
            return None
        out.append(step.rating >= 0)
        if step.rating < 0:
            break
    return out or None


def prompt(record: Record) -> str:
    steps = "\n\n".join(f"Step {i}: {s.text}" for i, s in enumerate(record.steps))
    return f"Problem:\n{record.problem}\n\nSolution (steps numbered from 0):\n{steps}\n\n{INSTRUCTION}"


def chain(verdict: list[bool], critiques: dict) -> str:
    parts = []
    for i, ok in enumerate(verdict):
        head = f"Step {i}:"
        if i in critiques:
            head += " " + critiques[i].text.strip()
        parts.append(f"{head}\nThe step is {'correct' if ok else 'incorrect'}.")
    first = next((i for i, ok in enumerate(verdict) if not ok), -1)
    parts.append(f"The first wrong step is \\boxed{{{first}}}.")
    return "\n\n".join(parts)


def _disagrees(verdict: list[bool], reference: dict | None) -> str | None:
    if not reference:
        return "the reference has no labels for this solution"
    for i, ok in enumerate(verdict):
        ref = reference.get(i)
        if ref is None:
            return f"the reference does not label step {i}"
        if (ref >= 0) != ok:
            return f"step {i}'s verdict disagrees with the reference"
    return None


def record_row(record: Record, spec: dict, critiques: dict, reference=None):
    """(row, None) or (None, why it is left out)."""
    verdict = verdicts(record)
    if verdict is None:
        return None, "a step before the first error is unlabeled"
    # A critique whose critic labeled the step the other way would contradict its verdict.
    mine = {i: c for i, c in critiques.items() if i < len(verdict)
            and (c.rating is None or (c.rating >= 0) == verdict[i])}
    if not mine:
        return None, f"no {spec['critique_source']} critique of its verified steps"
    if spec.get("agree_with"):
        why = _disagrees(verdict, reference)
        if why:
            return None, f"{why} ({spec['agree_with']})"
    first = next((i for i, ok in enumerate(verdict) if not ok), -1)
    return {
        "messages": [{"role": "user", "content": prompt(record)},
                     {"role": "assistant", "content": chain(verdict, mine)}],
        "stepwise": {
            "id": record.id, "project_id": record.project_id, "problem_id": record.problem_id,
            "solution_id": record.solution_id, "assignment_id": record.assignment_id,
            "label_source": record.label_source, "critique_source": spec["critique_source"],
            "agree_with": spec.get("agree_with"), "first_error": first,
            "verdicts": verdict, "final_answer_correct": record.is_correct,
            "critiques": [{"position": i, "origin": c.origin, "source": c.source,
                           "reviewed": c.reviewed, "correction": c.correction}
                          for i, c in sorted(mine.items())],
        },
    }, None


def iter_rows(spec: dict, refused: list | None = None, tally=None):
    from quality.labels import labels_for

    for batch in batches(iter_records(spec, tally)):
        critiques = step_critiques(batch, spec["critique_source"], spec["critique_machine_source"])
        reference = (labels_for(spec["agree_with"], [r.solution_id for r in batch])
                     if spec.get("agree_with") else {})
        for record in batch:
            row, why = record_row(record, spec, critiques.get(record.id, {}),
                                  reference.get(record.solution_id))
            if row is None:
                if refused is not None:
                    refused.append((record.split, record.id, why))
                continue
            yield record.split, row, len(row["stepwise"]["verdicts"])
