"""Generator settings, read from ``Project.generator`` and validated."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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

    @classmethod
    def from_dict(cls, data: dict | None) -> GeneratorSettings:
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
            )
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Bad generator setting: {exc}") from exc
        if not 0 <= out.temperature <= 5 or not 0 < out.top_p <= 1:
            raise ValueError("temperature must be in [0, 5] and top_p in (0, 1].")
        if min(out.max_new_tokens, out.max_step_tokens, out.max_steps, out.batch_size) < 1:
            raise ValueError("Token, step and batch budgets must be positive.")
        return out

    def provenance(self, **extra) -> dict:
        """What is stored on generated nodes: the model and its sampling settings."""
        data = asdict(self)
        data.pop("batch_size")
        return {**data, **extra}
