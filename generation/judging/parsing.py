"""Reading a judge's answer into step verdicts, and the vote over k samples.

An answer that cannot be read is recorded as such (``None`` for that step, with the raw
text kept by the caller), never guessed: a missing line is not "correct".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

VERDICTS = {"correct": 1, "right": 1, "neutral": 0, "incorrect": -1, "wrong": -1}
_LINE = re.compile(r"^\W*step\s*(\d+)\s*[:.)\-]\s*(correct|right|neutral|incorrect|wrong)\b"
                   r"\s*(?:[-:\u2013\u2014]\s*)?(.*)$", re.IGNORECASE)
_BOXED = re.compile(r"\\boxed\{\s*(-?\d+)\s*\}")


@dataclass(frozen=True)
class StepVerdict:
    rating: int | None  # +1 / 0 / -1, or None when the answer says nothing readable
    reason: str = ""


def parse_step_verdicts(answer: str, n_steps: int) -> list[StepVerdict]:
    """One verdict per step from ``Step k: verdict - reason`` lines; a step named twice
    with different verdicts, or not at all, is unreadable (None)."""
    seen: dict[int, list[StepVerdict]] = {}
    for line in answer.splitlines():
        match = _LINE.match(line.replace("**", "").strip())  # Markdown bold around a verdict
        if match:
            k = int(match.group(1))
            if 1 <= k <= n_steps:
                seen.setdefault(k, []).append(
                    StepVerdict(VERDICTS[match.group(2).lower()], match.group(3).strip()))
    out = []
    for k in range(1, n_steps + 1):
        found = seen.get(k, [])
        ratings = {v.rating for v in found}
        out.append(found[0] if len(ratings) == 1 else StepVerdict(None))
    return out


def parse_earliest_error(answer: str, n_steps: int) -> list[StepVerdict]:
    """ProcessBench's answer: the last ``\\boxed{k}``; steps before k are correct, k is
    incorrect, later steps are unrated (None: nothing is said of them); -1: all correct."""
    found = _BOXED.findall(answer)
    if not found:
        return [StepVerdict(None)] * n_steps
    k = int(found[-1])
    if k == -1:
        return [StepVerdict(1)] * n_steps
    if not 1 <= k <= n_steps:
        return [StepVerdict(None)] * n_steps
    reason = f"The earliest error is in step {k}."
    return [StepVerdict(1)] * (k - 1) + [StepVerdict(-1, reason)] + [StepVerdict(None)] * (n_steps - k)


def parse(style: str, answer: str, n_steps: int) -> list[StepVerdict]:
    if style == "step_verdicts":
        return parse_step_verdicts(answer, n_steps)
    if style == "earliest_error":
        return parse_earliest_error(answer, n_steps)
    raise ValueError(f"Unknown judge answer style {style!r}.")


@dataclass(frozen=True)
class Vote:
    rating: int | None  # the majority; None on a tie or when no sample could be read
    agreement: float  # share of the readable samples that gave the majority (0 when none)
    readable: int  # samples with a verdict for this step
    reason: str  # the reason of the first sample that gave the majority


def vote(samples: list[StepVerdict]) -> Vote:
    """The majority over k samples of one step; a tie has no rating."""
    readable = [s for s in samples if s.rating is not None]
    if not readable:
        return Vote(None, 0.0, 0, "")
    counts = Counter(s.rating for s in readable).most_common()
    best, top = counts[0]
    if len(counts) > 1 and counts[1][1] == top:
        return Vote(None, top / len(readable), len(readable), "")
    reason = next(s.reason for s in readable if s.rating == best)
    return Vote(best, top / len(readable), len(readable), reason)
