"""Cutting a long text (a chain of thought) into steps: ``[start, end)`` spans into the text.

Pure functions, no database. A strategy returns spans that are sorted, non-empty and
non-overlapping; what lies between them (the gaps: blank lines, the whitespace before a
marker, a ``<think>`` tag) is not part of any step, so ``reassemble(text, spans)`` (the
steps and the gaps in order) gives the text back byte for byte and a trace keeps the text
and its spans, never only the steps.

Strategies (``segment(text, strategy, **options)``):

- ``blank_line``: paragraphs separated by blank lines. Options ``separator`` (a literal
  string, e.g. ``"\\n\\n"``, instead of "one or more blank lines"), ``trim`` (default true:
  whitespace at a paragraph's ends goes to the gaps).
- ``numbered``: a new step at each line that starts "Step N", "N." or "N)" (optionally bold).
- ``markers``: a new step where a discourse marker starts a sentence or a line; ``markers``
  (default ``DEFAULT_MARKERS``) is configurable.
- ``sentence``: a new step after ., ! or ? followed by whitespace, and at blank lines.
- ``budget``: a base strategy's pieces (``base``, default ``sentence``) merged while a piece
  is under ``min_chars`` and split at whitespace past ``max_chars``.

LaTeX (``$...$``, ``$$...$$``, ``\\(...\\)``, ``\\[...\\]``) and code (fenced and inline) are
never cut: a separator or marker inside them does not split (``protect``, default true).
``segment_trace`` cuts only the inside of a ``<think>`` block and makes the answer after it
one more step. Caps as in Potato's: ``max_steps`` and ``max_step_chars`` refuse a cut with a
:class:`SegmentationError` naming the cap. Model-based segmentation lives in
``generation.segmenting`` (it calls a generation backend) and returns spans the same way.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable

STRATEGIES = ("blank_line", "numbered", "markers", "sentence", "budget")
DEFAULT_MARKERS = ("Wait", "Alternatively", "Let me check", "Let me verify", "Hmm", "But wait",
                   "On second thought", "Actually")
#: The most steps and characters per step a cut may give unless the options say fewer.
MAX_STEPS = 2_000
MAX_STEP_CHARS = 100_000

_PROTECTED = re.compile(
    r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)"  # fenced code (an unclosed fence runs to the end)
    r"|(?<!\\)\$\$.*?(?:\$\$|\Z)"  # display math
    r"|\\\[.*?(?:\\\]|\Z)|\\\(.*?(?:\\\)|\Z)"  # \[...\] and \(...\)
    r"|`[^`\n]+`"  # inline code
    r"|(?<![\\$])\$(?!\$)(?:[^$\\]|\\.)+?(?<!\\)\$",  # inline math, closed on the same text
    re.S)
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")
_NUMBERED = re.compile(r"^[ \t]*(?:\*\*|#+[ \t]*)?(?:Step[ \t]+\d+|\d+[.)](?=\s))", re.M | re.I)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
_WHITESPACE = re.compile(r"\s+")


class SegmentationError(ValueError):
    """A text that cannot be cut as asked (bad options, a cap exceeded): the reason."""


Spans = list[tuple[int, int]]


def segment(text: str, strategy: str, **options) -> Spans:
    """The spans of ``text`` cut by ``strategy`` (see the module's docstring)."""
    if not isinstance(text, str) or not text.strip():
        raise SegmentationError("the text is empty; there is nothing to cut into steps")
    if strategy not in STRATEGIES:
        raise SegmentationError(f"unknown segmentation strategy '{strategy}'; expected one of "
                                f"{', '.join(STRATEGIES)} (or 'llm' through a generation model)")
    options = dict(options)
    max_steps = _positive(options.pop("max_steps", MAX_STEPS), "max_steps")
    max_step_chars = _positive(options.pop("max_step_chars", MAX_STEP_CHARS), "max_step_chars")
    protect = bool(options.pop("protect", True))
    guard = _guard(text) if protect else (lambda p: True)
    spans = _CUTTERS[strategy](text, guard, options)
    if options:
        raise SegmentationError(f"strategy '{strategy}' takes no option(s) "
                                f"{', '.join(sorted(options))}")
    return check_caps(spans, max_steps=max_steps, max_step_chars=max_step_chars)


def think_parts(text: str) -> tuple[tuple[int, int], tuple[int, int] | None] | None:
    """Where a ``<think>...</think>`` text's reasoning lies, and its answer after the tag
    (trimmed; None when there is none); None for a text without a ``<think>`` block. An
    unclosed block runs to the end."""
    open_at = text.find("<think>")
    if open_at < 0:
        return None
    start = open_at + len("<think>")
    close_at = text.find("</think>", start)
    end = len(text) if close_at < 0 else close_at
    after = len(text) if close_at < 0 else close_at + len("</think>")
    tail = text[after:]
    answer = None
    if tail.strip():
        answer = (after + len(tail) - len(tail.lstrip()), after + len(tail.rstrip()))
    return (start, end), answer


def segment_trace(text: str, strategy: str, **options) -> tuple[Spans, str]:
    """Spans of a trace and its mode: in a ``<think>`` text (mode ``think``) the reasoning is
    cut by the strategy and the answer after ``</think>`` is one more step; any other text
    (mode ``text``) is cut whole."""
    parts = think_parts(text)
    if parts is None:
        return segment(text, strategy, **options), "text"
    (start, end), answer = parts
    if not text[start:end].strip():
        raise SegmentationError("the <think> block is empty")
    spans = [(s + start, e + start) for s, e in segment(text[start:end], strategy, **options)]
    if answer is not None:
        spans.append(answer)
    return spans, "think"


def check_caps(spans: Spans, *, max_steps: int = MAX_STEPS,
               max_step_chars: int = MAX_STEP_CHARS) -> Spans:
    if not spans:
        raise SegmentationError("the text has no step (only whitespace between separators)")
    if len(spans) > max_steps:
        raise SegmentationError(f"the text cuts into {len(spans)} steps; at most {max_steps} are "
                                f"allowed (max_steps)")
    for k, (start, end) in enumerate(spans):
        if end - start > max_step_chars:
            raise SegmentationError(f"step {k + 1} is {end - start} characters; at most "
                                    f"{max_step_chars} are allowed (max_step_chars)")
    return spans


def check_spans(text: str, spans) -> Spans:
    """``spans`` as a list of (start, end) pairs, or a SegmentationError saying what is wrong."""
    if not isinstance(spans, list) or not spans:
        raise SegmentationError("'spans' must be a non-empty list of [start, end] pairs")
    out: Spans = []
    previous = 0
    for k, pair in enumerate(spans):
        if (not isinstance(pair, (list, tuple)) or len(pair) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair)):
            raise SegmentationError(f"span {k} is {pair!r}; expected [start, end] integers")
        start, end = pair
        if not previous <= start < end <= len(text):
            raise SegmentationError(
                f"span {k} [{start}, {end}) is empty, out of order or past the text's end "
                f"({len(text)} characters; spans must be increasing and not overlap)")
        out.append((start, end))
        previous = end
    return out


