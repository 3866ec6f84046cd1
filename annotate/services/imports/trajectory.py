"""Agent trajectories (OpenAI chat or Anthropic messages), with AgentProcessBench's labels.

Per row: the problem is the question (``question``, else the first user message); each
assistant turn is a step (its text and its tool calls, ``annotate.trajectory.step_text``),
one path in the step tree and one Solution; the rest of the record (every message, the
other fields) is kept in ``Solution.trajectory`` so the labeling page shows the user and
tool messages between the steps and the AgentProcessBench export gives the record back.
``step_labels`` ({assistant message index: -1/0/+1}) are human ratings: one submitted
Assignment of source ``import`` by the inactive user ``agentprocessbench-human``, one
StepRating per labeled turn (an unlabeled turn stays unrated). ``final_label`` is kept
with the trajectory.
"""

from __future__ import annotations

from collections.abc import Iterable

from annotate.models import Assignment
from annotate.trajectory import TrajectoryError, read_turns, shape_of, step_text

from .common import (
    MAX_ANSWER_CHARS,
    MAX_ID_CHARS,
    MAX_STATEMENT_CHARS,
    MAX_STEP_CHARS,
    MAX_STEPS,
    get_path,
    need_list,
    need_str,
)
from .plan import AssignmentSpec, RowPlan
from .rows import ImportReport, RowError, jsonl_rows, run_plans

#: The human labels of a file come from one (inactive) labeler.
LABELER = "agentprocessbench-human"
#: The fields read, each from the key of its name unless the field map names another.
FIELDS = ("messages", "question", "ground_truth", "answer_text", "step_labels", "final_label",
          "id")
MAX_MESSAGES = 10_000
RATINGS = (-1, 0, 1)


def import_trajectories(project, lines: Iterable[str], *, source_name: str,
                        field_map: dict | None = None, progress=None) -> ImportReport:
    return run_plans(jsonl_rows(lines), planner(source_name, field_map=field_map),
                     project=project, source_name=source_name, fmt="agent_trajectory",
                     progress=progress)


def planner(source_name: str, *, field_map: dict | None = None):
    names = dict(field_map or {})
    unknown = set(names) - set(FIELDS)
    if unknown:
        raise ValueError(f"Unknown field(s) {', '.join(sorted(unknown))}; "
                         f"mappable fields are {', '.join(FIELDS)}.")
    names = {f: names.get(f, f) for f in FIELDS}
    return lambda record: plan_trajectory(_renamed(record, names), source_name, names)


def _renamed(record, names: dict):
    """The record with its mapped keys under the field names (its key order kept)."""
    if not isinstance(record, dict) or all(k == v for k, v in names.items()):
        return record
    back = {v: k for k, v in names.items()}
    return {back.get(k, k): v for k, v in record.items()}


