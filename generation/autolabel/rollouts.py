"""A ``roll`` function backed by a generation backend: complete prefixes, grade the answers."""

from __future__ import annotations

from functools import lru_cache

from annotate.grading import extract_final_answer, grade_answer, is_answer_step
from generation.config import GeneratorSettings


@lru_cache(maxsize=65536)
def _grade(answer: str | None, truth: str) -> bool:
    # Rollouts repeat the same few answers; symbolic comparison is the slow part.
    return grade_answer(answer, truth)


def answer_verdict(step: str, ground_truth: str) -> bool | None:
    """For a final-answer step, whether it is right; None for any other step."""
    if not is_answer_step(step):
        return None
    return _grade(extract_final_answer(step), ground_truth)


class ModelRoller:
    """Rollouts from step prefixes of one problem with one model, batched and counted."""

    def __init__(self, settings: GeneratorSettings, statement: str, ground_truth: str, *,
                 seed: int = 0, max_prompts: int | None = None):
        from generation.backends import backend_for

        self.settings = settings
        self.statement = statement
        self.ground_truth = ground_truth
        self.seed = seed
        self.backend = backend_for(settings)
        self.max_prompts = max_prompts or self.backend.prompts_per_call(1)
        self.rollouts = 0
        self.calls = 0

    def _complete(self, prefix: list[str], text: str) -> bool:
        from generation.sampling import split_steps

        steps, _ = split_steps(text, self.settings.delimiter, max_steps=self.settings.max_steps)
        answer = extract_final_answer("\n\n".join([*prefix, *steps]))
        return _grade(answer, self.ground_truth)

    def __call__(self, prefixes: list[list[str]], n: int) -> list[int]:
        return [sum(row) for row in self.outcomes(prefixes, n)]

    def outcomes(self, prefixes: list[list[str]], n: int) -> list[list[bool]]:
        """For each prefix, whether each of ``n`` rollouts reached the right answer."""
        results: list[list[bool]] = []
        for start in range(0, len(prefixes), self.max_prompts):
            chunk = prefixes[start:start + self.max_prompts]
            prompts = [self.backend.prompt(self.statement, p) for p in chunk]
            self.calls += 1
            outs = self.backend.complete(prompts, n=n, max_new_tokens=self.settings.max_new_tokens,
                                         temperature=self.settings.temperature or 1.0,
                                         top_p=self.settings.top_p, seed=self.seed + self.calls)
            for prefix, samples in zip(chunk, outs):
                results.append([self._complete(prefix, s.text) for s in samples])
            self.rollouts += n * len(chunk)
        return results
