"""Judge templates and answer parsing: what an answer says is read, what it does not say is
recorded as unreadable, never guessed; k samples vote, a tie has no verdict."""

import pytest

from generation.judging.parsing import StepVerdict, parse, vote
from generation.judging.templates import EARLIEST_ERROR, STEP_VERDICTS, template

pytestmark = pytest.mark.portable

STEPS = ["5 + 3 = 8", "8 * 2 = 17", "The answer is 17"]


def test_templates_are_versioned_and_fill_the_problem_and_numbered_steps():
    assert template("step_verdicts") is STEP_VERDICTS and STEP_VERDICTS.key == "step_verdicts@1"
    assert template("earliest_error@1") is EARLIEST_ERROR
    messages = STEP_VERDICTS.messages("What is (5 + 3) * 2?", STEPS)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "Step 2: 8 * 2 = 17" in messages[1]["content"] and "all 3 lines" in messages[1]["content"]
    assert "\\boxed{}" in EARLIEST_ERROR.messages("p", STEPS)[0]["content"]
    assert len(STEP_VERDICTS.digest) == 12 and STEP_VERDICTS.digest != EARLIEST_ERROR.digest
    with pytest.raises(ValueError, match="No judge template 'nope'"):
        template("nope")


def test_step_verdict_lines_are_read_with_their_reasons():
    answer = ("Step 1: correct - 5 + 3 = 8.\n**Step 2: incorrect** - 8 * 2 = 16, not 17.\n"
              "step 3 - wrong: it builds on step 2")
    got = parse("step_verdicts", answer, 3)
    assert [v.rating for v in got] == [1, -1, -1]
    assert got[1].reason == "8 * 2 = 16, not 17." and got[2].reason == "it builds on step 2"


@pytest.mark.parametrize("answer", [
    "", "All good!", "Step 1: correct\nStep 1: incorrect\nStep 2: neutral",
    "Step 7: incorrect - out of range",
])
def test_what_an_answer_does_not_say_is_unreadable_not_guessed(answer):
    got = parse("step_verdicts", answer, 3)
    said = {1: None, 2: 0} if "Step 2: neutral" in answer else {}
    assert [v.rating for v in got] == [said.get(k) for k in (1, 2, 3)]


def test_earliest_error_answers():
    assert [v.rating for v in parse("earliest_error", "so \\boxed{2}", 3)] == [1, -1, None]
    assert [v.rating for v in parse("earliest_error", "\\boxed{-1}", 3)] == [1, 1, 1]
    assert [v.rating for v in parse("earliest_error", "\\boxed{1} no, \\boxed{3}", 3)] == [1, 1, -1]
    for bad in ("no box", "\\boxed{0}", "\\boxed{4}", "\\boxed{two}"):
        assert [v.rating for v in parse("earliest_error", bad, 3)] == [None, None, None]


def test_k_samples_vote_and_a_tie_has_no_verdict():
    bad, good = StepVerdict(-1, "8 * 2 = 16"), StepVerdict(1, "fine")
    v = vote([bad, good, bad, StepVerdict(None)])
    assert (v.rating, v.readable, v.reason) == (-1, 3, "8 * 2 = 16")
    assert v.agreement == pytest.approx(2 / 3)
    assert vote([bad, good]).rating is None
    assert vote([StepVerdict(None)] * 3) == vote([]) and vote([]).readable == 0
