"""The settings page's "test connection": one short request, its answer or its error.

It runs in the web process, so it never loads model files or reaches the Hugging Face
hub: a local model is checked by reading the ``config.json`` of an allowed directory
(``generation.modeldirs``), a hub id only as the operator's registry names it (the worker
fetches it), and the server is asked with a plain prompt (the worker builds real prompts with the tokenizer).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from outbound.redact import redact
from workers.runs import RunFailure

from .config import GeneratorSettings
from .modeldirs import ModelDirRefused, ModelInfo, describe_model
from .prompts import plain_prompt

PROBE_PROBLEM = "What is 2 + 3?"


@dataclass
class ConnectionCheck:
    ok: bool
    message: str
    answer: str = ""
    seconds: float = 0.0


def _where(settings: GeneratorSettings) -> str:
    return ("in the worker (transformers)" if settings.backend == "transformers" else
            "in the GPU worker's vLLM engine (requirements-vllm.txt)")


def _model_note(settings: GeneratorSettings, info: ModelInfo) -> str:
    if info.local:
        return f"Found a {info.model_type} model at {settings.model}"
    return (f"{settings.model} is the Hugging Face id {info.location} of this deployment's model "
            "registry; the worker resolves it from its own files")


def _check_server(settings: GeneratorSettings, info: ModelInfo) -> ConnectionCheck:
    from .backends.openai_server import OpenAIServerBackend, completion_request

    # A page waits for this: one try, a short timeout.
    quick = dataclasses.replace(settings, timeout=min(settings.timeout, 15.0), retries=0)
    backend = OpenAIServerBackend(quick)
    body = completion_request(quick, plain_prompt(PROBE_PROBLEM), n=1, max_new_tokens=24,
                              temperature=0.0, top_p=1.0, stop=None, seed=0)
    started = time.perf_counter()
    try:
        answer = backend._create(body)
        choices = list(answer.choices or [])
        if not choices:
            raise RunFailure(f"The generation server at {quick.server} returned no choices.",
                             reason="The generation server answered an error")
        text = str(choices[0].text or "")
    except RunFailure as exc:
        return ConnectionCheck(False, redact(str(exc)), seconds=time.perf_counter() - started)
    except (AttributeError, TypeError):
        return ConnectionCheck(False, f"The generation server at {quick.server} answered something "
                               "that is not an OpenAI completions response.",
                               seconds=time.perf_counter() - started)
    seconds = time.perf_counter() - started
    tokens = getattr(getattr(answer, "usage", None), "completion_tokens", None)
    count = f" ({tokens} tokens)" if isinstance(tokens, int) else ""
    return ConnectionCheck(True, redact(f"{backend.describe()} answered in {seconds:.2f} s{count}. "
                                        f"{_model_note(settings, info)}."),
                           answer=text, seconds=seconds)


def check_connection(settings: GeneratorSettings, project_id: int | None = None) -> ConnectionCheck:
    try:
        info = describe_model(settings.model, project_id)
    except ModelDirRefused as exc:
        return ConnectionCheck(False, str(exc))
    if settings.backend == "openai":
        return _check_server(settings, info)
    return ConnectionCheck(True, redact(
        f"{_model_note(settings, info)}; it runs {_where(settings)}. To see it answer, start a "
        "generate_solutions run (POST /api/runs/, or `manage.py generate --solutions 2`)."))
