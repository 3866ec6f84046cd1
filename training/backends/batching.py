"""Concurrent score calls in one process share forward passes (or server requests).

RL trainers send one sample per request (OpenRLHF's remote reward client, slime's
``--rm-url``). Each request thread hands its items to ``BatchingScorer``; whoever gets the
model's turn scores everything waiting, so a burst of one-sample requests becomes a few
batches. A lone request never waits for company: it runs at once.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .base import ScoringUnavailable

MAX_MERGED_ITEMS = 256  # items per merged call; more wait for the next turn


@dataclass
class _Waiting:
    items: list[tuple[str, list[str]]]
    done: threading.Event = field(default_factory=threading.Event)
    result: list | None = None
    error: BaseException | None = None


class BatchingScorer:
    """Wraps a scorer (``training.backends.base.Scorer``) with the same ``score`` API."""

    def __init__(self, scorer, max_items: int = MAX_MERGED_ITEMS):
        self.scorer = scorer
        self.max_items = max_items
        self._waiting: list[_Waiting] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()
        self.calls = 0  # merged calls made: what the batching tests and benches read

    def token_counts(self, items):
        return self.scorer.token_counts(items)

    def score(self, items, batch_size: int = 16, max_tokens: int | None = None):
        from training.scoring import TokenBudgetExceeded

        if max_tokens is not None:  # each caller's own budget, before it joins a batch
            total = sum(self.scorer.token_counts(items))
            if total > max_tokens:
                raise TokenBudgetExceeded(total, max_tokens)
        if not items:
            return []
        mine = _Waiting(list(items))
        with self._queue_lock:
            self._waiting.append(mine)
        while not mine.done.is_set():
            with self._turn:
                if mine.done.is_set():
                    break
                with self._queue_lock:
                    batch, size = [], 0
                    while self._waiting and (not batch or size + len(self._waiting[0].items)
                                             <= self.max_items):
                        size += len(self._waiting[0].items)
                        batch.append(self._waiting.pop(0))
                self._run(batch, batch_size)
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _run(self, batch: list[_Waiting], batch_size: int) -> None:
        self.calls += 1
        merged = [item for waiting in batch for item in waiting.items]
        try:
            scores = self.scorer.score(merged, batch_size=batch_size)
        except Exception as exc:  # noqa: BLE001 - handed to each caller, or retried alone
            if len(batch) == 1 or isinstance(exc, ScoringUnavailable):
                for waiting in batch:  # a server that is down is down for everyone
                    waiting.error = exc
                    waiting.done.set()
                return
            # One caller's bad item must not fail the others: each alone, with its own error.
            for waiting in batch:
                self._run([waiting], batch_size)
            return
        start = 0
        for waiting in batch:
            waiting.result = scores[start:start + len(waiting.items)]
            start += len(waiting.items)
            waiting.done.set()
