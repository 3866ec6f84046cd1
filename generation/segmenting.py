"""LLM segmentation: a model through the generation backends says where each step starts.

The model is asked for the opening words of each step, in order, as a JSON list of strings
quoted exactly from the text (a few words each: cheap in tokens, and checkable). Each quote
must be found in the text after the previous one, the first at the text's start (after
whitespace); otherwise the answer is refused with the reason, never guessed at. A step runs
from its quote to the next step's (whitespace at its end goes to the gap), so the spans
reassemble the text exactly (``annotate.segmentation``), and the caps (``max_steps``,
``max_step_chars``) apply as to every strategy.
"""

from __future__ import annotations

import json

from annotate.segmentation import (
    MAX_STEP_CHARS,
    MAX_STEPS,
    SegmentationError,
    check_caps,
    think_parts,
)
from generation.backends import backend_for
from generation.config import GeneratorSettings

PROMPT_VERSION = "segment-v1"
SYSTEM = ("You split a long chain of thought into reasoning steps. A step is one coherent move: "
          "a computation, a check, a new idea, a conclusion.")
INSTRUCTION = ("Split the text below into steps. Answer with a JSON list of strings only: for "
               "each step in order, its first five to eight words copied exactly from the text "
               "(same characters, same spacing). The first entry starts the text.\n\n"
               "Text:\n{text}")


def messages_for(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM},
            {"role": "user", "content": INSTRUCTION.format(text=text)}]


def parse_answer(text: str, answer: str, *, max_steps: int = MAX_STEPS,
                 max_step_chars: int = MAX_STEP_CHARS) -> list[tuple[int, int]]:
    """The spans the model's ``answer`` names in ``text``; a SegmentationError saying why an
    answer that does not match the text is refused."""
    start, end = answer.find("["), answer.rfind("]")
    if start < 0 or end < start:
        raise SegmentationError("the model's answer holds no JSON list of step openings")
    try:
        quotes = json.loads(answer[start:end + 1])
    except ValueError as exc:
        raise SegmentationError(f"the model's list is no valid JSON: {exc}") from None
    if not isinstance(quotes, list) or not quotes:
        raise SegmentationError("the model's list of step openings is empty")
    starts = []
    position = 0
    for k, quote in enumerate(quotes):
        if not isinstance(quote, str) or not quote.strip():
            raise SegmentationError(f"the model's step {k + 1} is {quote!r}, not words of the text")
        quote = quote.strip()
        found = text.find(quote, position)
        if found < 0:
            where = "the text" if k == 0 else f"the text after step {k}"
            raise SegmentationError(f"the model's step {k + 1} opening {quote[:60]!r} is not in "
                                    f"{where}")
        if k == 0 and text[:found].strip():
            raise SegmentationError(f"the model's first step {quote[:60]!r} does not start the "
                                    f"text ({found} characters of it come before)")
        starts.append(found)
        position = found + len(quote)
    spans = []
    for k, s in enumerate(starts):
        e = starts[k + 1] if k + 1 < len(starts) else len(text)
        while e > s and text[e - 1].isspace():
            e -= 1
        spans.append((s, e))
    return check_caps(spans, max_steps=max_steps, max_step_chars=max_step_chars)


def segment_with_model(text: str, settings: GeneratorSettings, *, max_new_tokens: int = 2048,
                       max_steps: int = MAX_STEPS, max_step_chars: int = MAX_STEP_CHARS,
                       seed: int | None = 0) -> list[tuple[int, int]]:
    """Spans of ``text`` as the model at ``settings`` cuts it (greedy, one answer)."""
    backend = backend_for(settings)
    [[answer]] = backend.chat([messages_for(text)], n=1, max_new_tokens=max_new_tokens,
                              temperature=0.0, seed=seed)
    return parse_answer(text, answer.text, max_steps=max_steps, max_step_chars=max_step_chars)


def resegment_with_model(solution, settings: GeneratorSettings, *, run_id: int | None = None,
                         **options):
    """Re-cut ``solution``'s trace by the model (``annotate.services.resegment``)."""
    from annotate.models import SolutionTrace
    from annotate.services.resegment import ResegmentError, resegment

    trace = SolutionTrace.objects.filter(solution=solution).first()
    if trace is None:
        raise ResegmentError(f"solution {solution.pk} has no trace to re-cut")
    parts = think_parts(trace.text) if (trace.segmentation or {}).get("mode") == "think" else None
    try:
        if parts is None:
            spans = segment_with_model(trace.text, settings, **options)
        else:  # the block's inside by the model, then the answer after it, as on import
            (start, end), answer = parts
            spans = [(s + start, e + start) for s, e in
                     segment_with_model(trace.text[start:end], settings, **options)]
            spans += [answer] if answer is not None else []
    except SegmentationError as exc:
        raise ResegmentError(f"LLM segmentation refused: {exc}") from None
    return resegment(solution, spans=spans, segmentation={
        "strategy": "llm", "model": settings.model_name, "backend": settings.backend,
        "prompt_version": PROMPT_VERSION}, run_id=run_id)
