"""Score steps with a trained PRM, and store the scores of a project's solutions.

``PrmScorer`` is the one in-process inference path (the ``transformers`` scoring backend,
``training.backends``), used by evaluation, the scoring run, search and the reward service,
so all give the same numbers; the ``vllm`` backend's pooling servers give them too. A step's score is the
probability of "good" at the separator after it. PRMs of other families (a "+"/"-" next
token at a step tag) score through ``families.StepTagScorer`` with the same ``score`` API.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

from workers.runs import RunFailure

from .data import DEFAULT_SEPARATOR, collate, separator_id
from .windows import LongInputPolicy, assemble, encode_windows, flatten

AGGREGATES = ("min", "product", "last")


class TokenBudgetExceeded(ValueError):
    """A batch would feed the model more tokens than the caller allows."""

    def __init__(self, tokens: int, budget: int):
        super().__init__(f"{tokens} tokens, budget {budget}")
        self.tokens, self.budget = tokens, budget


def aggregate(scores: list[float | None], how: str = "min") -> float | None:
    """One number per solution: the weakest step, all steps, or the last step."""
    values = [s for s in scores if s is not None]
    if not values:
        return None
    if how == "min":
        return min(values)
    if how == "product":
        return math.prod(values)
    if how == "last":
        return values[-1]
    raise ValueError(f"Unknown aggregate '{how}'; use one of {', '.join(AGGREGATES)}.")


class PrmScorer:
    """A loaded PRM. Thread-safe: one forward pass at a time per model."""

    def __init__(self, path: str | Path, max_length: int | None = None, device: str | None = None):
        import torch

        from .trainer import load_trained

        self.path = str(path)
        self.model, self.tokenizer = load_trained(path)
        self.separator = getattr(self.model.config, "step_separator", DEFAULT_SEPARATOR)
        self.sep_id = separator_id(self.tokenizer, self.separator)
        limit = getattr(self.model.config, "max_position_embeddings", 512) or 512
        self.max_length = min(max_length or limit, limit)
        # What the model was trained with (training/windows.py); older models truncate.
        self.policy = LongInputPolicy.recorded(getattr(self.model.config, "long_inputs", None))
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device)
        self._lock = threading.Lock()

    def _encode(self, prompt: str, steps: list[str]) -> list[dict]:
        return encode_windows(self.tokenizer, prompt, steps, None, separator=self.separator,
                              sep_id=self.sep_id, max_length=self.max_length, policy=self.policy)

    def token_counts(self, items: list[tuple[str, list[str]]]) -> list[int]:
        """The tokens each (prompt, steps) item feeds the model (its windows, after
        truncation), as ``score`` reads them: what search counts as PRM compute."""
        return [sum(len(w["input_ids"]) for w in self._encode(prompt, steps))
                for prompt, steps in items]

    def score(self, items: list[tuple[str, list[str]]], batch_size: int = 16,
              max_tokens: int | None = None) -> list[list[float | None]]:
        """Per-step P(good) for each (prompt, steps); None for a step cut by max length
        (under the ``truncate`` long-input policy; ``window`` scores every step).

        ``max_tokens`` bounds the tokens fed to the model (after truncation), checked
        before any forward pass: ``TokenBudgetExceeded`` if the items need more.
        """
        import torch

        encoded, owner = flatten([self._encode(prompt, steps) for prompt, steps in items])
        if max_tokens is not None:
            total = sum(len(e["input_ids"]) for e in encoded)
            if total > max_tokens:
                raise TokenBudgetExceeded(total, max_tokens)
        # Similar lengths together waste less padding.
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]["input_ids"]))
        window_scores: list[list[float]] = [[] for _ in encoded]
        pad = self.tokenizer.pad_token_id
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                batch = collate([encoded[i] for i in idx], pad)
                logits = self.model(input_ids=batch["input_ids"].to(self.device),
                                    attention_mask=batch["attention_mask"].to(self.device)).logits
                probs = torch.softmax(logits.float(), dim=-1)[..., 1].cpu()
                for row, i in enumerate(idx):
                    window_scores[i] = [round(float(probs[row, p]), 6)
                                        for p in encoded[i]["positions"]]
        return assemble(items, encoded, owner, window_scores)


def load_scorer(path: str | Path, scoring: dict | None = None, max_length: int | None = None):
    """The scorer for a PRM's family: ``PrmScorer`` for Stepwise's token classifiers, a
    ``StepTagScorer`` where ``scoring`` says ``{"kind": "next_token", ...}``."""
    if scoring and scoring.get("kind") == "next_token":
        from .families import StepTagScorer, StepTagScoring

        return StepTagScorer(path, StepTagScoring.from_dict(scoring), max_length=max_length)
    return PrmScorer(path, max_length=max_length)


class ModelFilesMissing(RunFailure):
    """A model marked ready whose folder is empty, gone or unreadable: nothing can score.
    A Run that meets it fails with this reason; the reward API answers 409."""

    def __init__(self, prm_model):
        folder = Path(prm_model.artifact_path).name if prm_model.artifact_path else "none"
        super().__init__(f"The model's files are missing: '{prm_model.name}' is marked ready but "
                         f"its folder ({folder}) holds no loadable model. Train or register it again.",
                         reason="The model's files are missing")


def score_project_solutions(prm_model, solution_ids: list[int] | None = None, *, run=None,
                            batch_size: int = 16, progress=None) -> int:
    """Score solutions; store per-step PreAnnotations and one SolutionScore each.

    A node shared by several solutions keeps the score from the solution scored
    last (an encoder sees the whole solution around a step).
    """
    from django.db import transaction

    from annotate.models import PreAnnotation, Solution

    from .data import solution_paths
    from .models import SolutionScore

    qs = Solution.objects.filter(project=prm_model.project).select_related("problem").defer(
        "trajectory")  # an agent run's messages: not needed to score its steps
    if solution_ids is not None:
        qs = qs.filter(pk__in=solution_ids)
    solutions = list(qs.order_by("pk"))
    from .backends import scorer_for

    scorer = scorer_for(prm_model)
    source = prm_model.name[:200]
    done = 0
    chunk = 256
    for start in range(0, len(solutions), chunk):
        part = solutions[start:start + chunk]
        paths = solution_paths(part)
        scores = scorer.score([(s.problem.statement, [t for _, t in paths[s.pk]]) for s in part],
                              batch_size=batch_size)
        with transaction.atomic():
            node_values: dict[int, float] = {}
            for s, step_scores in zip(part, scores):
                for (nid, _), value in zip(paths[s.pk], step_scores):
                    if value is not None:
                        node_values[nid] = value
                if aggregate(step_scores) is None:
                    continue
                SolutionScore.objects.update_or_create(
                    prm_model=prm_model, solution=s,
                    defaults={"step_scores": step_scores,
                              "min_score": aggregate(step_scores, "min"),
                              "product_score": aggregate(step_scores, "product"),
                              "last_score": aggregate(step_scores, "last")},
                )
            PreAnnotation.objects.bulk_create(
                [PreAnnotation(node_id=nid, kind=PreAnnotation.Kind.PRM_SCORE, source=source,
                               value=value, run=run,
                               provenance={"prm_model": prm_model.pk, "path": prm_model.artifact_path})
                 for nid, value in node_values.items()],
                update_conflicts=True, unique_fields=["node", "kind", "source", "scope"],
                update_fields=["value", "run", "provenance"],
            )
        done += len(part)
        if progress:
            progress(done, len(solutions))
    return done