def steps_of(text: str, spans: Spans) -> list[str]:
    return [text[s:e] for s, e in spans]


def gaps_of(text: str, spans: Spans) -> list[str]:
    """The text around the steps: before the first, between each two, after the last."""
    bounds = [0, *[v for span in spans for v in span], len(text)]
    return [text[bounds[i]:bounds[i + 1]] for i in range(0, len(bounds), 2)]


def reassemble(steps: list[str], gaps: list[str]) -> str:
    """The text from its steps and gaps (``len(gaps) == len(steps) + 1``)."""
    if len(gaps) != len(steps) + 1:
        raise SegmentationError(f"{len(steps)} steps need {len(steps) + 1} gaps, got {len(gaps)}")
    return "".join(g + s for g, s in zip(gaps, steps)) + gaps[-1]


# --- where a cut may fall --------------------------------------------------------

def protected_regions(text: str) -> list[tuple[int, int]]:
    """LaTeX and code regions of ``text``, in order, that no cut may fall inside."""
    return [m.span() for m in _PROTECTED.finditer(text)]


def _guard(text: str) -> Callable[[int], bool]:
    regions = protected_regions(text)
    starts = [s for s, _ in regions]

    def allowed(position: int) -> bool:
        k = bisect_right(starts, position - 1) - 1  # the last region starting before position
        return k < 0 or not regions[k][0] < position < regions[k][1]
    return allowed


def _pieces(text: str, separators: list[tuple[int, int]], trim: bool = True) -> Spans:
    """The spans between separators (start, end); with ``trim``, whitespace at a piece's ends
    goes to the gaps; pieces of only whitespace are dropped."""
    spans = []
    start = 0
    for sep_start, sep_end in [*separators, (len(text), len(text))]:
        s, e = start, sep_start
        if trim:
            while s < e and text[s].isspace():
                s += 1
            while e > s and text[e - 1].isspace():
                e -= 1
        if e > s and text[s:e].strip():
            spans.append((s, e))
        start = sep_end
    return spans


