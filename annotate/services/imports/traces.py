"""Long chains of thought (``trace``): one text per record, cut into steps by a strategy.

A record is a ``question`` and either a ``text`` (a ``<think>...</think>`` block, then the
answer; or a bare text) or a ``reasoning`` field (the chain of thought, with the answer in
``answer``). The reasoning is cut by the import's ``segmentation`` option
(``annotate.segmentation``; default blank lines); after a ``</think>`` the answer is one
more step. Each solution gets its ``SolutionTrace``: the text exactly as imported (the whole
``text`` with its tags, or the ``reasoning``), the steps' spans in it, the strategy, and the
record's other fields, so the ``trace`` export gives the source back byte for byte.
"""

from __future__ import annotations

from collections.abc import Iterable

from annotate.segmentation import STRATEGIES, SegmentationError, segment, segment_trace, think_parts

from .common import (
    MAX_ANSWER_CHARS,
    MAX_ID_CHARS,
    MAX_SOLUTION_CHARS,
    MAX_STATEMENT_CHARS,
    MAX_STEP_CHARS,
    extract_answer,
    need_str,
)
from .plan import RowPlan, TraceSpec
from .rows import ImportReport, RowError, jsonl_rows, run_plans

FIELDS = ("question", "text", "reasoning", "answer", "ground_truth", "id")
DEFAULT_SEGMENTATION = {"strategy": "blank_line"}


def check_segmentation(value) -> dict:
    """The ``segmentation`` option as {"strategy": name, **options}; a ValueError naming
    what is wrong (checked before any row is read)."""
    if value is None:
        return dict(DEFAULT_SEGMENTATION)
    if isinstance(value, str):
        value = {"strategy": value}
    if not isinstance(value, dict) or not isinstance(value.get("strategy"), str):
        raise ValueError("'segmentation' must be a strategy name or an object with a "
                         f"'strategy' (one of {', '.join(STRATEGIES)}) and its options")
    if value["strategy"] == "llm":
        raise ValueError("LLM segmentation runs through a generation model: import with another "
                         "strategy, then re-segment the traces with a model (docs/importing.md)")
    options = {k: v for k, v in value.items() if k != "strategy"}
    try:
        segment("A probe. Of the options.", value["strategy"], **options)
    except SegmentationError as exc:
        if not str(exc).startswith(("the text", "step ")):  # not a cap the probe hit
            raise ValueError(f"segmentation: {exc}") from None
    return dict(value)


def cut(text: str, segmentation: dict, *, think: bool = False) -> tuple[list[tuple[int, int]], str]:
    """Spans of ``text`` by ``segmentation`` (with ``think``, a ``<think>`` block's inside, then
    its answer) and the mode; a RowError when refused."""
    options = {k: v for k, v in segmentation.items() if k != "strategy"}
    try:
        if think:
            return segment_trace(text, segmentation["strategy"], **options)
        return segment(text, segmentation["strategy"], **options), "reasoning"
    except SegmentationError as exc:
        raise RowError(f"segmentation ({segmentation['strategy']}): {exc}") from None


def import_traces(project, lines: Iterable[str], *, source_name: str, field_map: dict | None = None,
                  segmentation=None, progress=None) -> ImportReport:
    return run_plans(jsonl_rows(lines), planner(source_name, field_map=field_map,
                                                segmentation=segmentation),
                     project=project, source_name=source_name, fmt="trace", progress=progress)


def planner(source_name: str, *, field_map: dict | None = None, segmentation=None):
    names = dict(field_map or {})
    unknown = set(names) - set(FIELDS)
    if unknown:
        raise ValueError(f"Unknown field(s) {', '.join(sorted(unknown))}; "
                         f"mappable fields are {', '.join(FIELDS)}.")
    names = {f: names.get(f, f) for f in FIELDS}
    seg = check_segmentation(segmentation)
    return lambda record: plan_trace(record, names, seg)


def plan_trace(record: dict, names: dict, segmentation: dict) -> RowPlan:
    def field(name):
        return record.get(names[name])

    statement = need_str(field("question"), names["question"], max_len=MAX_STATEMENT_CHARS)
    answer = need_str(field("answer"), names["answer"], max_len=MAX_ANSWER_CHARS, empty_ok=True,
                      null_ok=True) or ""
    if field("reasoning") is not None:
        mode = "reasoning"
        text = need_str(field("reasoning"), names["reasoning"], max_len=MAX_SOLUTION_CHARS)
        spans, _ = cut(text, segmentation)
    elif field("text") is not None:
        text = need_str(field("text"), names["text"], max_len=MAX_SOLUTION_CHARS)
        parts = think_parts(text)
        if parts is not None and not text[parts[0][0]:parts[0][1]].strip():
            raise RowError(f"the <think> block of '{names['text']}' is empty")
        spans, mode = cut(text, segmentation, think=True)
        if parts is not None and parts[1] is not None:
            answer = answer or text[parts[1][0]:parts[1][1]]
    else:
        raise RowError(f"the record has neither '{names['text']}' nor '{names['reasoning']}'")
    steps = [need_str(text[s:e], f"step {k + 1}", max_len=MAX_STEP_CHARS)
             for k, (s, e) in enumerate(spans)]
    truth = field("ground_truth")
    if truth is not None and not isinstance(truth, str):
        truth = str(truth) if isinstance(truth, (int, float)) and not isinstance(truth, bool) else None
        if truth is None:
            raise RowError(f"'{names['ground_truth']}' must be a string or a number")
    ident = field("id")

    plan = RowPlan()
    problem = plan.problem(statement=statement, ground_truth_answer=truth or "")
    chain = plan.path(problem, steps)
    final = extract_answer(answer) or extract_answer(steps[-1]) or answer.strip()
    solution = plan.solution(problem, chain[-1], final_answer=final, grade=True,
                             external_id="" if ident is None else str(ident)[:MAX_ID_CHARS])
    text_key = names["reasoning"] if mode == "reasoning" else names["text"]
    plan.traces.append(TraceSpec(
        solution=solution, text=text, spans=spans,
        segmentation={**segmentation, "mode": mode, "field": text_key},
        metadata={"format": "trace", "keys": list(record),
                  "fields": {k: v for k, v in record.items() if k != text_key}}))
    return plan
