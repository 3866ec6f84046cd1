"""Generator settings, read from ``Project.generator`` and validated."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from outbound.credentials import check_secret_name
from outbound.redact import redact, strip_credentials

BACKENDS = ("transformers", "vllm", "openai")
# What a backend's connection settings are; not part of a sample's provenance.
CONNECTION_FIELDS = ("batch_size", "api_secret", "concurrency", "timeout", "retries",
                     "gpu_memory_utilization", "tensor_parallel_size")


@dataclass(frozen=True)
class GeneratorSettings:
    model: str
    dtype: str = "auto"
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int | None = None
    delimiter: str = "\n\n"
    max_new_tokens: int = 512  # budget for a whole solution
    max_step_tokens: int = 128  # budget for one candidate step
    max_steps: int = 40
    batch_size: int = 16  # prompts per generate call
    # Where generation runs: transformers in the worker, vLLM's engine in the worker, or an
    # OpenAI-compatible server (vllm serve, SGLang, TGI, transformers serve).
    backend: str = "transformers"
    base_url: str = ""  # openai: e.g. http://vllm:8000/v1
    served_model: str = ""  # openai: the name the server knows the model by (default: model)
    # openai: the name of the server's key among the operator's secrets
    # (STEPWISE_SERVER_SECRETS); stored as ``api_secret``, read from ``api_key_env`` too.
    api_secret: str = ""
    concurrency: int = 8  # openai: requests in flight at once
    timeout: float = 120.0  # openai: seconds for one request
    retries: int = 3  # openai: tries after the first, with backoff
    tensor_parallel_size: int = 0  # vllm: GPUs per engine; 0 = every GPU the worker sees
    gpu_memory_utilization: float = 0.85  # vllm
    prefix_caching: bool = True  # vllm: reuse the KV cache of shared prefixes (rollouts)
    # Whose settings these are: the worker loads only models this project may name
    # (generation.modeldirs: its own trained PRMs, never another project's).
    project_id: int | None = None

    @classmethod
    def from_dict(cls, data: dict | None, project_id: int | None = None) -> GeneratorSettings:
        data = dict(data or {})
        model = str(data.get("model") or "").strip()
        if not model:
            raise ValueError("No generator model configured (project.generator['model']).")
        delimiter = data.get("delimiter", data.get("step_delimiter", "\n\n"))
        if not isinstance(delimiter, str) or not delimiter:
            raise ValueError("The step delimiter must be a non-empty string.")
        try:
            max_new = int(data.get("max_new_tokens", 512))
            out = cls(
                model=model, dtype=str(data.get("dtype") or "auto"),
                temperature=float(data.get("temperature", 0.8)),
                top_p=float(data.get("top_p", 0.95)),
                seed=None if data.get("seed") in (None, "") else int(data["seed"]),
                delimiter=delimiter,
                max_new_tokens=max_new,
                max_step_tokens=int(data.get("max_step_tokens", min(max_new, 128))),
                max_steps=int(data.get("max_steps", 40)),
                batch_size=int(data.get("batch_size", 16)),
                backend=str(data.get("backend") or "transformers"),
                base_url=str(data.get("base_url") or "").strip().rstrip("/") or (
                    deployment_server() if data.get("backend") == "openai" else ""),
                served_model=str(data.get("served_model") or "").strip(),
                api_secret=str(data.get("api_secret") or data.get("api_key_env") or "").strip(),
                concurrency=int(data.get("concurrency", 8)),
                timeout=float(data.get("timeout", 120)),
                retries=int(data.get("retries", 3)),
                tensor_parallel_size=int(data.get("tensor_parallel_size", 0)),
                gpu_memory_utilization=float(data.get("gpu_memory_utilization", 0.85)),
                prefix_caching=_flag(data.get("prefix_caching", True)),
                project_id=project_id,
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(redact(f"Bad generator setting: {exc}")) from exc
        if not 0 <= out.temperature <= 5 or not 0 < out.top_p <= 1:
            raise ValueError("temperature must be in [0, 5] and top_p in (0, 1].")
        if min(out.max_new_tokens, out.max_step_tokens, out.max_steps, out.batch_size) < 1:
            raise ValueError("Token, step and batch budgets must be positive.")
        out._check_backend()
        return out

    def _check_backend(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"Unknown generation backend '{redact(self.backend)}'; use one of "
                             f"{', '.join(BACKENDS)}.")
        if self.backend == "openai":
            if not re.match(r"^https?://[^\s/]+", self.base_url):
                raise ValueError("The openai backend needs base_url, the server's address "
                                 "(e.g. http://vllm:8000/v1), or a deployment-wide "
                                 "GENERATION_SERVER_URL.")
        # Any backend: the JSON field or the API may carry any value; only listed names pass.
        check_secret_name(self.api_secret)
        if not 1 <= self.concurrency <= 256 or not 0 < self.timeout <= 3600:
            raise ValueError("concurrency must be in [1, 256] and timeout in (0, 3600] seconds.")
        if not 0 <= self.retries <= 10 or self.tensor_parallel_size < 0:
            raise ValueError("retries must be in [0, 10] and tensor_parallel_size >= 0.")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError("gpu_memory_utilization must be in (0, 1].")

    @property
    def server(self) -> str:
        """The server's URL as messages show it: without credentials."""
        return strip_credentials(self.base_url)

    @property
    def model_name(self) -> str:
        """The name requests carry: the server's name for the model, else its path or id."""
        return self.served_model or self.model

    def provenance(self, **extra) -> dict:
        """What is stored on generated nodes: the model and its sampling settings."""
        data = asdict(self)
        for name in (*CONNECTION_FIELDS, "project_id"):
            data.pop(name)
        data["base_url"] = self.server
        return {**data, **extra}


def deployment_server() -> str:
    """The deployment's generation server (``GENERATION_SERVER_URL``), or ''."""
    from django.conf import settings

    return settings.GENERATION_SERVER_URL


def _flag(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)
