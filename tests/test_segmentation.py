"""Segmentation strategies on fixed texts: where each cuts, that markers and separators inside
LaTeX and code never cut, that the spans reassemble the text byte for byte, the caps, and
the refusal of a model's answer that does not match the text."""

import json

import pytest

from annotate.segmentation import (
    STRATEGIES,
    SegmentationError,
    check_spans,
    gaps_of,
    protected_regions,
    reassemble,
    segment,
    segment_trace,
    steps_of,
    think_parts,
)
from generation.segmenting import parse_answer

pytestmark = [pytest.mark.portable]

TEXT = ("Let me set up the equation $x^2 = 4$.\n\nSo x = 2. Wait, x could also be -2.\n\n"
        "Alternatively, factor: $$(x-2)(x+2) = 0.\n\nWait, this is still math$$\n\n"
        "```python\nprint('Wait. Let me check')\n\n# Alternatively\n```\n\n"
        "Let me check with `Wait. x` inline and \\(a. Wait\\) and \\[b.\n\nWait\\]. Done!")


def cut(text, strategy, **options):
    spans = segment(text, strategy, **options)
    assert reassemble(steps_of(text, spans), gaps_of(text, spans)) == text
    return steps_of(text, spans)


def test_blank_line_keeps_math_and_code_whole():
    assert cut(TEXT, "blank_line") == [
        "Let me set up the equation $x^2 = 4$.",
        "So x = 2. Wait, x could also be -2.",
        "Alternatively, factor: $$(x-2)(x+2) = 0.\n\nWait, this is still math$$",
        "```python\nprint('Wait. Let me check')\n\n# Alternatively\n```",
        "Let me check with `Wait. x` inline and \\(a. Wait\\) and \\[b.\n\nWait\\]. Done!",
    ]


def test_blank_line_with_an_exact_separator_keeps_whitespace_in_the_steps():
    text = "One.\n\n  Two.\n\nThree \n\n\nFour"
    assert cut(text, "blank_line", separator="\n\n", trim=False, protect=False) == [
        "One.", "  Two.", "Three ", "\nFour"]


def test_markers_cut_at_sentence_and_line_starts_only_outside_latex_and_code():
    assert cut(TEXT, "markers") == [
        "Let me set up the equation $x^2 = 4$.\n\nSo x = 2.",
        "Wait, x could also be -2.",
        "Alternatively, factor: $$(x-2)(x+2) = 0.\n\nWait, this is still math$$\n\n"
        "```python\nprint('Wait. Let me check')\n\n# Alternatively\n```",
        "Let me check with `Wait. x` inline and \\(a. Wait\\) and \\[b.\n\nWait\\]. Done!",
    ]
    # Configurable: only "Let me check"; a marker inside a word never cuts ("Waiting").
    assert cut("Waiting. Wait no. Let me check it.", "markers", markers=["Let me check"]) == [
        "Waiting. Wait no.", "Let me check it."]
    # Without protection the same marker inside math cuts.
    assert len(cut("A $x. Wait$ b.", "markers", protect=False)) == 2
    assert len(cut("A $x. Wait$ b.", "markers")) == 1


def test_numbered_steps():
    text = "Plan first.\n1. Add.\n2) Multiply $2.\n3. x$.\n**Step 4** Check.\nStep 5: done"
    assert cut(text, "numbered") == ["Plan first.", "1. Add.", "2) Multiply $2.\n3. x$.",
                                     "**Step 4** Check.", "Step 5: done"]


def test_sentence_cuts_outside_math_only():
    text = "First $a. B$ holds. Second! Third?  Last `x. Y` here.\n\n$$x = 1$$\n\nEnd"
    assert cut(text, "sentence") == ["First $a. B$ holds.", "Second!", "Third?",
                                     "Last `x. Y` here.", "$$x = 1$$", "End"]


def test_budget_merges_tiny_pieces_and_splits_huge_ones():
    text = "A. B. C. " + "word " * 60 + "end. Tail."
    steps = cut(text, "budget", min_chars=8, max_chars=50)
    assert steps[0] == "A. B. C."
    assert all(len(s) <= 50 for s in steps)
    assert steps[-1].endswith("Tail.")
    # A formula longer than max_chars is not cut inside.
    formula = "$" + " + ".join("x" for _ in range(40)) + "$"
    assert cut(f"Sum: {formula}", "budget", min_chars=1, max_chars=20)[1] == formula


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_reassembles_the_deltabench_traces(strategy, shared_data):
    for line in (shared_data / "deltabench" / "examples.jsonl").read_text().splitlines()[:3]:
        text = json.loads(line)["long_cot"]
        spans = segment(text, strategy)
        assert reassemble(steps_of(text, spans), gaps_of(text, spans)) == text
        assert all(not g.strip() for g in gaps_of(text, spans))  # only whitespace between steps


