"""Math-Shepherd style: steps tagged ``ки``, with Monte Carlo hard / soft step labels.

A line is a problem with ``outputs`` (or is itself one output). Each output is a
solution; ``step_h_label`` / ``step_s_label`` become PreAnnotations of kind
``mc_hard`` / ``mc_soft`` whose source is the file name. They are machine labels
and never become human ratings. ``label`` is the final answer's correctness.
"""

from __future__ import annotations

from collections.abc import Iterable

from annotate.models import PreAnnotation

from .common import (
    MAX_ANSWER_CHARS,
    MAX_SOLUTION_CHARS,
    MAX_STATEMENT_CHARS,
    check_steps,
    get_path,
    need_bool,
    need_list,
    need_str,
    reduce_answer,
)
from .plan import PreAnnotationSpec, RowPlan
from .rows import ImportReport, RowError, jsonl_rows, run_plans

TAG = "ки"
LABEL_KINDS = (("step_h_label", PreAnnotation.Kind.MC_HARD), ("step_s_label", PreAnnotation.Kind.MC_SOFT),
               ("step_labels", PreAnnotation.Kind.IMPORTED))


def split_tagged(text: str) -> list[str]:
    return [part.strip() for part in text.split(TAG) if part.strip()]


def import_math_shepherd(project, lines: Iterable[str], *, source_name: str,
                         progress=None) -> ImportReport:
    return run_plans(jsonl_rows(lines), planner(source_name), project=project,
                     source_name=source_name, fmt="math_shepherd", progress=progress)


def planner(source_name: str):
    return lambda record: plan_problem_outputs(record, source_name)


def plan_problem_outputs(record: dict, source_name: str) -> RowPlan:
    statement = record.get("question", record.get("input"))
    if statement is None:
        raise RowError("missing field 'question'")
    statement = need_str(statement, "question", max_len=MAX_STATEMENT_CHARS)
    truth = record.get("ground_truth")
    truth = str(truth) if isinstance(truth, (int, float)) and not isinstance(truth, bool) else truth
    truth = need_str(truth, "ground_truth", max_len=MAX_ANSWER_CHARS, empty_ok=True, null_ok=True)
    truth, raw = reduce_answer(truth or "")
    reference = need_str(record.get("answer"), "answer", max_len=MAX_STATEMENT_CHARS, empty_ok=True,
                         null_ok=True)
    outputs = record["outputs"] if "outputs" in record else [record]
    outputs = need_list(outputs, "outputs", max_len=1000)
    checked = [_check_output(out, f"outputs[{k}]") for k, out in enumerate(outputs)]
    idx = record.get("idx")
    plan = RowPlan()
    problem = plan.problem(
        statement=statement, ground_truth_answer=truth, reference_solution=reference or "",
        external_id=str(idx) if idx is not None else "", ground_truth_raw=raw)
    for k, (steps, labels, final, correct) in enumerate(checked):
        chain = plan.path(problem, steps)
        plan.solution(problem, chain[-1], final_answer=final if final is not None else "",
                      is_correct=correct, metadata={"import": source_name, "output": k})
        # A step shared by several outputs keeps its first label (the writer keeps the first).
        for kind, values in labels.items():
            plan.pre_annotations += [
                PreAnnotationSpec(node=node, kind=kind, source=source_name, value=value,
                                  provenance={"file": source_name, "output": k})
                for node, value in zip(chain, values) if value is not None]
    return plan


def _check_output(out, name: str):
    if not isinstance(out, dict):
        raise RowError(f"'{name}' must be an object")
    text = need_str(get_path(out, "response", None), f"{name}.response", max_len=MAX_SOLUTION_CHARS)
    steps = check_steps(split_tagged(text), f"{name}.response steps")
    labels = {}
    for key, kind in LABEL_KINDS:
        values = out.get(key)
        if values is None:
            continue
        need_list(values, f"{name}.{key}")
        if len(values) != len(steps):
            raise RowError(f"'{name}.{key}' has {len(values)} labels for {len(steps)} steps")
        labels[kind] = [_label_value(v, f"{name}.{key}[{i}]") for i, v in enumerate(values)]
    # "[invalid]" marks an answer the labeler could not parse: no answer, correctness unknown.
    final = _unmarked(out.get("response_answer"))
    final = need_str(final, f"{name}.response_answer", max_len=MAX_ANSWER_CHARS, empty_ok=True,
                     null_ok=True)
    correct = need_bool(_unmarked(out.get("label")), f"{name}.label", null_ok=True)
    return steps, labels, final, correct


def _unmarked(value):
    """None for a marker such as "[invalid]", else the value."""
    if isinstance(value, str) and value.startswith("[") and value.endswith("]"):
        return None
    return value


def _label_value(value, name: str) -> float | None:
    """A label in [0, 1]; None (no label) for null or a marker such as "[invalid]"."""
    if _unmarked(value) is None:
        return None
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if value in ("+", "-"):
        return 1.0 if value == "+" else 0.0
    if isinstance(value, (int, float)) and 0 <= value <= 1:
        return float(value)
    raise RowError(f"'{name}' is {value!r}; expected true/false, '+'/'-' or a number in [0, 1]")
