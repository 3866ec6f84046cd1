"""The settings page's "test connection": one short request, its answer or its error."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from workers.runs import RunFailure

from .config import GeneratorSettings

PROBE_PROBLEM = "What is 2 + 3?"


@dataclass
class ConnectionCheck:
    ok: bool
    message: str
    answer: str = ""
    seconds: float = 0.0


def _check_server(settings: GeneratorSettings) -> ConnectionCheck:
    from .backends import backend_for

    # A page waits for this: one try, a short timeout.
    quick = dataclasses.replace(settings, timeout=min(settings.timeout, 15.0), retries=0)
    backend = backend_for(quick)
    started = time.perf_counter()
    try:
        (row,) = backend.complete([backend.prompt(PROBE_PROBLEM)], n=1, max_new_tokens=24,
                                  temperature=0.0, top_p=1.0, stop=None, seed=0)
    except RunFailure as exc:
        return ConnectionCheck(False, str(exc), seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    return ConnectionCheck(True, f"{backend.describe()} answered in {seconds:.2f} s "
                           f"({row[0].tokens} tokens).", answer=row[0].text, seconds=seconds)


def _check_local(settings: GeneratorSettings) -> ConnectionCheck:
    """In-process backends load the model in the GPU worker, never in the web process:
    check here that the worker will find it."""
    from transformers import AutoConfig

    where = "in the worker (transformers)" if settings.backend == "transformers" else \
        "in the GPU worker's vLLM engine (requirements-vllm.txt)"
    path = Path(settings.model).expanduser()
    if settings.model.startswith((".", "/", "~")) and not path.exists():
        return ConnectionCheck(False, f"No model at {settings.model}.")
    try:
        config = AutoConfig.from_pretrained(settings.model)
    except (OSError, ValueError) as exc:
        return ConnectionCheck(False, f"Cannot read the model's config at {settings.model}: {exc}")
    return ConnectionCheck(True, f"Found a {config.model_type} model at {settings.model}; it runs "
                           f"{where}. Generate a few solutions to see it answer.")


def check_connection(settings: GeneratorSettings) -> ConnectionCheck:
    if settings.backend == "openai":
        return _check_server(settings)
    return _check_local(settings)