def test_think_blocks_are_cut_inside_and_the_answer_is_the_last_step():
    text = "<think>\nA. B.\n</think>\n\n The answer is 3. \n"
    spans, mode = segment_trace(text, "sentence")
    assert mode == "think" and steps_of(text, spans) == ["A.", "B.", "The answer is 3."]
    assert gaps_of(text, spans) == ["<think>\n", " ", "\n</think>\n\n ", " \n"]
    assert think_parts("<think>truncated, no end") == ((7, 24), None)  # runs to the end
    assert think_parts("no block") is None
    assert segment_trace("no block. Two.", "sentence") == ([(0, 9), (10, 14)], "text")
    with pytest.raises(SegmentationError, match="the <think> block is empty"):
        segment_trace("<think> </think> 3", "sentence")


def test_protected_regions():
    text = "a $x$ b $$y$$ c \\(z\\) d \\[w\\] e `v` f ```u``` g \\$ not math"
    assert [text[s:e] for s, e in protected_regions(text)] == [
        "$x$", "$$y$$", "\\(z\\)", "\\[w\\]", "`v`", "```u```"]


def test_caps_and_bad_options_give_specific_messages():
    with pytest.raises(SegmentationError, match=r"cuts into 3 steps; at most 2 .*max_steps"):
        segment("A. B. C.", "sentence", max_steps=2)
    with pytest.raises(SegmentationError, match=r"step 1 is 12 characters; at most 5 .*max_step_chars"):
        segment("Long step 1.", "sentence", max_step_chars=5)
    with pytest.raises(SegmentationError, match="unknown segmentation strategy 'paragraph'"):
        segment("A.", "paragraph")
    with pytest.raises(SegmentationError, match="takes no option"):
        segment("A.", "sentence", markers=["Wait"])
    with pytest.raises(SegmentationError, match="'max_steps' must be a positive integer"):
        segment("A.", "sentence", max_steps=0)
    with pytest.raises(SegmentationError, match="'markers' must be a non-empty list"):
        segment("A.", "markers", markers=[])
    with pytest.raises(SegmentationError, match="'min_chars' \\(9\\) is over 'max_chars' \\(3\\)"):
        segment("A.", "budget", min_chars=9, max_chars=3)
    with pytest.raises(SegmentationError, match="the text is empty"):
        segment(" \n", "blank_line")


def test_check_spans_refuses_overlaps_and_out_of_range():
    assert check_spans("abcdef", [[0, 2], [3, 6]]) == [(0, 2), (3, 6)]
    for bad in ([[0, 3], [2, 4]], [[0, 7]], [[2, 2]], [["0", 1]], []):
        with pytest.raises(SegmentationError):
            check_spans("abcdef", bad)


def test_a_models_answer_becomes_spans_only_when_it_matches_the_text():
    text = "Let me think. We add.\n\nWait, we should multiply. So 12."
    spans = parse_answer(text, 'Steps: ["Let me think", "Wait, we should", "So 12"]')
    assert steps_of(text, spans) == ["Let me think. We add.", "Wait, we should multiply.", "So 12."]
    with pytest.raises(SegmentationError, match="step 2 opening 'We subtract' is not in the text after step 1"):
        parse_answer(text, '["Let me think", "We subtract"]')
    with pytest.raises(SegmentationError, match="does not start the text"):
        parse_answer(text, '["We add", "Wait"]')
    with pytest.raises(SegmentationError, match="no JSON list"):
        parse_answer(text, "I would split it in three.")
    with pytest.raises(SegmentationError, match="step 3 opening 'Wait, we' is not in the text after step 2"):
        parse_answer(text, '["Let me think", "So 12", "Wait, we"]')  # out of order
    with pytest.raises(SegmentationError, match="at most 2"):
        parse_answer(text, '["Let me", "Wait", "So"]', max_steps=2)
