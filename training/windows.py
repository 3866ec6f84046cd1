"""Inputs longer than the model's context: the long-input policy, one rule for training and
scoring (docs/training.md, "Long inputs").

* ``truncate``: one window, the prompt and the steps from the first that fit; the later steps
  carry no label in training and score ``None`` (what a model trained before the policy
  existed does).
* ``window`` (the default): the first window is the same; every step it cannot hold starts
  another window of the problem, up to ``context_steps`` preceding steps as context
  (unlabeled, unscored there), then as many steps as fit. Every step is labeled and scored
  exactly once; a step too long to fit even alone keeps its first tokens.

``encode_windows`` is what the dataset builder (``training.trainer``) and both scorers
(``training.scoring.PrmScorer`` and the vLLM pooling backend, which sends the token ids)
call, so a step is seen the same way in training and in scoring. Pure: no torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .data import IGNORE, encode

POLICIES = ("truncate", "window")
MAX_CONTEXT_STEPS = 64


@dataclass(frozen=True)
class LongInputPolicy:
    policy: str = "window"
    context_steps: int = 2  # preceding steps a later window keeps as context

    def check(self) -> None:
        if self.policy not in POLICIES:
            raise ValueError(f"long_inputs must be one of {', '.join(POLICIES)}")
        if isinstance(self.context_steps, bool) or not isinstance(self.context_steps, int) \
                or not 0 <= self.context_steps <= MAX_CONTEXT_STEPS:
            raise ValueError(f"window_context_steps must be between 0 and {MAX_CONTEXT_STEPS}")

    def as_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def recorded(cls, value) -> LongInputPolicy:
        """The policy a model's config records; a model without one truncates (what it was
        trained with)."""
        if not isinstance(value, dict) or value.get("policy") not in POLICIES:
            return cls(policy="truncate")
        steps = value.get("context_steps", 2)
        return cls(policy=value["policy"],
                   context_steps=steps if isinstance(steps, int) and 0 <= steps <= MAX_CONTEXT_STEPS
                   else 2)


TRUNCATE = LongInputPolicy(policy="truncate")


def encode_windows(tokenizer, prompt: str, steps: list[str], labels: list[int | None] | None, *,
                   separator: str, sep_id: int, max_length: int,
                   policy: LongInputPolicy = TRUNCATE, keep_tail: bool = True) -> list[dict]:
    """The encoded windows of one (prompt, steps) item: each ``training.data.encode``'s dict
    plus ``owns``, aligned with ``positions``: the step index whose label / score that
    position carries, or None for a context step."""
    def window(first: int, context: int, texts: list[str]) -> dict:
        part = labels[first - context: first - context + len(texts)] if labels is not None else None
        if part is not None and context:
            part = [None] * context + part[context:]
        enc = encode(tokenizer, prompt, texts, part, separator=separator, sep_id=sep_id,
                     max_length=max_length, keep_tail=keep_tail)
        enc["owns"] = [None] * min(context, len(enc["positions"])) + [
            first + k for k in range(len(enc["positions"]) - context)]
        return enc

    whole = window(0, 0, steps)
    if policy.policy == "truncate" or len(whole["positions"]) == len(steps):
        return [whole]
    windows = [whole] if whole["positions"] else []
    first = len(whole["positions"])
    # A lower bound of each step's tokens with its separator: a window's text stops at the
    # first step that cannot fit, so each window tokenizes about a context's worth of text.
    # (A separator is a special token, so a step's text is tokenized apart from its
    # neighbours; the slack of 2 covers tokenizers that merge across it.)
    alone = tokenizer(steps, add_special_tokens=False)["input_ids"]  # one batch call
    least = [max(1, len(ids) - 2) + 1 for ids in alone]
    while first < len(steps):
        enc = None
        for context in range(min(policy.context_steps, first), -1, -1):
            end, used = first, sum(least[first - context:first])
            while end < len(steps) and used <= max_length:
                used += least[end]
                end += 1
            enc = window(first, context, steps[first - context:end])
            if len(enc["positions"]) > context:
                break
        if len(enc["positions"]) == 0:
            enc = _cut_step(tokenizer, window, steps[first], first, max_length)
        windows.append(enc)
        first = enc["owns"][-1] + 1
    return windows


def _cut_step(tokenizer, window, text: str, index: int, max_length: int) -> dict:
    """A step too long to fit alone: its first tokens, as many as leave room for its
    separator."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    keep = min(len(ids), max_length)
    while keep > 0:
        enc = window(index, 0, [tokenizer.decode(ids[:keep])])
        if enc["positions"]:
            return enc
        keep = keep * 3 // 4 if keep > 8 else keep - 1
    raise ValueError(f"Step {index} cannot fit the model's {max_length} tokens even cut: "
                     "the prompt takes them all.")


def flatten(encoded: list[list[dict]]) -> tuple[list[dict], list[int]]:
    """Every item's windows in one list, and which item each came from."""
    flat, owner = [], []
    for i, windows in enumerate(encoded):
        flat.extend(windows)
        owner.extend([i] * len(windows))
    return flat, owner


def assemble(items: list[tuple[str, list[str]]], flat: list[dict], owner: list[int],
             window_scores: list[list[float]]) -> list[list[float | None]]:
    """Per item, one score per step from the window that owns it; None where none does."""
    results: list[list[float | None]] = [[None] * len(steps) for _, steps in items]
    for enc, item, scores in zip(flat, owner, window_scores):
        for step, value in zip(enc["owns"], scores):
            if step is not None:
                results[item][step] = value
    return results


def labeled(enc: dict) -> bool:
    return any(v != IGNORE for v in enc["labels"])
