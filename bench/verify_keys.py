"""The simulated annotator's key strategy of ``bench_verify.py``, without Django: what it
presses at a first-error walk's current step, in rating mode and in verify mode, and the
whole walk's keys and server round trips (the bench drives the real views with the same
decisions and checks its counts against ``walk_counts``).

A step's truth is the exact checker's (True: right); the annotator rates a right step Great
(+1) and a wrong one Bad (-1). A machine verdict is -1/0/+1, or None where the source gives no
usable one. Keys (``annotate.models.projects.DEFAULT_KEYMAP``): a digit rates the step, ``c``
confirms the verdict shown on it, ``a`` accepts the verdicts from the first unrated step up to
and including the machine's first Bad (``annotate.services.verify``; the page shows them as a
preview first), Enter twice submits, or once when an accept rated the whole walk (the page
then opens the submit question itself).
"""

from __future__ import annotations

from dataclasses import dataclass

SUBMIT_KEYS = 2  # Enter, and Enter again to confirm the dialog
# An accept that rates the whole walk opens the submit question itself (label.js): Enter.
SUBMIT_KEYS_AFTER_ACCEPT = 1
SUBMIT_POSTS = 1  # finish
# annotate.selectors.verify_state.PREVIEW_STEPS: accept takes the current step and at most
# this many after it (tests/test_bench_verify.py checks the two agree).
PREVIEW_STEPS = 30


@dataclass(frozen=True)
class Action:
    kind: str  # "rate" (a digit), "confirm" (c), "accept" (a)
    position: int  # the step it rates; accept: the first step it takes
    rating: int  # what it stores there; accept: the first step's


def human_rating(right: bool) -> int:
    return 1 if right else -1


def walk_length(truth: list[bool]) -> int:
    """First-error mode: the steps up to and including the first wrong one."""
    for i, ok in enumerate(truth):
        if not ok:
            return i + 1
    return len(truth)


def accept_span(verdicts: list, start: int) -> list[int]:
    """The steps accept rates from ``start``: up to the machine's first Bad, or the end, stopping
    before a step with no usable verdict (``verify._plan`` in first-error mode)."""
    span = []
    for i in range(start, min(len(verdicts), start + 1 + PREVIEW_STEPS)):
        if verdicts[i] is None:
            break
        span.append(i)
        if verdicts[i] == -1:
            break
    return span


def rating_decision(truth: list[bool], start: int) -> list[Action]:
    return [Action("rate", start, human_rating(truth[start]))]


def verify_decision(verdicts: list, truth: list[bool], start: int) -> list[Action]:
    """Accept when every verdict from ``start`` up to the machine's first Bad agrees with the
    checker (one key); else confirm the agreeing steps and rate the first disagreeing one."""
    want = [human_rating(ok) for ok in truth]
    stop = start
    while stop < len(truth) and verdicts[stop] is not None and verdicts[stop] != -1:
        stop += 1
    reach = list(range(start, min(stop + 1, len(truth))))  # through the machine's first Bad
    if all(verdicts[i] == want[i] for i in reach):
        return [Action("accept", start, want[start])]
    actions = []
    for i in reach:
        if verdicts[i] == want[i]:
            actions.append(Action("confirm", i, want[i]))
            continue
        actions.append(Action("rate", i, want[i]))
        break
    return actions


def walk_counts(truth: list[bool], verdicts: list | None) -> dict:
    """Keys and POSTs of a whole walk (verdicts None: rating mode), with the stored labels."""
    end = walk_length(truth)
    stored: dict[int, int] = {}
    keys = posts = 0
    i = 0
    last = None
    while i < end:
        if verdicts is None:
            actions = rating_decision(truth, i)
        else:
            actions = verify_decision(verdicts, truth, i)
        for action in actions:
            keys += 1
            posts += 1
            if action.kind == "accept":
                for j in accept_span(verdicts, i):
                    stored[j] = verdicts[j]
            else:
                stored[action.position] = action.rating
            last = action.kind
        i = _next_unrated(stored, end)
    return {"keys": keys + submit_keys(last), "posts": posts + SUBMIT_POSTS, "stored": stored}


def submit_keys(last_action: str | None) -> int:
    """The keys that submit a walk whose last action was ``last_action``."""
    return SUBMIT_KEYS_AFTER_ACCEPT if last_action == "accept" else SUBMIT_KEYS


def _next_unrated(stored: dict[int, int], end: int) -> int:
    """Where the first-error walk stands: the first unrated step, or past a Bad one."""
    for i in range(end):
        if i not in stored:
            return i
        if stored[i] == -1:
            return end
    return end
