"""PRMs of other families: a causal LM whose step score is P("+") against P("-") as the next
token at a step tag.

* ``"tag"``: Math-Shepherd's format, ``question + " " + step + " ки\\n" + ...``; the score of a
  step is the softmax over the good and bad tokens of the logits at its tag.
* ``"chat"``: RLHFlow's turns, the first user turn the question and the first step, each
  further step a user turn, each assistant reply the good token; the score of a step is the
  same softmax at the position that predicts its reply. One forward pass scores every step:
  the model is causal, so later turns do not change an earlier step's logits.

``StepTagScorer`` has ``PrmScorer``'s ``score`` signature, so evaluation, best-of-N, active
learning and the reward service take either.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from pathlib import Path

FORMATS = ("tag", "chat")


@dataclass(frozen=True)
class StepTagScoring:
    format: str = "tag"
    step_tag: str = "ки"  # "tag" format only
    good: str = "+"
    bad: str = "-"

    @classmethod
    def from_dict(cls, values: dict) -> StepTagScoring:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        spec = cls(**known)
        if spec.format not in FORMATS:
            raise ValueError(f"scoring format must be one of {', '.join(FORMATS)}")
        if not all(isinstance(v, str) and v for v in (spec.step_tag, spec.good, spec.bad)):
            raise ValueError("step_tag, good and bad must be non-empty strings")
        return spec

    def as_dict(self) -> dict:
        return {"kind": "next_token", **asdict(self)}


def _one_token(tokenizer, text: str, what: str) -> int:
    """The id of ``text`` as one token, bare or after a space (SentencePiece's "▁+")."""
    for candidate in (text, " " + text):
        ids = tokenizer.encode(candidate, add_special_tokens=False)
        if len(ids) == 1 and tokenizer.decode(ids).strip() == text:
            return ids[0]
    raise ValueError(f"The {what} {text!r} is not one token in this tokenizer.")


class StepTagScorer:
    """A next-token PRM loaded with plain transformers. Thread-safe like ``PrmScorer``."""

    def __init__(self, path: str | Path, spec: StepTagScoring, max_length: int | None = None,
                 device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path, self.spec = str(path), spec
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path).eval()
        self.good_id = _one_token(self.tokenizer, spec.good, "good token")
        self.bad_id = _one_token(self.tokenizer, spec.bad, "bad token")
        if spec.format == "tag":
            self.tag_id = _one_token(self.tokenizer, spec.step_tag, "step tag")
        elif not self.tokenizer.chat_template:
            raise ValueError("The chat format needs a tokenizer with a chat template.")
        limit = getattr(self.model.config, "max_position_embeddings", 4096) or 4096
        self.max_length = min(max_length or limit, limit)
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model.to(self.device)
        self._lock = threading.Lock()

    def encode(self, prompt: str, steps: list[str]) -> tuple[list[int], list[int]]:
        """Token ids and, per step kept, the position whose logits score it."""
        if self.spec.format == "tag":
            tag = self.spec.step_tag
            text = prompt + " " + "".join(s.replace(tag, " ") + f" {tag}\n" for s in steps)
            ids = self.tokenizer(text)["input_ids"]
            positions = [i for i, t in enumerate(ids) if t == self.tag_id]
        else:
            messages, positions = [], []
            for i, step in enumerate(steps):
                messages.append({"role": "user", "content": (prompt + " " + step) if i == 0 else step})
                asked = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                                           tokenize=True, return_dict=False)
                positions.append(len(asked) - 1)  # the logits here predict the reply
                messages.append({"role": "assistant", "content": self.spec.good})
            ids = self.tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False)
            if any(p >= len(ids) or ids[p + 1] != self.good_id for p in positions):
                raise ValueError("This chat template does not reply to a step with the good "
                                 "token alone; use the tag format.")
        ids = ids[: self.max_length]
        return ids, [p for p in positions if p < len(ids)]

    def token_counts(self, items: list[tuple[str, list[str]]]) -> list[int]:
        return [len(self.encode(prompt, steps)[0]) for prompt, steps in items]

    def score(self, items: list[tuple[str, list[str]]], batch_size: int = 16,
              max_tokens: int | None = None) -> list[list[float | None]]:
        import torch

        from .scoring import TokenBudgetExceeded

        encoded = [self.encode(prompt, steps) for prompt, steps in items]
        if max_tokens is not None:
            total = sum(len(ids) for ids, _ in encoded)
            if total > max_tokens:
                raise TokenBudgetExceeded(total, max_tokens)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        results: list[list[float | None]] = [[] for _ in items]
        with self._lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                width = max(len(encoded[i][0]) for i in idx)
                ids = torch.full((len(idx), width), pad, dtype=torch.long)
                mask = torch.zeros((len(idx), width), dtype=torch.long)
                for row, i in enumerate(idx):  # right padding: causal positions stay put
                    n = len(encoded[i][0])
                    ids[row, :n] = torch.tensor(encoded[i][0])
                    mask[row, :n] = 1
                logits = self.model(input_ids=ids.to(self.device),
                                    attention_mask=mask.to(self.device)).logits
                pair = logits[..., [self.good_id, self.bad_id]].float().softmax(-1)[..., 0].cpu()
                for row, i in enumerate(idx):
                    got = [round(float(pair[row, p]), 6) for p in encoded[i][1]]
                    results[i] = got + [None] * (len(items[i][1]) - len(got))
        return results
