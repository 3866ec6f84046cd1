"""DeltaBench records (``deltabench``): a long chain of thought with section labels.

Per record: the problem is ``question`` (answer ``answer``, reference ``solution``); the
solution's steps are the paragraphs of ``long_cot`` (split at each ``"\\n\\n"`` exactly, as
DeltaBench numbers them: paragraph k is step k, 1-based); its ``SolutionTrace`` keeps the
text, the paragraph spans and the record's other fields. Each of ``sections``
(``{start, end, description, content, ...}``, 1-based inclusive paragraph ranges) is a
``StepGroup`` (title = description; metadata: the section less its content where that is the
paragraphs, and the section's ``sections_labeled_info`` entry as ``labels``, explanation
and correction included, which a critique reads; with ``label_keys``, their order, which
the database's JSON does not keep).

The section labels are human labels of the group's steps: one submitted Assignment of
source ``import`` by the inactive user ``deltabench-human``:

- ``reasoning_correctness`` "1" marks a section with an error (as in DeltaBench's
  ``reason_error_section_numbers``); ``error_step`` is the (1-based, whole-trace) paragraph
  of the first error. Steps from ``error_step`` to the section's end are -1; steps before it
  were still correct and are rated as a correct section's. Without an error_step, every step
  of the section is -1.
- ``reasoning_correctness`` "0": +1 when ``reasoning_usefulness`` is "1", 0 when it is "0"
  (correct but not moving the solution forward, PRM800K's "Okay").
- An empty label ("", DeltaBench leaves the sections after the first error unlabeled) and
  paragraphs outside every section are left unrated.

A section with an error and an ``explanation`` gives that labeler a ``Critique`` of its
first wrong step (``error_step``, else the section's first), whose corrected step is the
``correction`` (a human sibling of that step, as PRM800K's own steps are). The group's
metadata keeps both as imported, for the export.
"""

from __future__ import annotations

from collections.abc import Iterable

from annotate.models import Assignment, StepNode
from annotate.segmentation import SegmentationError, segment
from annotate.services.critiques import MAX_CRITIQUE_CHARS

from .common import (
    MAX_ID_CHARS,
    MAX_SOLUTION_CHARS,
    MAX_STATEMENT_CHARS,
    MAX_STEPS,
    extract_answer,
    need_list,
    need_str,
)
from .plan import AssignmentSpec, GroupSpec, RowPlan, TraceSpec
from .rows import ImportReport, RowError, jsonl_rows, run_plans

LABELER = "deltabench-human"
SEGMENTATION = {"strategy": "blank_line", "separator": "\n\n", "trim": False, "protect": False}
#: The record's fields the import turns into rows (the others are kept with the trace).
OWN = ("long_cot", "sections", "sections_labeled_info")
FLAGS = ("0", "1", "")


def import_deltabench(project, lines: Iterable[str], *, source_name: str,
                      progress=None) -> ImportReport:
    return run_plans(jsonl_rows(lines), planner(source_name), project=project,
                     source_name=source_name, fmt="deltabench", progress=progress)


def planner(source_name: str):
    return plan_deltabench


def paragraph_spans(text: str) -> list[tuple[int, int]]:
    """Each paragraph of ``text`` (split at every "\\n\\n"); a RowError naming an empty one."""
    try:
        spans = segment(text, SEGMENTATION["strategy"], max_steps=MAX_STEPS,
                        **{k: v for k, v in SEGMENTATION.items() if k != "strategy"})
    except SegmentationError as exc:
        raise RowError(f"'long_cot': {exc}") from None
    expected = text.count("\n\n") + 1
    if len(spans) != expected:
        pieces = text.split("\n\n")
        empty = next(k for k, p in enumerate(pieces) if not p.strip()) + 1
        raise RowError(f"'long_cot' paragraph {empty} is empty (paragraphs are numbered at each "
                       f"blank line, so sections would not line up)")
    return spans


def plan_deltabench(record: dict) -> RowPlan:
    statement = need_str(record.get("question"), "question", max_len=MAX_STATEMENT_CHARS)
    truth = record.get("answer")
    if truth is not None and not isinstance(truth, str):
        if isinstance(truth, bool) or not isinstance(truth, (int, float)):
            raise RowError("'answer' must be a string or a number")
        truth = str(truth)
    text = need_str(record.get("long_cot"), "long_cot", max_len=MAX_SOLUTION_CHARS)
    spans = paragraph_spans(text)
    sections = _sections(record, len(spans))
    labels, extra = _labels(record, sections)
    reference = record.get("solution") if isinstance(record.get("solution"), str) else ""

    plan = RowPlan()
    problem = plan.problem(statement=statement, ground_truth_answer=truth or "",
                           reference_solution=reference,
                           external_id=str(record.get("id") or "")[:MAX_ID_CHARS],
                           subject=str(record.get("task_l2") or "")[:100])
    chain = plan.path(problem, [text[s:e] for s, e in spans])
    correct = record.get("final_correct")
    is_correct = bool(correct) if correct in (0, 1) and not isinstance(correct, float) else None
    solution = plan.solution(problem, chain[-1], final_answer=extract_answer(text) or "",
                             is_correct=is_correct, grade=is_correct is None,
                             external_id=str(record.get("id") or ""))
    plan.traces.append(TraceSpec(
        solution=solution, text=text, spans=spans, segmentation=dict(SEGMENTATION),
        metadata={"format": "deltabench", "keys": list(record),
                  "fields": {k: v for k, v in record.items() if k not in OWN},
                  "extra_labels": [{"keys": list(info), "labels": info} for info in extra]}))
    ratings: dict[int, int] = {}
    critiques: list[tuple[int, str, int | None]] = []
    for index, section in enumerate(sections):
        label = labels.get(index)
        plan.groups.append(GroupSpec(
            solution=solution, index=index, start=section["start"] - 1, end=section["end"],
            title=str(section.get("description") or "")[:500],
            metadata={"section": _kept(section, text, spans), "keys": list(section),
                      "labels": label, "label_keys": list(label or {})}))
        if label is not None:
            ratings.update(section_ratings(section, label))
            critique = section_critique(section, label)
            if critique is not None:
                position, explanation, correction = critique
                fixed = None if not correction else plan.child(
                    problem, chain[position - 1] if position else None, correction,
                    author=StepNode.Author.HUMAN)
                critiques.append((chain[position], explanation, fixed))
    if ratings:
        plan.assignments.append(AssignmentSpec(
            solution=solution, labeler=LABELER,
            fields={"status": Assignment.Status.SUBMITTED, "source": Assignment.Source.IMPORT},
            presentation=lambda node_id: [],
            ratings=[(chain[p], rating, None) for p, rating in sorted(ratings.items())],
            critiques=critiques,
            conflict_message=lambda _at: (
                f"{LABELER} already has an assignment on this trace; Stepwise keeps one per "
                f"labeler and solution")))
    return plan


