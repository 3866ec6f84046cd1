"""The ``vllm`` backend: vLLM's offline engine inside the GPU worker.

The engine loads once per worker process (keyed by what shapes it: model, dtype,
tensor parallel size, memory share, prefix caching), tensor parallel over the GPUs the
worker owns. vLLM pins its own torch and transformers, so it is an optional install in
a separate environment (``requirements-vllm.txt``); a worker without it fails the Run
with that instruction. A worker that sees no GPU runs vLLM's CPU build (``.venv-vllm``,
development and tests), with the few arguments that build needs. The request building
below needs no vLLM, so it is tested on any machine.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import threading

from generation.loader import model_location
from generation.sampling import Sampled
from workers.runs import RunFailure

from .base import Backend, request_seed

_ENGINES: dict[tuple, object] = {}
_LOCK = threading.Lock()
CPU_KV_CACHE_MAX = 4 << 30


class VllmMissing(RunFailure):
    """The worker's environment has no vLLM."""


def engine_kwargs(settings, visible_gpus: int) -> dict:
    """Arguments of ``vllm.LLM`` for these settings on a worker that sees ``visible_gpus``
    (none: vLLM's CPU build, whose KV cache is sized when the engine starts,
    ``cpu_kv_cache_bytes``)."""
    tp = settings.tensor_parallel_size or max(1, visible_gpus)
    if visible_gpus and tp > visible_gpus:
        raise RunFailure(f"tensor_parallel_size {tp} needs more GPUs than this worker sees "
                         f"({visible_gpus}).", reason="The generator needs more GPUs")
    kwargs = {"model": settings.model, "dtype": settings.dtype, "tensor_parallel_size": tp,
              "gpu_memory_utilization": settings.gpu_memory_utilization,
              "enable_prefix_caching": settings.prefix_caching, "seed": settings.seed or 0}
    if not visible_gpus:
        # The CPU build reads gpu_memory_utilization as a share of all the machine's memory
        # and refuses to start when that much is not free; an explicit KV cache size replaces it.
        del kwargs["gpu_memory_utilization"]
        # Every request is seeded, and the CPU runner crashes its engine ("CPU Generator does
        # not use offset") when chunked prefill splits a seeded prompt over steps.
        kwargs["enable_chunked_prefill"] = False
    return kwargs


def cpu_kv_cache_bytes(free_memory: int) -> int:
    """The CPU build's KV cache: a quarter of the memory free when the engine starts, at most
    4 GiB (vLLM's own ``VLLM_CPU_KVCACHE_SPACE``, in GiB, overrides it where it is set)."""
    return min(free_memory // 4, CPU_KV_CACHE_MAX)


def sampling_kwargs(*, n: int, max_new_tokens: int, temperature: float, top_p: float,
                    stop: str | None, seed: int | None) -> dict:
    """Arguments of one prompt's ``vllm.SamplingParams``: ``n`` samples share its prefix."""
    greedy = not (temperature and temperature > 0)
    kwargs = {"n": 1 if greedy else n, "max_tokens": max_new_tokens,
              "temperature": 0.0 if greedy else temperature, "top_p": 1.0 if greedy else top_p,
              "seed": seed}
    if stop:
        kwargs["stop"] = [stop]
    return kwargs


def require_vllm() -> None:
    if importlib.util.find_spec("vllm") is None:
        raise VllmMissing(
            "The vllm backend needs vLLM in the GPU worker's environment, and this worker has "
            "none: build it from requirements-vllm.txt (vLLM pins its own torch), or run "
            "`vllm serve` and use the openai backend.",
            reason="The generator's engine is not installed on the worker")


def engine(settings):
    require_vllm()
    import torch
    import vllm

    gpus = torch.cuda.device_count()
    kwargs = engine_kwargs(settings, gpus)
    key = tuple(sorted(kwargs.items()))
    with _LOCK:
        if key not in _ENGINES:
            if not gpus:  # sized from what is free now; not part of the key
                import psutil

                kwargs["kv_cache_memory_bytes"] = cpu_kv_cache_bytes(
                    psutil.virtual_memory().available)
            _ENGINES[key] = vllm.LLM(**kwargs)
        return _ENGINES[key]


class VllmBackend(Backend):
    name = "vllm"

    def __init__(self, settings):
        super().__init__(settings)
        # The engine gets the checked location, never the text an admin typed.
        self.llm = engine(dataclasses.replace(settings, model=model_location(settings)))

    @property
    def tokenizer(self):
        return self.llm.get_tokenizer()

    def prompts_per_call(self, n: int) -> int:
        # The engine schedules what it is given against its KV cache: give it plenty.
        return max(256, super().prompts_per_call(n))

    def complete(self, prompts, *, n, max_new_tokens, temperature, top_p, stop=None,
                 seed=None) -> list[list[Sampled]]:
        import vllm

        per_prompt = [vllm.SamplingParams(**sampling_kwargs(
            n=n, max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
            stop=stop, seed=request_seed(seed, i))) for i in range(len(prompts))]
        outputs = self.llm.generate(prompts, per_prompt, use_tqdm=False)
        greedy = not (temperature and temperature > 0)
        rows = []
        for out in outputs:
            row = [Sampled(text=c.text, tokens=len(c.token_ids)) for c in out.outputs]
            if greedy and len(row) == 1:  # greedy decoding asked for its one answer
                row = row * n
            if len(row) != n:
                raise RunFailure(f"vLLM returned {len(row)} of {n} samples for a prompt.",
                                 reason="The generator returned too few samples")
            rows.append(row)
        return rows
