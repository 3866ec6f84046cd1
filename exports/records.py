"""The one internal record every writer reads: a labeled solution, step by step.

A record is one annotator's labels of one solution (``per_annotator``), the consensus of
all annotators (``consensus``), a gold solution's answer key (``gold``), or machine labels
only. Each step carries where its label
came from, so machine labels are always marked as such.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(slots=True)
class Step:
    node_id: int
    text: str
    rating: int | None  # -1/0/+1; None = not labeled
    # human | consensus | review | machine | gold | written (own step); with a label rule the
    # source spec the label came from, or agree:<a>+<b> / vote for combined ones
    source: str = "human"
    score: float | None = None  # machine probability, or agreement-free soft label
    agreement: float | None = None
    flagged: bool | None = None


@dataclass(slots=True)
class Record:
    id: str
    project_id: int
    problem_id: int
    problem_external_id: str
    problem: str
    ground_truth_answer: str
    solution_id: int
    solution_external_id: str
    steps: list[Step]
    final_answer: str
    is_correct: bool | None
    is_gold: bool
    label_source: str  # per_annotator | consensus | machine | gold, or a label rule's name
    split: str = "all"
    assignment_id: int | None = None
    annotator_id: int | None = None
    finish_reason: str = ""
    # position -> rated sibling candidates shown at that position (not on the path)
    alternatives: dict[int, list[Step]] = field(default_factory=dict)


def split_of(statement_hash: str, test_fraction: float | None, seed: str = "") -> str:
    """Train/test by problem, stable across exports, projects and re-imports: the same
    statement (and seed) always lands on the same side."""
    if not test_fraction:
        return "all"
    digest = hashlib.sha256(f"{seed}:{statement_hash}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < test_fraction else "train"


def step_sources(spec: dict) -> bool:
    """Whether rows say where each step's label came from (``label_sources``): with machine
    labels, and with a label rule."""
    return spec["machine_labels"] or isinstance(spec["labels"], dict)


def step_is_good(step: Step, neutral: str = "positive") -> bool | None:
    """Binary label of a step: +1 good, -1 bad, 0 by the neutral mapping; None = unlabeled."""
    if step.rating is None:
        return None
    if step.rating == 0:
        return neutral == "positive"
    return step.rating > 0


def soft_label(step: Step) -> float | None:
    if step.rating is None:
        return None
    if step.score is not None:
        return float(step.score)
    return {1: 1.0, 0: 0.5, -1: 0.0}[step.rating]


def labeled_prefix(steps: list[Step]) -> list[Step]:
    """Steps up to the first unlabeled one: first-error labeling stops after a bad step."""
    out = []
    for step in steps:
        if step.rating is None:
            break
        out.append(step)
    return out
