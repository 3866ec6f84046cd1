"""What every generation backend does: turn prompts into ``n`` sampled continuations each.

A backend is built from a project's ``GeneratorSettings`` and is the only place that
knows where the model runs (in this process, in vLLM's engine, or behind an HTTP
server). The callers (solutions, candidate steps, Monte Carlo rollouts) build prompts
through it and ask for samples; they never touch a model object.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from generation.config import GeneratorSettings
from generation.prompts import build_prompt
from generation.sampling import Sampled


def request_seed(seed: int | None, index: int) -> int | None:
    """The seed of the ``index``-th request of a call: fixed by the call's seed, so a retried
    Run asks the engine for the same samples; distinct per request so prompts don't share one."""
    if seed is None:
        return None
    return (int(seed) * 1_000_003 + index) % 2**31


class Backend(ABC):
    name: str = ""

    def __init__(self, settings: GeneratorSettings):
        self.settings = settings

    @property
    @abstractmethod
    def tokenizer(self):
        """The model's tokenizer: prompts use its chat template, where it has one."""

    def prompt(self, statement: str, steps=()) -> str:
        return build_prompt(self.tokenizer, statement, steps, self.settings.delimiter)

    @abstractmethod
    def complete(self, prompts: list[str], *, n: int, max_new_tokens: int,
                 temperature: float, top_p: float, stop: str | None = None,
                 seed: int | None = None) -> list[list[Sampled]]:
        """``n`` continuations of each prompt, in order; ``stop`` ends one at that text.

        Greedy decoding (``temperature == 0``) gives one answer, repeated ``n`` times.
        """

    def chat_prompt(self, messages: list[dict]) -> str:
        """The text a model continues for a conversation: its chat template where it has one,
        else ``Role: content`` lines (a plain model, like the demo's)."""
        tokenizer = self.tokenizer
        if getattr(tokenizer, "chat_template", None):
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return "".join(f"{m['role'].capitalize()}: {m['content'].strip()}\n\n" for m in messages) \
            + "Assistant:"

    def chat(self, conversations: list[list[dict]], *, n: int, max_new_tokens: int,
             temperature: float, top_p: float = 1.0, seed: int | None = None) -> list[list[Sampled]]:
        """``n`` replies to each conversation (a judge's answers), in order."""
        return self.complete([self.chat_prompt(c) for c in conversations], n=n,
                             max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p,
                             seed=seed)

    def prompts_per_call(self, n: int) -> int:
        """How many prompts of ``n`` samples to hand ``complete`` at once: about
        ``batch_size`` sequences for an in-process ``generate``."""
        return max(1, self.settings.batch_size // max(n, 1))

    def describe(self) -> str:
        """One line for logs and the settings page: where generation runs."""
        return f"{self.name}: {self.settings.model}"
