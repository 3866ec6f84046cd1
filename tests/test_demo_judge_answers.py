"""The demo judge's answer shape: a scratchpad ``Check k:`` line before every ``Step k:``
verdict line. The parser reads exactly the verdict lines (the checker's verdicts and the
reasons the judge is trained to write), never a check line; the training mix holds a large
share of wrong steps."""

import random

import pytest

from demo import domain
from demo.judge_model import TRAIN_MIX, check_lines, judge_answer, step_reasons, training_solution
from generation.judging.parsing import parse

pytestmark = pytest.mark.portable

PROBLEM = domain.ArithProblem(start=12, ops=[("+", 5), ("-", 3)], phrases=["buys 5 more", "loses 3"])


def test_a_check_line_computes_the_step_before_its_verdict():
    steps = ["12 + 5 = 17", "17 - 3 = 15", "# Answer: 15"]
    assert judge_answer(PROBLEM, steps).splitlines() == [
        "Check 1: 12 + 5 = 17",
        "Step 1: correct - 12 + 5 = 17",
        "Check 2: 17 - 3 = 14",
        "Step 2: incorrect - 17 - 3 = 15 is wrong: 17 - 3 = 14",
        "Check 3: the last value is 15",
        "Step 3: correct - the answer is 15",
    ]
    got = parse("step_verdicts", judge_answer(PROBLEM, steps), 3)
    assert [v.rating for v in got] == [1, -1, 1]
    assert got[1].reason == "17 - 3 = 15 is wrong: 17 - 3 = 14"


def test_check_lines_alone_are_read_as_nothing():
    answer = "\n".join(check_lines(PROBLEM, ["12 + 5 = 18", "18 - 3 = 15", "# Answer: 15"]))
    assert [v.rating for v in parse("step_verdicts", answer, 3)] == [None, None, None]


@pytest.mark.parametrize("seed", range(3))
def test_the_parser_reads_the_checkers_verdicts_and_reasons_from_training_answers(seed):
    rng = random.Random(seed)
    wrong = total = 0
    for _ in range(200):
        problem = domain.random_problem(rng)
        steps = training_solution(problem, rng, **TRAIN_MIX)
        truth = domain.check_steps(problem, steps)
        got = parse("step_verdicts", judge_answer(problem, steps), len(steps))
        assert [v.rating for v in got] == [1 if ok else -1 for ok in truth]
        assert [v.reason for v in got] == [reason for _, reason in step_reasons(problem, steps)]
        wrong += truth.count(False)
        total += len(truth)
    assert 0.35 <= wrong / total <= 0.6, wrong / total
