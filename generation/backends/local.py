"""The in-process backend: transformers' ``generate`` in the worker, on CPU or GPU."""

from __future__ import annotations

from generation.loader import load_model, model_location
from generation.sampling import Sampled, sample

from .base import Backend


class TransformersBackend(Backend):
    name = "transformers"

    def __init__(self, settings):
        super().__init__(settings)
        self.model, self._tokenizer = load_model(model_location(settings), settings.dtype)

    @property
    def tokenizer(self):
        return self._tokenizer

    def complete(self, prompts, *, n, max_new_tokens, temperature, top_p, stop=None,
                 seed=None) -> list[list[Sampled]]:
        return sample(self.model, self._tokenizer, prompts, n=n, max_new_tokens=max_new_tokens,
                      temperature=temperature, top_p=top_p, stop_at=stop, seed=seed)
