"""Test-time search strategies: pure functions over a generator and a scorer.

A *generator* is what ``generation.backends.backend_for`` returns (``prompt`` and
``complete``), so every strategy, beam search included, runs on whichever backend a
project is set up for. A *scorer* gives per-step P(good) for (problem, steps) items and
the number of tokens each item feeds the PRM (``search.scorer.PrmTokenScorer`` wraps a
``PrmScorer``). Nothing here touches the database; tests drive it with fixed tiny cases.

Every ``Outcome`` records the tokens the generator produced and the tokens the PRM
read to reach it, so strategies compare at equal compute.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from annotate.grading import extract_final_answer, is_answer_step
from generation.sampling import Sampled, first_step, split_steps
from training.scoring import AGGREGATES, aggregate

SAMPLING_STRATEGIES = ("majority", "best_of_n_min", "best_of_n_product", "best_of_n_last",
                       "weighted_majority")
STRATEGIES = ("greedy", *SAMPLING_STRATEGIES, "beam")


class Generator(Protocol):
    def prompt(self, statement: str, steps=()) -> str: ...

    def complete(self, prompts: list[str], *, n: int, max_new_tokens: int, temperature: float,
                 top_p: float, stop: str | None = None,
                 seed: int | None = None) -> list[list[Sampled]]: ...


class Scorer(Protocol):
    def score(self, items: list[tuple[str, list[str]]]) -> list[list[float | None]]: ...

    def token_counts(self, items: list[tuple[str, list[str]]]) -> list[int]: ...


@dataclass(frozen=True)
class SearchSettings:
    """How the generator is sampled and how a path's step scores become one number."""

    delimiter: str = "\n\n"
    temperature: float = 0.8
    top_p: float = 0.95
    max_new_tokens: int = 512  # one whole solution
    max_step_tokens: int = 128  # one step
    max_steps: int = 40
    aggregate: str = "min"  # for PRM-weighted voting and for ranking beams

    def __post_init__(self):
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"Unknown aggregate '{self.aggregate}'; use one of {', '.join(AGGREGATES)}.")

    @classmethod
    def from_generator(cls, settings, aggregate: str = "min") -> SearchSettings:
        """From a project's ``GeneratorSettings``."""
        return cls(delimiter=settings.delimiter, temperature=settings.temperature,
                   top_p=settings.top_p, max_new_tokens=settings.max_new_tokens,
                   max_step_tokens=settings.max_step_tokens, max_steps=settings.max_steps,
                   aggregate=aggregate)


