"""Generation backends, one interface: ``backend_for(settings).complete(prompts, n=...)``.

``transformers`` runs ``generate`` in the worker (the default; CPU or GPU), ``vllm`` runs
vLLM's engine in the GPU worker (an optional install, ``requirements-vllm.txt``), and
``openai`` calls any OpenAI-compatible completions server. Backends are cheap objects;
what is expensive (a model, an engine) is loaded once per worker process and cached by
the module that owns it.
"""

from __future__ import annotations

from generation.config import GeneratorSettings

from .base import Backend, request_seed

__all__ = ["Backend", "backend_for", "request_seed"]


def backend_for(settings: GeneratorSettings) -> Backend:
    if settings.backend == "openai":
        from .openai_server import OpenAIServerBackend

        return OpenAIServerBackend(settings)
    if settings.backend == "vllm":
        from .vllm_engine import VllmBackend

        return VllmBackend(settings)
    if settings.backend == "transformers":
        from .local import TransformersBackend

        return TransformersBackend(settings)
    raise ValueError(f"Unknown generation backend '{settings.backend}'.")
