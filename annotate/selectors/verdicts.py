"""Verify mode's machine verdicts: what the project's verify source says of each shown step.

Label sources and their rules belong to ``quality.labels`` (one reader of any source's
labels); it registers its reader here in ``ready()``, as other apps fill the queue's
registries, so the labeling page reads verdicts through it without importing a floor above.

A reader is ``fn(spec, solution_id, node_ids, exclude) -> {node_id: Verdict}``: the label the
source gives each node in that solution's context (a source with no row for a node leaves it
out); ``exclude`` is a filter on ``PreAnnotation`` of rows this labeler may not see (a source
under blind certification, ``services.blind.hidden_hints``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# Below this confidence a verdict counts as unsure: the "next unsure" key stops there.
UNSURE_BELOW = 0.75


@dataclass(frozen=True)
class Verdict:
    rating: int | None  # -1/0/+1; None: the source answered but gave no usable label
    reason: str = ""
    sure: float = 1.0  # 0..1: a judge's sample agreement, a score's distance from its threshold
    version: dict = field(default_factory=dict)

    @property
    def unsure(self) -> bool:
        return self.rating is None or self.sure < UNSURE_BELOW


READERS: list[Callable] = []


def register_reader(fn: Callable) -> Callable:
    if fn not in READERS:
        READERS.append(fn)
    return fn


def verdicts_for(spec: str, solution_id: int, node_ids, exclude=None) -> dict[int, Verdict]:
    if not READERS:
        raise RuntimeError("No verdict reader is registered: the 'quality' app registers it "
                           "in ready(); is it in INSTALLED_APPS?")
    return READERS[-1](spec, solution_id, list(node_ids), exclude)
