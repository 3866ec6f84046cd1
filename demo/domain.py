"""The demo domain: short arithmetic word problems whose every step can be checked exactly.

A problem is a start value and a list of operations (``+ n`` or ``- n``). A solution
writes one operation per line, ``12 + 5 = 17``, and ends with ``# Answer: 14``. The
checker labels each step on its own (right operation, applied to the value the
previous step stated, with the right result), which is the ground truth that
auto-labels and PRMs are measured against.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

STEP_DELIMITER = "\n"
ANSWER_PREFIX = "# Answer:"

NAMES = ["Ann", "Ben", "Cara", "Dev", "Eli", "Fay", "Gus", "Ivy", "Jon", "Kim", "Leo", "Mia"]
ITEMS = ["apples", "pens", "cards", "coins", "books", "shells", "stamps", "marbles"]
ADD_VERBS = ["buys {n} more", "finds {n} more", "gets {n} more"]
SUB_VERBS = ["gives away {n}", "loses {n}", "sells {n}"]

_STEP_RE = re.compile(r"^\s*(-?\d+)\s*([+\-])\s*(\d+)\s*=\s*(-?\d+)\s*$")
_ANSWER_RE = re.compile(r"^\s*#\s*Answer\s*:?\s*(-?\d+)\s*$")


@dataclass
class ArithProblem:
    start: int
    ops: list[tuple[str, int]]
    name: str = "Ann"
    item: str = "apples"
    phrases: list[str] = field(default_factory=list)

    @property
    def answer(self) -> int:
        value = self.start
        for op, n in self.ops:
            value = apply(value, op, n)
        return value

    @property
    def statement(self) -> str:
        parts = [f"{self.name} has {self.start} {self.item}."]
        for i, phrase in enumerate(self.phrases):
            parts.append(f"{'Then ' if i else ''}{self.name} {phrase}.")
        parts.append(f"How many {self.item} does {self.name} have?")
        return " ".join(parts)

    def to_metadata(self) -> dict:
        return {"start": self.start, "ops": [[op, n] for op, n in self.ops]}

    @classmethod
    def from_metadata(cls, data: dict) -> ArithProblem:
        return cls(start=int(data["start"]), ops=[(op, int(n)) for op, n in data["ops"]])


def apply(value: int, op: str, n: int) -> int:
    return value + n if op == "+" else value - n


def random_problem(rng: random.Random, *, min_ops: int = 2, max_ops: int = 3,
                   max_start: int = 20, max_operand: int = 5) -> ArithProblem:
    """Operand sizes are the knob for how hard the arithmetic is for the demo model."""
    start = rng.randint(2, max_start)
    value, ops, phrases = start, [], []
    for _ in range(rng.randint(min_ops, max_ops)):
        n = rng.randint(1, max_operand)
        # Never below zero: one cannot give away more than one has.
        op = "+" if value - n < 0 or rng.random() < 0.5 else "-"
        value = apply(value, op, n)
        ops.append((op, n))
        phrases.append(rng.choice(ADD_VERBS if op == "+" else SUB_VERBS).format(n=n))
    return ArithProblem(start=start, ops=ops, name=rng.choice(NAMES), item=rng.choice(ITEMS),
                        phrases=phrases)


def format_step(x: int, op: str, n: int, result: int) -> str:
    return f"{x} {op} {n} = {result}"


def format_answer(value: int | str) -> str:
    return f"{ANSWER_PREFIX} {value}"


def correct_steps(problem: ArithProblem) -> list[str]:
    steps, value = [], problem.start
    for op, n in problem.ops:
        new = apply(value, op, n)
        steps.append(format_step(value, op, n, new))
        value = new
    steps.append(format_answer(value))
    return steps


def flawed_steps(problem: ArithProblem, rng: random.Random) -> tuple[list[str], int]:
    """A solution with one planted error; later steps carry the wrong value forward.

    Returns the steps and the index of the first wrong step.
    """
    at = rng.randrange(len(problem.ops))
    steps, value = [], problem.start
    for i, (op, n) in enumerate(problem.ops):
        if i == at:
            kind = rng.choice(["result", "result", "operand", "operator"])
            if kind == "operand":
                n2 = n + rng.choice([-2, -1, 1, 2])
                n = n2 if n2 > 0 else n + 1
            elif kind == "operator" and value - n >= 0:
                op = "-" if op == "+" else "+"
            new = apply(value, op, n)
            if kind in ("result", "operator") and new == apply(value, *problem.ops[i]):
                new += rng.choice([-2, -1, 1, 2])
        else:
            new = apply(value, op, n)
        steps.append(format_step(value, op, n, new))
        value = new
    steps.append(format_answer(value))
    return steps, at


def parse_answer(text: str) -> int | None:
    match = _ANSWER_RE.match(text.strip())
    return int(match.group(1)) if match else None


def check_steps(problem: ArithProblem, steps: list[str]) -> list[bool]:
    """Each step's local correctness, exactly.

    An operation step is right when it applies the problem's next operation to the
    value the previous step stated and computes the result correctly. The answer step
    is right when all operations were done and it repeats the last stated value.
    """
    labels: list[bool] = []
    value: int | None = problem.start
    for i, text in enumerate(steps):
        answer = parse_answer(text)
        if answer is not None:
            labels.append(i == len(problem.ops) and value is not None and answer == value)
            continue
        match = _STEP_RE.match(text)
        if not match or i >= len(problem.ops):
            labels.append(False)
            value = None
            continue
        x, op, n, result = int(match[1]), match[2], int(match[3]), int(match[4])
        ok = value is not None and x == value and (op, n) == problem.ops[i] and result == apply(x, op, n)
        labels.append(ok)
        value = result
    return labels


def first_error(labels: list[bool]) -> int | None:
    """Index of the first wrong step, or None when every step is right."""
    return next((i for i, ok in enumerate(labels) if not ok), None)


def prefix_labels(labels: list[bool]) -> list[bool]:
    """Whether each prefix is still on a correct path (the PRM800K first-error view)."""
    out, ok = [], True
    for label in labels:
        ok = ok and label
        out.append(ok)
    return out


def is_well_formed(steps: list[str]) -> bool:
    """Operation lines then exactly one final answer line."""
    if len(steps) < 2 or parse_answer(steps[-1]) is None:
        return False
    return all(_STEP_RE.match(s) for s in steps[:-1])


def alternative_suffixes(problem: ArithProblem, steps: list[str], at: int,
                         rng: random.Random) -> list[list[str]]:
    """Two other ways to go on from ``steps[:at]``: a right step and a wrong one at ``at``,
    each finished to an answer by carrying its value forward. The demo seeds them as
    candidate steps, so labeling has candidates before any generator model exists."""
    value = problem.start
    if at > 0:
        match = _STEP_RE.match(steps[at - 1])
        value = int(match[4]) if match else problem.start
    if at >= len(problem.ops):
        return [[format_answer(value)], [format_answer(value + rng.choice([-2, -1, 1, 2]))]]
    suffixes = []
    for wrong in (False, True):
        op, n = problem.ops[at]
        new = apply(value, op, n) + (rng.choice([-2, -1, 1, 2]) if wrong else 0)
        suffix, x = [format_step(value, op, n, new)], new
        for op, n in problem.ops[at + 1:]:
            suffix.append(format_step(x, op, n, apply(x, op, n)))
            x = apply(x, op, n)
        suffixes.append(suffix + [format_answer(x)])
    return suffixes