@dataclass(frozen=True)
class BeamConfig:
    width: int = 1  # paths kept after each step
    per_beam: int = 4  # candidate next steps sampled per kept path
    max_steps: int = 40

    def __post_init__(self):
        if min(self.width, self.per_beam, self.max_steps) < 1:
            raise ValueError("Beam width, candidates per beam and the step limit must be positive.")

    @classmethod
    def for_budget(cls, n: int, max_steps: int = 40, per_beam: int = 4) -> BeamConfig:
        """The beam that samples ``n`` candidates per step: up to ``per_beam`` per path,
        ``n // per_beam`` paths (as in Snell et al.'s compute-optimal comparison)."""
        per = min(n, per_beam)
        return cls(width=max(1, n // per), per_beam=per, max_steps=max_steps)


@dataclass
class Path:
    """A path of steps: a sampled solution or a beam prefix, with what it cost."""

    steps: list[str]
    finished: bool
    generated_tokens: int = 0
    scores: list[float | None] | None = None
    prm_tokens: int = 0

    @property
    def answer(self) -> str | None:
        return extract_final_answer("\n\n".join(self.steps)) if self.finished else None

    def value(self, how: str) -> float | None:
        return aggregate(self.scores or [], how)


@dataclass
class Outcome:
    strategy: str
    budget: int
    answer: str | None
    steps: list[str]
    generated_tokens: int
    prm_tokens: int
    config: dict = field(default_factory=dict)
    explored: list[Path] = field(default_factory=list)  # beam search: every scored prefix


def budgets(max_budget: int) -> list[int]:
    """1, 2, 4, ... up to ``max_budget``."""
    if max_budget < 1:
        raise ValueError("The largest budget must be at least 1.")
    out, n = [], 1
    while n <= max_budget:
        out.append(n)
        n *= 2
    return out


def _path_from_text(sample: Sampled, settings: SearchSettings) -> Path:
    steps, finished = split_steps(sample.text, settings.delimiter, max_steps=settings.max_steps)
    return Path(steps=steps, finished=finished, generated_tokens=sample.tokens)


def sample_solutions(gen: Generator, statement: str, n: int, settings: SearchSettings, *,
                     seed: int | None = None) -> list[Path]:
    """``n`` full solutions sampled in one call; prefixes of the list are smaller budgets."""
    (samples,) = gen.complete([gen.prompt(statement)], n=n, max_new_tokens=settings.max_new_tokens,
                              temperature=settings.temperature, top_p=settings.top_p, seed=seed)
    return [_path_from_text(s, settings) for s in samples]


def greedy(gen: Generator, statement: str, settings: SearchSettings) -> Outcome:
    """The floor: one solution at temperature 0, no PRM."""
    (samples,) = gen.complete([gen.prompt(statement)], n=1, max_new_tokens=settings.max_new_tokens,
                              temperature=0.0, top_p=1.0)
    path = _path_from_text(samples[0], settings)
    return Outcome("greedy", 1, path.answer, path.steps, path.generated_tokens, 0)


def score_paths(scorer: Scorer, statement: str, paths: Sequence[Path]) -> None:
    """Fill each path's step scores and the PRM tokens it took (in place; one batch)."""
    todo = [p for p in paths if p.steps and p.scores is None]
    if not todo:
        return
    items = [(statement, p.steps) for p in todo]
    for path, scores, tokens in zip(todo, scorer.score(items), scorer.token_counts(items)):
        path.scores, path.prm_tokens = scores, tokens


def _spent(paths: Sequence[Path], with_prm: bool) -> tuple[int, int]:
    return (sum(p.generated_tokens for p in paths),
            sum(p.prm_tokens for p in paths) if with_prm else 0)


def majority(paths: Sequence[Path], n: int) -> Outcome:
    """The most common final answer among the first ``n`` samples (ties: the first seen)."""
    used = list(paths[:n])
    votes = Counter(p.answer for p in used if p.answer)
    gen, _ = _spent(used, False)
    if not votes:
        return Outcome("majority", n, None, [], gen, 0)
    answer = max(votes, key=lambda a: (votes[a], -_first_index(used, a)))
    chosen = next(p for p in used if p.answer == answer)
    return Outcome("majority", n, answer, chosen.steps, gen, 0)


def best_of_n(paths: Sequence[Path], n: int, how: str = "min") -> Outcome:
    """The first ``n`` samples' highest PRM score by ``how`` (min, product or last)."""
    used = list(paths[:n])
    gen, prm = _spent(used, True)
    ranked = [(p.value(how), -i, p) for i, p in enumerate(used) if p.value(how) is not None]
    name = f"best_of_n_{how}"
    if not ranked:
        return Outcome(name, n, None, [], gen, prm)
    chosen = max(ranked, key=lambda r: (r[0], r[1]))[2]
    return Outcome(name, n, chosen.answer, chosen.steps, gen, prm)


def weighted_majority(paths: Sequence[Path], n: int, how: str = "min") -> Outcome:
    """Votes weighted by PRM score: the answer whose solutions' scores sum highest."""
    used = list(paths[:n])
    gen, prm = _spent(used, True)
    weights: Counter = Counter()
    for p in used:
        if p.answer and p.value(how) is not None:
            weights[p.answer] += p.value(how)
    if not weights:
        return Outcome("weighted_majority", n, None, [], gen, prm, {"aggregate": how})
    answer = max(weights, key=lambda a: (weights[a], -_first_index(used, a)))
    chosen = max((p for p in used if p.answer == answer), key=lambda p: p.value(how) or 0.0)
    return Outcome("weighted_majority", n, answer, chosen.steps, gen, prm, {"aggregate": how})


def _first_index(paths: Sequence[Path], answer: str) -> int:
    return next(i for i, p in enumerate(paths) if p.answer == answer)


def sampling_outcomes(paths: Sequence[Path], n: int, how: str = "min") -> list[Outcome]:
    """Every sampling strategy at budget ``n`` over the same samples."""
    return [majority(paths, n), *(best_of_n(paths, n, a) for a in AGGREGATES),
            weighted_majority(paths, n, how)]


def _ended(sample: Sampled, text: str, delimiter: str, max_tokens: int) -> bool:
    """Whether a sampled step ends the solution: an answer step, or end-of-sequence
    before the delimiter (not the token limit, which only cuts a long step)."""
    if is_answer_step(text) and extract_final_answer(text) is not None:
        return True
    return delimiter not in sample.text.lstrip() and sample.tokens < max_tokens


def beam_search(gen: Generator, scorer: Scorer, statement: str, settings: SearchSettings,
                beam: BeamConfig, *, seed: int | None = None) -> Outcome:
    """Step-level beam search: sample ``per_beam`` next steps for each kept path, score
    every new prefix with the PRM, keep the best ``width`` unfinished ones; a path that
    reaches an answer is set aside. Stops when ``width`` paths have finished, none are
    left, or after ``max_steps`` steps; returns the best finished path."""
    how = settings.aggregate
    active, finished, explored = [Path(steps=[], finished=False)], [], []
    gen_tokens = prm_tokens = 0
    for depth in range(beam.max_steps):
        prompts = [gen.prompt(statement, p.steps) for p in active]
        outs = gen.complete(prompts, n=beam.per_beam, max_new_tokens=settings.max_step_tokens,
                            temperature=settings.temperature, top_p=settings.top_p,
                            stop=settings.delimiter,
                            seed=None if seed is None else seed + depth)
        children, seen = [], set()
        for parent, samples in zip(active, outs):
            for s in samples:
                gen_tokens += s.tokens
                text = first_step(s.text, settings.delimiter)
                key = (tuple(parent.steps), text)
                if not text or key in seen:
                    continue
                seen.add(key)
                done = (_ended(s, text, settings.delimiter, settings.max_step_tokens)
                        or depth + 1 >= beam.max_steps)
                children.append(Path(steps=[*parent.steps, text], finished=done))
        score_paths(scorer, statement, children)
        prm_tokens += sum(c.prm_tokens for c in children)
        explored.extend(children)
        finished.extend(c for c in children if c.finished)
        room = beam.width - len(finished)
        open_ = [c for c in children if not c.finished and c.value(how) is not None]
        active = sorted(open_, key=lambda c: -c.value(how))[:max(room, 0)]
        if not active:
            break
    config = {"width": beam.width, "per_beam": beam.per_beam, "max_steps": beam.max_steps,
              "aggregate": how}
    budget = beam.width * beam.per_beam
    pool = [p for p in finished if p.value(how) is not None] or active
    if not pool:
        return Outcome("beam", budget, None, [], gen_tokens, prm_tokens, config, explored)
    best = max(pool, key=lambda p: p.value(how))
    return Outcome("beam", budget, best.answer, best.steps, gen_tokens, prm_tokens, config, explored)


def sweep(gen: Generator, scorer: Scorer, statement: str, settings: SearchSettings,
          max_budget: int, *, seed: int | None = None, per_beam: int = 4
          ) -> tuple[list[Outcome], list[Path]]:
    """Every strategy at every budget 1, 2, 4, ... ``max_budget`` on one problem.

    The sampling strategies share one call's ``max_budget`` samples (budget ``n`` uses
    the first ``n``, and is charged for those only); each budget's beam search samples
    ``n`` candidates per step. Returns the outcomes and the samples."""
    ns = budgets(max_budget)
    samples = sample_solutions(gen, statement, ns[-1], settings, seed=seed)
    score_paths(scorer, statement, samples)
    outcomes = [greedy(gen, statement, settings)]
    for n in ns:
        outcomes.extend(sampling_outcomes(samples, n, settings.aggregate))
        beam = BeamConfig.for_budget(n, settings.max_steps, per_beam)
        outcomes.append(beam_search(gen, scorer, statement, settings, beam,
                                    seed=None if seed is None else seed + 1000 * n))
    return outcomes, samples