def plan_trajectory(record: dict, source_name: str, names: dict | None = None) -> RowPlan:
    messages = need_list(get_path(record, "messages"), "messages", max_len=MAX_MESSAGES)
    try:
        shape = shape_of(messages)
        turns = read_turns(messages, shape)
    except TrajectoryError as exc:
        raise RowError(str(exc)) from None
    steps = [t for t in turns if t.is_step]
    if not steps:
        raise RowError("the trajectory has no assistant turn, so it has no step to rate")
    if len(steps) > MAX_STEPS:
        raise RowError(f"the trajectory has {len(steps)} assistant turns; the limit is {MAX_STEPS}")
    texts = [need_str(step_text(t), f"messages[{t.index}] (as a step)", max_len=MAX_STEP_CHARS)
             for t in steps]
    statement = _question(record, turns)
    truth = _ground_truth(record.get("ground_truth"))
    answer = need_str(record.get("answer_text"), "answer_text", max_len=MAX_ANSWER_CHARS,
                      empty_ok=True, null_ok=True) or ""
    labels = _step_labels(record, turns) if "step_labels" in record else None
    final_label = record.get("final_label")
    if final_label is not None and (isinstance(final_label, bool) or final_label not in RATINGS):
        raise RowError(f"'final_label' is {final_label!r}; expected -1, 0, 1 or null")

    plan = RowPlan()
    problem = plan.problem(statement=statement, ground_truth_answer=truth)
    chain = plan.path(problem, texts)
    # The record less its labels, under its own keys (the export gives them back).
    names = {f: k for f, k in (names or {}).items() if k != f}
    kept = {
        "shape": shape, "keys": [names.get(k, k) for k in record], "steps": [t.index for t in steps],
        "messages": messages, "source": source_name, "names": names,
        "fields": {names.get(k, k): v for k, v in record.items()
                   if k not in ("messages", "step_labels", "final_label")},
    }
    if "final_label" in record:
        kept["final_label"] = final_label
    solution = plan.solution(problem, chain[-1], final_answer=answer,
                             external_id=_external_id(record), trajectory=kept)
    if labels is not None:
        position = {t.index: k for k, t in enumerate(steps)}
        plan.assignments.append(AssignmentSpec(
            solution=solution, labeler=LABELER,
            fields={"status": Assignment.Status.SUBMITTED, "source": Assignment.Source.IMPORT},
            presentation=lambda node_id: [],
            ratings=[(chain[position[i]], rating, None) for i, rating in sorted(labels.items())],
            conflict_message=lambda _at: (
                f"{LABELER} already has an assignment on this trajectory; Stepwise keeps one "
                f"per labeler and solution")))
    return plan


def _question(record: dict, turns) -> str:
    if record.get("question") is not None:
        return need_str(record["question"], "question", max_len=MAX_STATEMENT_CHARS)
    for t in turns:
        if t.role == "user" and t.text.strip():
            return need_str(t.text, f"messages[{t.index}].content", max_len=MAX_STATEMENT_CHARS)
    raise RowError("the trajectory has no 'question' and no user message with text to take it from")


def _ground_truth(value) -> str:
    """A string, a number, a list of accepted answers or ``{"target": [...]}`` (Search-R1),
    as the problem's answer: accepted answers joined by ' | '."""
    if value is None:
        return ""
    if isinstance(value, dict) and "target" in value:
        value = value["target"]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        value = " | ".join(value)
    if not isinstance(value, str):
        raise RowError("'ground_truth' must be a string, a number, a list of strings or "
                       "{\"target\": [strings]}")
    return need_str(value, "ground_truth", max_len=MAX_ANSWER_CHARS, empty_ok=True)


def _step_labels(record: dict, turns) -> dict[int, int]:
    """{message index: rating} of assistant turns; a key naming any other message is an error."""
    raw = record["step_labels"]
    if not isinstance(raw, dict):
        raise RowError("'step_labels' must be an object {assistant message index: -1, 0 or 1}")
    labels = {}
    for key, rating in raw.items():
        try:
            index = int(key)
        except ValueError:
            raise RowError(f"'step_labels' key {key!r} is no message index") from None
        if str(index) != key.strip() or not 0 <= index < len(turns):
            raise RowError(f"'step_labels' key {key!r} names no message (the trajectory has "
                           f"{len(turns)} messages, 0-{len(turns) - 1})")
        if not turns[index].is_step:
            raise RowError(f"'step_labels' key {key!r} is messages[{index}], a "
                           f"{turns[index].role} message; labels rate assistant turns")
        if isinstance(rating, bool) or rating not in RATINGS:
            raise RowError(f"'step_labels[{key}]' is {rating!r}; expected -1, 0 or 1")
        labels[index] = rating
    return labels


def _external_id(record: dict) -> str:
    """``data_source:query_index:sample_index`` (AgentProcessBench's key), else ``id``."""
    parts = [record.get(k) for k in ("data_source", "query_index", "sample_index")]
    if all(p is not None for p in parts):
        return ":".join(str(p) for p in parts)[:MAX_ID_CHARS]
    ident = record.get("id")
    return "" if ident is None else str(ident)[:MAX_ID_CHARS]