# --- strategies -----------------------------------------------------------------

def _blank_line(text: str, guard, options: dict) -> Spans:
    separator = options.pop("separator", None)
    trim = bool(options.pop("trim", True))
    if separator is not None:
        if not isinstance(separator, str) or not separator:
            raise SegmentationError("'separator' must be a non-empty string")
        pattern = re.compile(re.escape(separator))
    else:
        pattern = _BLANK_LINES
    seps = [m.span() for m in pattern.finditer(text) if guard(m.start()) and guard(m.end())]
    return _pieces(text, seps, trim)


def _at_starts(text: str, starts: list[int]) -> Spans:
    return _pieces(text, [(p, p) for p in sorted(set(starts)) if p > 0])


def _numbered(text: str, guard, options: dict) -> Spans:
    return _at_starts(text, [m.start() for m in _NUMBERED.finditer(text) if guard(m.start())])


def _markers(text: str, guard, options: dict) -> Spans:
    markers = options.pop("markers", DEFAULT_MARKERS)
    if (not isinstance(markers, (list, tuple)) or not markers
            or not all(isinstance(m, str) and m.strip() for m in markers)):
        raise SegmentationError("'markers' must be a non-empty list of non-empty strings")
    words = "|".join(re.escape(m.strip()) for m in sorted(markers, key=len, reverse=True))
    # A marker starts the text, a line, or a sentence (after . ! ? and whitespace).
    pattern = re.compile(rf"(?:^|(?<=\n)|(?<=[.!?:])[ \t]+|(?<=[.!?:][\"')])[ \t]+)[ \t]*"
                         rf"(?:\*\*)?(?:{words})(?![A-Za-z])")
    starts = []
    for m in pattern.finditer(text):
        p = m.start()
        while p < len(text) and text[p] in " \t":
            p += 1
        if guard(p):
            starts.append(p)
    return _at_starts(text, starts)


def _sentence(text: str, guard, options: dict) -> Spans:
    """After . ! ? and whitespace, and at blank lines (a paragraph ending in a formula)."""
    seps = sorted([m.span() for m in _SENTENCE_END.finditer(text) if guard(m.start())]
                  + [m.span() for m in _BLANK_LINES.finditer(text)
                     if guard(m.start()) and guard(m.end())])
    merged: Spans = []
    for start, end in seps:  # overlapping separators (".\n\n") are one
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return _pieces(text, merged)


def _budget(text: str, guard, options: dict) -> Spans:
    base = options.pop("base", "sentence")
    min_chars = _positive(options.pop("min_chars", 200), "min_chars")
    max_chars = _positive(options.pop("max_chars", 2000), "max_chars")
    if min_chars > max_chars:
        raise SegmentationError(f"'min_chars' ({min_chars}) is over 'max_chars' ({max_chars})")
    if base not in _CUTTERS or base == "budget":
        raise SegmentationError(f"'base' must be one of {', '.join(STRATEGIES[:-1])}")
    pieces = _CUTTERS[base](text, guard, {})
    merged: Spans = []
    for s, e in pieces:  # a piece under min_chars takes in the next one
        if merged and merged[-1][1] - merged[-1][0] < min_chars and e - merged[-1][0] <= max_chars:
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    out: Spans = []
    for s, e in merged:
        out.extend(_split_long(text, s, e, max_chars, guard))
    return out


def _split_long(text: str, s: int, e: int, max_chars: int, guard) -> Spans:
    """[s, e) in pieces of at most ``max_chars`` cut at the last allowed whitespace; a piece
    with no such whitespace (one long formula) stays whole."""
    out = []
    while e - s > max_chars:
        cut = None
        for m in _WHITESPACE.finditer(text, s, s + max_chars + 1):
            if m.start() > s and guard(m.start()) and guard(m.end()):
                cut = m
        if cut is None:
            break
        out.append((s, cut.start()))
        s = cut.end()
    out.append((s, e))
    return out


def _positive(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SegmentationError(f"'{name}' must be a positive integer, got {value!r}")
    return value


_CUTTERS = {"blank_line": _blank_line, "numbered": _numbered, "markers": _markers,
            "sentence": _sentence, "budget": _budget}
