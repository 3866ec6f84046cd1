"""Monte Carlo step labels (Math-Shepherd) and binary search for the first error (OmegaPRM).

Both work through a ``roll`` function: given step prefixes and a rollout count, it
returns how many rollouts from each prefix reached the right answer. The model
behind it is the caller's business, which keeps these algorithms testable and lets
the benchmark count rollouts exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Roll = Callable[[list[list[str]], int], list[int]]


@dataclass
class StepEstimate:
    soft: float  # fraction of rollouts reaching the right answer
    hard: float  # 1.0 when any did
    rollouts: int  # 0 for a final-answer step, which is graded directly


def mc_estimates(steps: list[str], n: int, roll: Roll, *,
                 answer_correct: Callable[[str], bool | None]) -> list[StepEstimate]:
    """Math-Shepherd: ``n`` rollouts from every step's prefix, in one batched call.

    A step that states the final answer needs no rollouts: its prefix is a finished
    solution, right or wrong.
    """
    out: list[StepEstimate | None] = [None] * len(steps)
    pending: list[int] = []
    for i, step in enumerate(steps):
        verdict = answer_correct(step)
        if verdict is None:
            pending.append(i)
        else:
            out[i] = StepEstimate(float(verdict), float(verdict), 0)
    if pending:
        counts = roll([steps[:i + 1] for i in pending], n)
        for i, correct in zip(pending, counts):
            out[i] = StepEstimate(correct / n, float(correct > 0), n)
    return out  # type: ignore[return-value]


@dataclass
class SearchResult:
    first_error: int | None  # index of the first wrong step, None when none was found
    rollouts: int
    probes: list[tuple[int, int]]  # (prefix length, correct rollouts) in probe order


def binary_search_first_error(steps: list[str], n: int, roll: Roll, *,
                              solution_correct: bool) -> SearchResult:
    """OmegaPRM-style: bisect on prefix length for the first prefix no rollout recovers.

    The empty prefix is taken as recoverable and, for a wrong solution, the full path
    as not; a correct solution has no first error and costs nothing. Assumes that
    once a prefix is unrecoverable, longer ones are too (true for a real error).
    """
    if solution_correct or not steps:
        return SearchResult(None, 0, [])
    lo, hi = 0, len(steps)  # prefix lengths: lo is recoverable, hi is not
    probes: list[tuple[int, int]] = []
    while hi - lo > 1:
        mid = (lo + hi) // 2
        (correct,) = roll([steps[:mid]], n)
        probes.append((mid, correct))
        if correct > 0:
            lo = mid
        else:
            hi = mid
    return SearchResult(hi - 1, n * len(probes), probes)


def search_labels(num_steps: int, result: SearchResult) -> list[float | None]:
    """Per-step labels from a search: 1 before the first error, 0 at it, None after."""
    if result.first_error is None:
        return [1.0] * num_steps
    return [1.0 if i < result.first_error else 0.0 if i == result.first_error else None
            for i in range(num_steps)]
