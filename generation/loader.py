"""Loading a causal LM once per worker process.

What a generator may load is decided first (``model_location``, the rule of
``generation.modeldirs``): every backend loads the location it returns, never the text an
admin typed. Models are cached at module level, keyed by (path, dtype, device), and loaded on first
use inside a task, never in a parent process before it forks. A CUDA device is used
when present (``device_map="auto"``: accelerate places the layers), else the CPU.
"""

from __future__ import annotations

import os
import threading

from workers.runs import RunFailure


class ModelNotFound(RunFailure, FileNotFoundError):
    """The generator's model is missing (the demo model may still be building) or not one the
    project may name: one message for both, so a Run error never tells which."""


def model_location(settings) -> str:
    """The resolved folder or registry hub id the worker loads for ``GeneratorSettings``."""
    from .modeldirs import NOT_AVAILABLE, ModelDirRefused, generator_model

    try:
        return generator_model(settings.model, settings.project_id)
    except ModelDirRefused:
        raise ModelNotFound(
            f"{NOT_AVAILABLE} The generator's model: {settings.model}. The demo model is built "
            f"with `python manage.py build_demo_model`.",
            reason="The generator model is not ready yet") from None


_CACHE: dict[tuple[str, str, str], tuple] = {}
_LOCK = threading.Lock()


def set_cpu_threads(parameters: int) -> None:
    """Intra-op threads for CPU inference.

    ``STEPWISE_TORCH_THREADS`` wins. Otherwise models under 20M parameters get one
    thread: their matrices are too small to split, and on a busy machine extra threads
    spin against each other (measured 12x slower on 2 shared cores).
    """
    import torch

    value = os.environ.get("STEPWISE_TORCH_THREADS")
    if value:
        torch.set_num_threads(max(1, int(value)))
    elif parameters < 20_000_000:
        torch.set_num_threads(1)


def pick_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _dtype(name: str | None, device: str):
    import torch

    if not name or name == "auto":
        # Half precision only where it is fast; CPUs run float32.
        return torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    table = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if name not in table:
        raise ValueError(f"Unknown dtype '{name}'; use one of {', '.join(table)} or auto.")
    return table[name]


def load_model(path: str, dtype: str | None = None, device: str | None = None):
    """(model, tokenizer) for a local path or hub id, cached for this process. Runs load
    ``model_location``'s answer; the demo and benches pass the operator's own paths."""
    device = device or pick_device()
    key = (str(path), str(dtype or "auto"), device)
    with _LOCK:
        if key in _CACHE:
            return _CACHE[key]
        from pathlib import Path

        from transformers import AutoModelForCausalLM, AutoTokenizer

        if str(path).startswith((".", "/", "~")) and not Path(path).expanduser().exists():
            raise ModelNotFound(
                f"No model at {path}. Build the demo model with `python manage.py "
                f"build_demo_model`, or set project.generator['model'] to a model path.",
                reason="The generator model is not ready yet")
        tokenizer = AutoTokenizer.from_pretrained(path)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        kwargs = {"dtype": _dtype(dtype, device)}
        if device == "cuda":
            kwargs["device_map"] = "auto"  # accelerate places the layers
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        if "device_map" not in kwargs:
            model.to(device)
        if device == "cpu":
            set_cpu_threads(sum(p.numel() for p in model.parameters()))
        model.eval()
        _CACHE[key] = (model, tokenizer)
        return model, tokenizer


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()
