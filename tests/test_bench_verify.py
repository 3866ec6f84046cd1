"""The key strategy of bench/bench_verify.py on small fixed walks, counted by hand."""

from bench.verify_keys import accept_span, verify_decision, walk_counts

RIGHT, WRONG = True, False


def test_rating_mode_is_one_digit_per_walk_step_then_enter_enter():
    # The walk stops at the first wrong step: 3 digits, Enter, Enter; 3 rates and a finish.
    counts = walk_counts([RIGHT, RIGHT, WRONG, WRONG], None)
    assert (counts["keys"], counts["posts"]) == (5, 4)
    assert counts["stored"] == {0: 1, 1: 1, 2: -1}


def test_a_machine_that_agrees_to_its_first_bad_is_accepted_in_one_key():
    counts = walk_counts([RIGHT, RIGHT, WRONG, WRONG], [1, 1, -1, -1])
    # a, then Enter: the accept rated the whole walk, so the submit question is open.
    assert (counts["keys"], counts["posts"]) == (2, 2)
    assert counts["stored"] == {0: 1, 1: 1, 2: -1}


def test_a_machine_that_calls_everything_good_saves_keys_only_on_right_solutions():
    # An error at step 3: confirm, confirm, the Bad digit, as many keys as rating mode.
    assert walk_counts([RIGHT, RIGHT, WRONG, WRONG], [1, 1, 1, 1])["keys"] == 5
    # A right solution: accept runs to the end in one key, Enter submits (6 in rating mode).
    assert walk_counts([RIGHT] * 4, [1] * 4)["keys"] == 2
    assert walk_counts([RIGHT] * 4, None)["keys"] == 6


def test_a_false_bad_is_corrected_then_accept_takes_the_rest():
    truth, verdicts = [RIGHT, RIGHT, WRONG, WRONG], [1, -1, -1, 1]
    first = verify_decision(verdicts, truth, 0)
    assert [(a.kind, a.position, a.rating) for a in first] == [("confirm", 0, 1), ("rate", 1, 1)]
    assert [a.kind for a in verify_decision(verdicts, truth, 2)] == ["accept"]
    counts = walk_counts(truth, verdicts)
    assert (counts["keys"], counts["posts"]) == (4, 4)  # c, 1, a, Enter
    assert counts["stored"] == {0: 1, 1: 1, 2: -1}


def test_a_step_without_a_verdict_is_rated_and_stops_accept_before_it():
    assert accept_span([1, None, 1], 0) == [0]
    assert accept_span([1, 1, -1, 1], 1) == [1, 2]
    counts = walk_counts([RIGHT, RIGHT, RIGHT], [1, None, 1])
    assert (counts["keys"], counts["posts"]) == (4, 4)  # c, 1, a, Enter


def test_the_accept_reach_is_the_pages_preview():
    from annotate.selectors.verify_state import PREVIEW_STEPS
    from bench import verify_keys

    assert verify_keys.PREVIEW_STEPS == PREVIEW_STEPS
    assert accept_span([1] * 100, 0) == list(range(PREVIEW_STEPS + 1))
