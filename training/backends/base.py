"""What every scoring backend gives, and the failure of one that cannot answer."""

from __future__ import annotations

import threading
from typing import Protocol

from workers.runs import RunFailure

#: Models and tokenizers load one at a time in a process: transformers' lazy imports are not
#: thread-safe, and two request threads importing it at once fail with an ImportError.
LOAD_LOCK = threading.RLock()


class Scorer(Protocol):
    """Per-step P(good) for (problem, steps) items; ``None`` for a step cut by max length.

    ``max_tokens`` bounds the tokens a call feeds the model, checked before any is scored
    (``training.scoring.TokenBudgetExceeded``); ``token_counts`` is what it counts.
    """

    def score(self, items: list[tuple[str, list[str]]], batch_size: int = 16,
              max_tokens: int | None = None) -> list[list[float | None]]: ...

    def token_counts(self, items: list[tuple[str, list[str]]]) -> list[int]: ...


class ScoringUnavailable(RunFailure):
    """The scoring server is down, or serves no model of this name. A Run that meets it
    fails naming the server; the reward service answers 503 with the message."""

    def __init__(self, message: str):
        super().__init__(message, reason="The PRM scoring server is unavailable")
