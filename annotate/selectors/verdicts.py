"""Verify mode's machine verdicts: what the project's verify source says of each shown step.

Label sources and their rules belong to ``quality.labels`` (one reader of any source's
labels); it registers its reader here in ``ready()``, as other apps fill the queue's
registries, so the labeling page reads verdicts through it without importing a floor above.

A reader is ``fn(spec, solution_id, node_ids, exclude) -> {node_id: Verdict}``: the label the
source gives each node in that solution's context (a source with no row for a node leaves it
out); ``exclude`` is a filter on ``PreAnnotation`` of rows this labeler may not see (a source
under blind certification, ``services.blind.hidden_hints``). It may come with a subquery form
(``VerdictRows``), which a label save joins to the read of its steps and ratings where
nothing is hidden, to read them all in one round trip.
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

    @property
    def sure_text(self) -> str:
        """How sure, as the page shows it (two decimals)."""
        return f"{self.sure:.2f}"


@dataclass(frozen=True)
class VerdictRows:
    """The same reader as a subquery: ``sql`` selects (id, value, rating, reason, provenance)
    of the winning row of the outer step ``n`` (a LATERAL join's), with ``params``;
    ``verdict`` turns the last four into the Verdict ``verdicts_for`` would give."""
    sql: str
    params: list
    verdict: Callable[..., Verdict]


READERS: list[Callable] = []
ROW_READERS: list[Callable] = []


def register_reader(fn: Callable, rows: Callable | None = None) -> Callable:
    """``fn`` as above; ``rows``: ``fn(spec, solution_id) -> VerdictRows``, the same reader as
    a subquery."""
    if fn not in READERS:
        READERS.append(fn)
    if rows is not None and rows not in ROW_READERS:
        ROW_READERS.append(rows)
    return fn


def verdicts_for(spec: str, solution_id: int, node_ids, exclude=None) -> dict[int, Verdict]:
    if not READERS:
        raise RuntimeError("No verdict reader is registered: the 'quality' app registers it "
                           "in ready(); is it in INSTALLED_APPS?")
    return READERS[-1](spec, solution_id, list(node_ids), exclude)


def verdict_rows(spec: str, solution_id: int) -> VerdictRows | None:
    """The registered reader as a subquery (None when it has no such form); ValueError for a
    spec it refuses."""
    if not ROW_READERS:
        return None
    return ROW_READERS[-1](spec, solution_id)
