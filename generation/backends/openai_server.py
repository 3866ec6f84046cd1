"""The ``openai`` backend: any OpenAI-compatible completions server, by base URL.

``vllm serve``, SGLang, TGI and ``transformers serve`` all answer ``/v1/completions``.
One request per prompt carries ``n``, so a server with a prefix cache computes the
prompt once for all its samples. Servers differ in what they honour: vLLM returns ``n``
choices, ``transformers serve`` ignores ``n`` and returns one. The backend counts the
choices that came back and asks again for the rest, each top-up with a seed of its own,
so it always returns the ``n`` samples asked for and a retried Run asks for the same ones.
Timeouts, retries and their backoff are the ``openai`` client's own.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from generation.sampling import Sampled
from workers.runs import RunFailure

from .base import Backend, request_seed


class ServerError(RunFailure):
    """The generation server could not be reached, or answered an error."""


def api_key(settings) -> str:
    """The key from the environment variable the settings name; servers without auth
    accept any key, and the client refuses an empty one."""
    if not settings.api_key_env:
        return "EMPTY"
    value = os.environ.get(settings.api_key_env, "").strip()
    if not value:
        raise ServerError(
            f"The environment variable {settings.api_key_env} (the API key of the generation "
            f"server at {settings.base_url}) is not set in this worker.",
            reason="The generation server's API key is not set up")
    return value


def completion_request(settings, prompt: str, *, n: int, max_new_tokens: int,
                       temperature: float, top_p: float, stop: str | None,
                       seed: int | None) -> dict:
    """The body of one ``/v1/completions`` request."""
    body = {"model": settings.model_name, "prompt": prompt, "n": n,
            "max_tokens": max_new_tokens, "temperature": temperature}
    if temperature > 0:
        body["top_p"] = top_p
    if stop:
        body["stop"] = [stop]
    if seed is not None:
        body["seed"] = seed
    return body


class OpenAIServerBackend(Backend):
    name = "openai"

    @cached_property
    def client(self):
        import openai

        return openai.OpenAI(base_url=self.settings.base_url, api_key=api_key(self.settings),
                             timeout=self.settings.timeout, max_retries=self.settings.retries)

    @cached_property
    def tokenizer(self):
        """The model's own tokenizer (by ``model``: a path or hub id) builds the prompts and
        counts the generated tokens; the server only sees text."""
        from transformers import AutoTokenizer

        try:
            return AutoTokenizer.from_pretrained(self.settings.model)
        except (OSError, ValueError) as exc:
            raise ServerError(
                f"Cannot load the tokenizer of {self.settings.model} to build prompts for "
                f"{self.settings.base_url}: {exc}. Set the generator's model to a local "
                f"directory with the model's tokenizer (and served_model to the server's name).",
                reason="The generator's tokenizer is not available") from exc

    def describe(self) -> str:
        return f"openai: {self.settings.model_name} at {self.settings.base_url}"

    def prompts_per_call(self, n: int) -> int:
        # Enough requests to keep every slot busy; the server batches what is in flight.
        return max(2 * self.settings.concurrency, super().prompts_per_call(n))

    def _count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _create(self, body: dict):
        import openai

        where = f"The generation server at {self.settings.base_url}"
        try:
            return self.client.completions.create(**body)
        except openai.APIConnectionError as exc:  # includes timeouts
            raise ServerError(
                f"{where} is unreachable after {self.settings.retries + 1} tries: {exc}",
                reason="The generation server is unreachable") from exc
        except openai.APIStatusError as exc:
            raise ServerError(
                f"{where} answered {exc.status_code}: {exc.message}",
                reason="The generation server answered an error") from exc

    def _one_prompt(self, prompt: str, n: int, seed: int | None, **params) -> list[str]:
        samples: list[str] = []
        for round_no in range(n):  # each round returns at least one choice, or fails
            missing = n - len(samples)
            if missing <= 0:
                break
            body = completion_request(self.settings, prompt, n=missing,
                                      seed=request_seed(seed, round_no), **params)
            choices = sorted(self._create(body).choices, key=lambda c: c.index)
            if not choices:
                raise ServerError(
                    f"The generation server at {self.settings.base_url} returned no choices.",
                    reason="The generation server answered an error")
            samples.extend(c.text or "" for c in choices[:missing])
        return samples

    def complete(self, prompts, *, n, max_new_tokens, temperature, top_p, stop=None,
                 seed=None) -> list[list[Sampled]]:
        greedy = not (temperature and temperature > 0)
        ask = 1 if greedy else n  # greedy decoding has one answer
        params = {"max_new_tokens": max_new_tokens, "temperature": 0.0 if greedy else temperature,
                  "top_p": top_p, "stop": stop}
        self.client  # noqa: B018  (built once, and a missing key fails, before the threads)
        with ThreadPoolExecutor(max_workers=min(self.settings.concurrency, len(prompts) or 1)) as pool:
            futures = [pool.submit(self._one_prompt, p, ask, request_seed(seed, i), **params)
                       for i, p in enumerate(prompts)]
            texts = [f.result() for f in futures]
        # Counted here, not in the threads: a fast tokenizer is not safe to share between them.
        rows = [[Sampled(text=t, tokens=self._count(t)) for t in row] for row in texts]
        return [row * n if greedy else row for row in rows]
