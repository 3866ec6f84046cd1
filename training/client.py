"""A small client for the Stepwise PRM reward service. Standard library only.

    from training.client import PrmClient
    prm = PrmClient("https://stepwise.example.org", model_id=3, token="sw_...")
    prm.score([{"problem": "1+1?", "steps": ["1+1=2", "The answer is 2"]}])
    # -> [{"steps": 2, "step_scores": [0.97, 0.95], "score": 0.95}]

As a TRL GRPO reward function (``GRPOTrainer(reward_funcs=[prm.grpo_reward], ...)``),
it takes ``prompts`` and ``completions`` (strings, or conversational lists of
messages) and returns one float per completion. As a verl reward
(``custom_reward_function.path`` pointing at a module that does
``compute_score = prm.compute_score``) it takes ``(data_source, solution_str,
ground_truth, extra_info)`` and returns a float; ``extra_info["question"]`` (or
``["problem"]``) is used as the problem when present.

Text is split into steps by the model's own step delimiter (its model card) unless
``delimiter`` is given.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request


class PrmServiceError(RuntimeError):
    """The service answered with an error; ``status`` and ``detail`` say which."""

    def __init__(self, status: int, detail):
        super().__init__(f"PRM service error {status}: {detail}")
        self.status, self.detail = status, detail


class PrmClient:
    def __init__(self, base_url: str, model_id: int, token: str | None = None, *,
                 aggregate: str = "min", delimiter: str | None = None, timeout: float = 60.0,
                 batch_size: int = 64, headers: dict | None = None):
        self.base_url = base_url.rstrip("/")
        self.model_id = int(model_id)
        self.aggregate, self.delimiter = aggregate, delimiter
        self.timeout, self.batch_size = timeout, batch_size
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.headers.update(headers or {})

    def _post(self, path: str, body: dict) -> dict:
        return self._request(f"{self.base_url}/api/prm/{self.model_id}/{path}/", body)

    def _request(self, url: str, body: dict) -> dict:
        request = urllib.request.Request(
            url,
            data=json.dumps(body).encode("utf-8"), headers=self.headers, method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raw = exc.read().decode("utf-8", "replace")
            try:
                detail = json.loads(raw)
            except ValueError:
                detail = raw[:500]
            raise PrmServiceError(exc.code, detail) from None

    def score(self, items: list[dict], aggregate: str | None = None) -> list[dict]:
        """Items of ``{"problem", "steps"}`` or ``{"problem", "text"}``; sent in batches."""
        out: list[dict] = []
        for start in range(0, len(items), self.batch_size):
            body = {"items": items[start:start + self.batch_size],
                    "aggregate": aggregate or self.aggregate}
            if self.delimiter is not None:
                body["delimiter"] = self.delimiter
            out += self._post("score", body)["results"]
        return out

    def rewards(self, problems: list[str], responses: list[str]) -> list[float]:
        """One aggregate score per (problem, response text split by the delimiter)."""
        results = self.score([{"problem": p, "text": r} for p, r in zip(problems, responses)])
        return [0.0 if r["score"] is None else float(r["score"]) for r in results]

    @staticmethod
    def _text(value) -> str:
        if isinstance(value, str):
            return value
        if isinstance(value, list):  # conversational: the assistant's (last) message
            return str(value[-1].get("content", "")) if value else ""
        return str(value)

    def grpo_reward(self, prompts=None, completions=None, **kwargs) -> list[float]:
        """TRL ``reward_funcs`` signature: ``(prompts, completions, **kwargs) -> list[float]``."""
        completions = completions or []
        prompts = prompts or [""] * len(completions)
        return self.rewards([self._text(p) for p in prompts], [self._text(c) for c in completions])

    def compute_score(self, data_source=None, solution_str: str = "", ground_truth=None,
                      extra_info: dict | None = None, **kwargs) -> float:
        """verl ``compute_score(data_source, solution_str, ground_truth, extra_info)``."""
        info = extra_info or {}
        problem = info.get("question") or info.get("problem") or ""
        return self.rewards([problem], [solution_str])[0]

    def openrlhf(self, queries: list[str], prompts: list[str] | None = None,
                 reward_url: str | None = None) -> dict:
        """The OpenRLHF remote reward call, for checking a deployment by hand: the whole
        answer (``rewards``, ``scores``, ``step_scores``, ``extra_logs``, ``warnings``).
        With ``reward_url`` it goes where OpenRLHF's ``--reward.remote_url`` would."""
        body = {"query": queries, "aggregate": self.aggregate}
        if self.delimiter is not None:
            body["delimiter"] = self.delimiter
        if prompts is not None:
            body["prompts"] = prompts
        if reward_url:
            return self._request(reward_url, body)
        return self._post("openrlhf", body)
