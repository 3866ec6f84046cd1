"""The ``vllm`` scoring backend: steps scored by vLLM pooling servers.

The request carries token ids, encoded here exactly as ``PrmScorer`` encodes them (the
tokenizer only: this process loads no weights), so a server's scores equal in-process
ones. Which server serves a PRM is asked of each ``STEPWISE_SCORING_URLS`` entry
(``GET /v1/models``) and remembered for a while; a server that is down or serves no such
model is a ``ScoringUnavailable`` naming it.
"""

from __future__ import annotations

import threading
import time

import httpx2
from django.conf import settings

from outbound.redact import strip_credentials
from training.windows import LongInputPolicy, assemble, encode_windows, flatten

from .base import ScoringUnavailable

ROUTE_SECONDS = 30.0  # how long a server's model list is trusted


class VllmPoolingScorer:
    def __init__(self, *, urls: list[str], served_model: str, model_path: str, spec: dict,
                 timeout: float):
        from .tokenizer import load_tokenizer

        self.urls = [u.rstrip("/").removesuffix("/v1") for u in urls]
        self.served_model = served_model
        self.separator = spec["step_separator"]
        self.sep_id = int(spec["pooler_config"]["step_tag_id"])
        self.max_length = int(spec["max_model_len"])
        self.policy = LongInputPolicy.recorded(spec.get("long_inputs"))
        self.tokenizer = load_tokenizer(model_path)  # no torch in this process
        self.http = httpx2.Client(follow_redirects=False, trust_env=False,
                                  timeout=httpx2.Timeout(timeout, connect=min(timeout, 5.0)))
        self._route: tuple[str, float] | None = None
        self._route_lock = threading.Lock()

    # --- what is sent ---------------------------------------------------------------

    def _encode(self, prompt: str, steps: list[str]) -> list[dict]:
        return encode_windows(self.tokenizer, prompt, steps, None, separator=self.separator,
                              sep_id=self.sep_id, max_length=self.max_length, policy=self.policy)

    def token_counts(self, items: list[tuple[str, list[str]]]) -> list[int]:
        return [sum(len(w["input_ids"]) for w in self._encode(prompt, steps))
                for prompt, steps in items]

    def score(self, items: list[tuple[str, list[str]]], batch_size: int = 16,
              max_tokens: int | None = None) -> list[list[float | None]]:
        from training.scoring import TokenBudgetExceeded

        encoded, owner = flatten([self._encode(prompt, steps) for prompt, steps in items])
        if max_tokens is not None:
            total = sum(len(e["input_ids"]) for e in encoded)
            if total > max_tokens:
                raise TokenBudgetExceeded(total, max_tokens)
        if not encoded:
            return []
        # One request: the server's scheduler batches it (batch_size is the in-process knob).
        rows = self._pool([e["input_ids"] for e in encoded])
        window_scores = []
        for e, row in zip(encoded, rows):
            if len(row) != len(e["positions"]):
                raise ScoringUnavailable(
                    f"The scoring server at {self._shown(self._base())} returned {len(row)} step "
                    f"scores for an item with {len(e['positions'])} step tokens: it does not serve "
                    f"'{self.served_model}' with STEP pooling on token {self.sep_id}.")
            window_scores.append([round(float(pair[1]), 6) for pair in row])
        return assemble(items, encoded, owner, window_scores)

    # --- the server -------------------------------------------------------------------

    @staticmethod
    def _shown(url: str) -> str:
        return strip_credentials(url)

    def _pool(self, inputs: list[list[int]]) -> list[list[list[float]]]:
        base = self._base()
        body = {"model": self.served_model, "input": inputs, "task": "token_classify"}
        try:
            answer = self.http.post(f"{base}/pooling", json=body)
        except httpx2.HTTPError as exc:
            self._forget()
            raise ScoringUnavailable(f"The scoring server at {self._shown(base)} did not answer "
                                     f"({type(exc).__name__}: {exc}).") from None
        if answer.status_code != 200:
            self._forget()
            raise ScoringUnavailable(f"The scoring server at {self._shown(base)} answered "
                                     f"{answer.status_code}: {answer.text[:300]}")
        try:
            data = sorted(answer.json()["data"], key=lambda d: d["index"])
            return [d["data"] for d in data]
        except (ValueError, KeyError, TypeError):
            raise ScoringUnavailable(f"The scoring server at {self._shown(base)} answered "
                                     "something other than vLLM's pooling response.") from None

    def _forget(self) -> None:
        with self._route_lock:
            self._route = None

    def _base(self) -> str:
        with self._route_lock:
            if self._route and time.monotonic() - self._route[1] < ROUTE_SECONDS:
                return self._route[0]
        down, serving = [], {}
        for url in self.urls:
            try:
                answer = self.http.get(f"{url}/v1/models")
                names = [m["id"] for m in answer.json()["data"]]
            except (httpx2.HTTPError, ValueError, KeyError, TypeError) as exc:
                down.append(f"{self._shown(url)} ({type(exc).__name__})")
                continue
            if self.served_model in names:
                with self._route_lock:
                    self._route = (url, time.monotonic())
                return url
            serving[self._shown(url)] = names
        parts = []
        if serving:
            parts.append("; ".join(f"{u} serves {', '.join(n) or 'nothing'}"
                                   for u, n in serving.items()))
        if down:
            parts.append("not answering: " + ", ".join(down))
        raise ScoringUnavailable(
            f"No scoring server serves '{self.served_model}' ({'; '.join(parts)}). Start one with "
            "the vllm serve command GET /api/models/<id>/ gives.")


def pooling_scorer(prm_model) -> VllmPoolingScorer:
    from training.serving import served_model_name, spec_of

    urls = settings.STEPWISE_SCORING_URLS
    if not urls:
        raise ScoringUnavailable("The vllm scoring backend needs STEPWISE_SCORING_URLS: the "
                                 "vLLM pooling servers that serve the PRMs.")
    spec = spec_of(prm_model)
    if spec is None:
        raise ScoringUnavailable(
            f"'{prm_model.name}' is not a token-classification PRM, which is what vLLM's pooling "
            "runner serves: score it with STEPWISE_SCORING_BACKEND=transformers.")
    return VllmPoolingScorer(urls=urls, served_model=served_model_name(prm_model),
                             model_path=prm_model.artifact_path, spec=spec,
                             timeout=settings.STEPWISE_SCORING_TIMEOUT)