def _kept(section: dict, text: str, spans: list) -> dict:
    """The section less its ``content`` where that is its paragraphs as in the text (the
    export rebuilds it); a content that differs (DeltaBench trims some) is kept as it is."""
    derived = text[spans[section["start"] - 1][0]:spans[section["end"] - 1][1]]
    return {k: v for k, v in section.items() if k != "content" or v != derived}


def section_ratings(section: dict, label: dict) -> dict[int, int]:
    """{step position (0-based): -1/0/+1} of a section's steps by its labels (see above)."""
    correctness = label.get("reasoning_correctness", "")
    if correctness == "":
        return {}
    usefulness = label.get("reasoning_usefulness", "")
    good = {"1": 1, "0": 0}.get(usefulness, 1)
    first, last = section["start"], section["end"]  # 1-based, inclusive
    if correctness == "0":
        return {p - 1: good for p in range(first, last + 1)}
    error = label.get("error_step") or ""
    start = int(error) if error else first
    return {p - 1: (good if p < start else -1) for p in range(first, last + 1)}


def section_critique(section: dict, label: dict) -> tuple[int, str, str] | None:
    """(step position (0-based), explanation, correction) of a section with an error and an
    explanation: a critique of its first wrong step, the correction its corrected step."""
    explanation = str(label.get("explanation") or "").strip()
    if label.get("reasoning_correctness") != "1" or not explanation:
        return None
    error = label.get("error_step") or ""
    position = (int(error) if error else section["start"]) - 1
    correction = str(label.get("correction") or "").strip()
    return (position, explanation[:MAX_CRITIQUE_CHARS],
            correction[:MAX_SOLUTION_CHARS])


def _sections(record: dict, paragraphs: int) -> list[dict]:
    sections = need_list(record.get("sections"), "sections", max_len=MAX_STEPS)
    previous = 0
    for k, section in enumerate(sections):
        name = f"sections[{k}]"
        if not isinstance(section, dict):
            raise RowError(f"'{name}' must be an object {{start, end, description, content}}")
        start, end = section.get("start"), section.get("end")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
            raise RowError(f"'{name}' needs integer 'start' and 'end' (1-based paragraphs)")
        if not previous < start <= end <= paragraphs:
            raise RowError(f"'{name}' covers paragraphs {start}-{end}; sections must be in order, "
                           f"not overlap and lie within the {paragraphs} paragraphs of 'long_cot'")
        if not isinstance(section.get("description", ""), str):
            raise RowError(f"'{name}.description' must be a string")
        previous = end
    return sections


def _labels(record: dict, sections: list[dict]) -> tuple[dict[int, dict], list]:
    """Each section's labels by section index, and the entries that name no section."""
    raw = record.get("sections_labeled_info", [])
    raw = need_list(raw, "sections_labeled_info", max_len=MAX_STEPS, empty_ok=True)
    labels: dict[int, dict] = {}
    extra = []
    for k, info in enumerate(raw):
        name = f"sections_labeled_info[{k}]"
        if not isinstance(info, dict):
            raise RowError(f"'{name}' must be an object")
        number = info.get("section_number")
        if isinstance(number, bool) or not isinstance(number, int):
            raise RowError(f"'{name}.section_number' must be an integer (1-based section)")
        for flag in ("reasoning_correctness", "reasoning_usefulness", "reflection", "strategy_shift"):
            if info.get(flag, "") not in FLAGS:
                raise RowError(f"'{name}.{flag}' is {info.get(flag)!r}; expected \"1\", \"0\" or \"\"")
        if not 1 <= number <= len(sections):
            if info.get("reasoning_correctness", "") != "":
                raise RowError(f"'{name}' labels section {number}; the record has "
                               f"{len(sections)} sections")
            extra.append(info)
            continue
        if number - 1 in labels:
            raise RowError(f"'{name}' labels section {number} a second time")
        error = info.get("error_step", "")
        if error not in ("", None):
            section = sections[number - 1]
            if not (isinstance(error, str) and error.strip().isdigit()) and not (
                    isinstance(error, int) and not isinstance(error, bool)):
                raise RowError(f"'{name}.error_step' is {error!r}; expected a paragraph number")
            if not section["start"] <= int(error) <= section["end"]:
                raise RowError(f"'{name}.error_step' {error} is outside section {number} "
                               f"(paragraphs {section['start']}-{section['end']})")
        labels[number - 1] = info
    return labels, extra
