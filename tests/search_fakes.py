"""Fixed tiny generators and scorers for the search strategies: every continuation and
score is known, so what a strategy picks and what it spends can be worked out by hand."""

from __future__ import annotations

from generation.sampling import Sampled

# Start at 2, add 3, take 1: the answer is 4. Greedy (always the first continuation)
# goes 2 + 3 = 6 and answers 5; the right path is the second candidate at the first step.
STATEMENT = "start 2 add 3 take 1"
ANSWER = "4"
TREE: dict[tuple[str, ...], list[str]] = {
    (): ["2 + 3 = 6", "2 + 3 = 5"],
    ("2 + 3 = 6",): ["6 - 1 = 5"],
    ("2 + 3 = 6", "6 - 1 = 5"): ["# Answer: 5"],
    ("2 + 3 = 5",): ["5 - 1 = 3", "5 - 1 = 4"],
    ("2 + 3 = 5", "5 - 1 = 3"): ["# Answer: 3"],
    ("2 + 3 = 5", "5 - 1 = 4"): ["# Answer: 4"],
}
CORRECT_STEPS = {"2 + 3 = 5", "5 - 1 = 4", "# Answer: 4"}


def words(text: str) -> int:
    return len(text.split())


class TreeGenerator:
    """A generator over a fixed tree: sample ``i`` takes child ``i mod k`` at each step
    (greedy always the first); a step costs one token per word."""

    def __init__(self, tree=TREE, delimiter: str = "\n"):
        self.tree, self.delimiter = tree, delimiter
        self.prefixes: dict[str, tuple[str, ...]] = {}
        self.generated = 0  # every token handed out, duplicates included

    def prompt(self, statement: str, steps=()) -> str:
        key = "|".join([statement, *steps])
        self.prefixes[key] = tuple(steps)
        return key

    def _child(self, prefix, i: int, temperature: float) -> str:
        children = self.tree[prefix]
        return children[i % len(children) if temperature > 0 else 0]

    def complete(self, prompts, *, n, max_new_tokens, temperature, top_p, stop=None, seed=None):
        out = []
        for key in prompts:
            prefix, row = self.prefixes[key], []
            for i in range(n):
                if stop is not None:
                    step = self._child(prefix, i, temperature)
                    ends = (*prefix, step) not in self.tree
                    row.append(Sampled(text=step if ends else step + stop, tokens=words(step)))
                else:
                    steps, at = [], prefix
                    while at in self.tree:
                        steps.append(self._child(at, i, temperature))
                        at = (*at, steps[-1])
                    row.append(Sampled(text=self.delimiter.join(steps),
                                       tokens=sum(words(s) for s in steps)))
                self.generated += row[-1].tokens
            out.append(row)
        return out


class StepSetScorer:
    """P(good) 0.9 for a step in ``good``, else 0.1; an item costs its words plus one
    separator per step."""

    def __init__(self, good=CORRECT_STEPS):
        self.good = set(good)
        self.read = 0

    def score(self, items):
        return [[0.9 if s in self.good else 0.1 for s in steps] for _, steps in items]

    def token_counts(self, items):
        counts = [words(prompt) + sum(words(s) for s in steps) + len(steps) for prompt, steps in items]
        self.read += sum(counts)
        return counts
