"""The ``openai`` backend: any OpenAI-compatible completions server, by base URL.

``vllm serve``, SGLang, TGI and ``transformers serve`` all answer ``/v1/completions`` (and
``/v1/chat/completions``, which judges use: ``chat``).
One request per prompt carries ``n``, so a server with a prefix cache computes the
prompt once for all its samples. Servers differ in what they honour: vLLM returns ``n``
choices, ``transformers serve`` ignores ``n`` and returns one. The backend counts the
choices that came back and asks again for the rest, each top-up with a seed of its own,
so it always returns the ``n`` samples asked for and a retried Run asks for the same ones.
Timeouts, retries and their backoff are the ``openai`` client's own; its HTTP client is
``outbound.http.client``: every request passes the deployment's outbound policy, and a
redirect is an error, never followed. The API key is a named secret the operator defines
(``outbound.credentials``); messages show the server's URL without credentials.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property

from generation.loader import model_location
from generation.sampling import Sampled
from outbound import http
from outbound.credentials import SecretUnavailable, read_secret
from outbound.policy import OutboundRefused
from outbound.redact import redact
from workers.runs import RunFailure

from .base import Backend, request_seed


class ServerError(RunFailure):
    """The generation server could not be reached, or answered an error."""


def api_key(settings) -> str:
    """The value of the named secret the settings choose; servers without auth accept any
    key, and the client refuses an empty one. Only names the operator lists are read."""
    if not settings.api_secret:
        return "EMPTY"
    try:
        return read_secret(settings.api_secret)
    except (ValueError, SecretUnavailable) as exc:
        raise ServerError(f"{exc} (the API key of the generation server at {settings.server})",
                          reason="The generation server's API key is not set up") from exc


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


def _refusal(exc: BaseException) -> str | None:
    """The outbound policy's message, where the policy refused the request."""
    while exc is not None:
        if isinstance(exc, OutboundRefused):
            return str(exc)
        exc = exc.__cause__ or exc.__context__
    return None


class OpenAIServerBackend(Backend):
    name = "openai"

    @cached_property
    def client(self):
        import openai

        try:  # refused here, before a key is read or a connection made
            http.check_url(self.settings.base_url)
        except OutboundRefused as exc:
            raise ServerError(f"The generation server at {self.settings.server} is not allowed: {exc}",
                              reason="The generation server is not allowed") from exc
        return openai.OpenAI(base_url=self.settings.base_url, api_key=api_key(self.settings),
                             timeout=self.settings.timeout, max_retries=self.settings.retries,
                             http_client=http.client(self.settings.timeout))

    @cached_property
    def tokenizer(self):
        """The model's own tokenizer (``model``: an allowed folder or registry name, as for
        the other backends) builds the prompts and counts the generated tokens; the server
        only sees text."""
        from transformers import AutoTokenizer

        location = model_location(self.settings)
        try:
            return AutoTokenizer.from_pretrained(location)
        except (OSError, ValueError) as exc:
            raise ServerError(redact(
                f"Cannot load the tokenizer of {self.settings.model} to build prompts for "
                f"{self.settings.server}: {exc}. Set the generator's model to a local "
                f"directory with the model's tokenizer (and served_model to the server's name)."),
                reason="The generator's tokenizer is not available") from exc

    def describe(self) -> str:
        return redact(f"openai: {self.settings.model_name} at {self.settings.server}")

    def prompts_per_call(self, n: int) -> int:
        # Enough requests to keep every slot busy; the server batches what is in flight.
        return max(2 * self.settings.concurrency, super().prompts_per_call(n))

    def _count(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _create(self, body: dict, chat: bool = False):
        import openai

        where = f"The generation server at {self.settings.server}"
        try:
            create = self.client.chat.completions.create if chat else self.client.completions.create
            answer = create(**body)
        except openai.APIConnectionError as exc:  # includes timeouts and policy refusals
            refused = _refusal(exc)
            if refused is not None:
                raise ServerError(f"{where} is not allowed: {refused}",
                                  reason="The generation server is not allowed") from exc
            raise ServerError(
                redact(f"{where} is unreachable after {self.settings.retries + 1} tries: {exc}"),
                reason="The generation server is unreachable") from exc
        except openai.APIStatusError as exc:
            if 300 <= exc.status_code < 400:
                raise ServerError(f"{where} answered a redirect ({exc.status_code}); redirects "
                                  "are not followed: set the server URL to where it serves.",
                                  reason="The generation server answered an error") from exc
            raise ServerError(
                redact(f"{where} answered {exc.status_code}: {exc.message}"),
                reason="The generation server answered an error") from exc
        except (openai.APIError, ValueError, TypeError) as exc:  # 2xx, but not a completion
            raise ServerError(f"{where} answered something that is not an OpenAI completions "
                              "response.", reason="The generation server answered an error") from exc
        if isinstance(answer, str | bytes) or not hasattr(answer, "choices"):
            raise ServerError(f"{where} answered something that is not an OpenAI completions "
                              "response.", reason="The generation server answered an error")
        return answer

    def _one_prompt(self, prompt: str | list[dict], n: int, seed: int | None,
                    **params) -> list[str]:
        """``n`` samples of a prompt (``/v1/completions``) or of a conversation
        (``/v1/chat/completions``, a judge's)."""
        chat = not isinstance(prompt, str)
        samples: list[str] = []
        for round_no in range(n):  # each round returns at least one choice, or fails
            missing = n - len(samples)
            if missing <= 0:
                break
            body = completion_request(self.settings, prompt, n=missing,
                                      seed=request_seed(seed, round_no), **params)
            if chat:
                body["messages"] = body.pop("prompt")
            choices = sorted(self._create(body, chat=chat).choices, key=lambda c: c.index)
            if not choices:
                raise ServerError(
                    f"The generation server at {self.settings.server} returned no choices.",
                    reason="The generation server answered an error")
            samples.extend((c.message.content if chat else c.text) or "" for c in choices[:missing])
        return samples

    def chat(self, conversations, *, n, max_new_tokens, temperature, top_p=1.0,
             seed=None) -> list[list[Sampled]]:
        """Chat completions: the server applies the model's chat template."""
        return self.complete(conversations, n=n, max_new_tokens=max_new_tokens,
                             temperature=temperature, top_p=top_p, seed=seed)

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
