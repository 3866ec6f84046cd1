"""Scoring backends: one interface for scoring steps with a PRM, chosen by settings.

* ``transformers`` (the default, and the demo's): the PRM loads in the process that scores,
  once per process (the last ``KEEP`` models stay loaded).
* ``vllm``: steps go to vLLM pooling servers (``STEPWISE_SCORING_URLS``) that serve the PRM
  under its served model name (``training.serving``); no web process loads model weights.

Every caller (the reward service, the scoring Run, search, active learning through stored scores)
takes its scorer from ``scorer_for``, wrapped so concurrent calls in a process share
forward passes or server requests (``batching``).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

from django.conf import settings

from .base import LOAD_LOCK, Scorer, ScoringUnavailable
from .batching import BatchingScorer

BACKENDS = ("transformers", "vllm")

KEEP = 4  # loaded models per process; the least recently used goes first
_SCORERS: OrderedDict[tuple, BatchingScorer] = OrderedDict()
_LOCK = threading.Lock()


def backend_name() -> str:
    return settings.STEPWISE_SCORING_BACKEND


def scorer_for(prm_model) -> BatchingScorer:
    """The scorer of a ready ``PrmModel`` on the configured backend."""
    from generation.modeldirs import is_model_dir
    from training.scoring import ModelFilesMissing

    path = prm_model.artifact_path
    # An empty path would be the working directory; a folder without a config is no model.
    if not path or not Path(path).is_dir() or not is_model_dir(Path(path)):
        raise ModelFilesMissing(prm_model)
    name = backend_name()
    if name == "vllm":
        from training.serving import served_model_name

        from .vllm_pooling import pooling_scorer

        key = ("vllm", prm_model.pk, path, served_model_name(prm_model))
        make = lambda: pooling_scorer(prm_model)  # noqa: E731
    else:
        from training.scoring import load_scorer

        spec = (prm_model.model_card or {}).get("scoring")
        key = ("transformers", path, json.dumps(spec, sort_keys=True) if spec else "")
        make = lambda: load_scorer(path, spec)  # noqa: E731
    return _kept(key, make, prm_model)


def _kept(key: tuple, make, prm_model) -> BatchingScorer:
    from training.scoring import ModelFilesMissing

    with _LOCK:
        if key in _SCORERS:
            _SCORERS.move_to_end(key)
            return _SCORERS[key]
    with LOAD_LOCK:  # concurrent first requests load the model once, one after the other
        with _LOCK:
            if key in _SCORERS:
                return _SCORERS[key]
        try:
            inner = make()
        except OSError as exc:  # weights or tokenizer files gone while the config stayed
            raise ModelFilesMissing(prm_model) from exc
        with _LOCK:
            wrapped = _SCORERS.setdefault(key, BatchingScorer(inner))
            _SCORERS.move_to_end(key)
            while len(_SCORERS) > KEEP:
                _SCORERS.popitem(last=False)
    return wrapped


def loaded_scorers() -> list:
    """The scorers this process holds (what a memory check reads)."""
    with _LOCK:
        return [wrapped.scorer for wrapped in _SCORERS.values()]


def forget_scorers() -> None:
    """Drop every scorer this process holds (tests switch backends and servers)."""
    with _LOCK:
        _SCORERS.clear()


__all__ = ["BACKENDS", "Scorer", "ScoringUnavailable", "backend_name", "forget_scorers",
           "loaded_scorers", "scorer_for"]
