"""Machine labels made elsewhere (an offline batch job, an LLM judge, another tool), per step,
keyed to solutions already in the project. The format is in docs/labels.md.

One row per solution: ``solution`` (the solution's external id; or ``solution_id``, the
Stepwise id; or AgentProcessBench's ``data_source``/``query_index``/``sample_index``, which
make the external id ``data_source:query_index:sample_index``), ``step_labels`` {step key:
-1, 0, 1 or null (a judge's answer that could not be parsed)}, optional ``step_reasons``
{step key: text} (AgentProcessBench: ``explanations.steps``). Step keys are positions
(0 for the first step) or, with ``step_key="message_index"``, the message indexes of an
imported agent trajectory's assistant turns (``Solution.trajectory["steps"]``).

Each row is all-or-nothing and writes one PreAnnotation per labeled step under
``(kind, source)``, scoped to the row's solution (a step shared by two solutions may be
labeled differently in each); importing a source again replaces its labels of the same
steps in the same solutions.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice
from typing import Any

from django.db import transaction

from annotate.models import PreAnnotation, Solution
from annotate.selectors.paths import node_paths

from .common import MAX_ID_CHARS, MAX_STEP_CHARS
from .rows import ImportReport, RowError

KINDS = ("imported", "judge")
STEP_KEYS = ("position", "message_index")
RATINGS = (-1, 0, 1)
#: P(good) stored beside each discrete label (docs/labels.md).
VALUE_OF = {1: 1.0, 0: 0.5, -1: 0.0, None: 0.5}
CHUNK = 500


def check_label_options(options: dict) -> dict:
    source = options.get("source")
    if not isinstance(source, str) or not source.strip() or len(source) > 200:
        raise ValueError("Machine labels need a 'source' name (1-200 characters): the name "
                         "the labels are listed under, e.g. 'gpt-5.2-judge'.")
    kind = options.get("kind", "imported")
    if kind not in KINDS:
        raise ValueError(f"'kind' is {kind!r}; expected one of {', '.join(KINDS)}.")
    step_key = options.get("step_key", "position")
    if step_key not in STEP_KEYS:
        raise ValueError(f"'step_key' is {step_key!r}; expected one of {', '.join(STEP_KEYS)}.")
    version = options.get("version") or {}
    if not isinstance(version, dict):
        raise ValueError("'version' must be an object, e.g. {\"model\": ..., "
                         "\"prompt_version\": ..., \"sampling\": {...}}.")
    return {"source": source.strip(), "kind": kind, "step_key": step_key, "version": version}


def import_machine_labels(project, lines: Iterable[str], *, source_name: str = "labels.jsonl",
                          progress=None, **options) -> ImportReport:
    from .rows import jsonl_rows

    return import_label_records(project, jsonl_rows(lines), source_name=source_name,
                                progress=progress, **options)


def import_label_records(project, rows: Iterable[tuple[int, Any]], *, source_name: str,
                         progress=None, report: ImportReport | None = None, run=None,
                         **options) -> ImportReport:
    """``rows``: (line number, record or RowError), as ``sources.read_records`` yields them."""
    opts = check_label_options(options)
    report = report if report is not None else ImportReport(source_name, "machine_labels")
    iterator, done = iter(rows), 0
    while batch := list(islice(iterator, CHUNK)):
        _write_chunk(project, batch, opts, report, run)
        done += len(batch)
        if progress is not None:
            progress(done)
    return report


def _write_chunk(project, batch, opts, report: ImportReport, run) -> None:
    keyed, outcome = [], {}
    for line_no, record in batch:
        try:
            if isinstance(record, RowError):
                raise record
            keyed.append((line_no, record, _solution_key(record)))
        except RowError as exc:
            outcome[line_no] = str(exc)
    solutions = _solutions(project, [key for _, _, key in keyed],
                           with_trajectory=opts["step_key"] == "message_index")
    paths = node_paths([s.last_step_id for s in solutions.values() if s is not None])
    rows: dict[tuple, PreAnnotation] = {}  # a later row of the same step wins
    planned: dict[int, int] = {}
    for line_no, record, key in keyed:
        try:
            solution = solutions.get(key)
            if solution is None:
                raise RowError(f"no solution with {_describe(key)} in this project")
            labels = _plan(record, solution, paths[solution.last_step_id], opts, run)
        except RowError as exc:
            outcome[line_no] = str(exc)
            continue
        rows.update(((label.node_id, label.scope), label) for label in labels)
        planned[line_no] = len(labels)
    with transaction.atomic():
        PreAnnotation.objects.bulk_create(
            list(rows.values()), update_conflicts=True, unique_fields=["node", "kind", "source", "scope"],
            update_fields=["value", "rating", "reason", "provenance", "run"])
    for line_no in sorted(set(outcome) | set(planned)):
        if line_no in outcome:
            report.rejected.append((line_no, outcome[line_no]))
        else:
            report.created += 1
            report.objects["pre_annotations"] += planned[line_no]


def _solution_key(record: dict) -> tuple[str, Any]:
    if "solution_id" in record:
        value = record["solution_id"]
        if isinstance(value, bool) or not isinstance(value, int):
            raise RowError(f"'solution_id' is {value!r}; expected a Stepwise solution id")
        return ("pk", value)
    if "solution" in record:
        value = record["solution"]
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise RowError(f"'solution' is {value!r}; expected a solution's external id")
        return ("ext", str(value)[:MAX_ID_CHARS])
    parts = [record.get(k) for k in ("data_source", "query_index", "sample_index")]
    if all(p is not None for p in parts):
        return ("ext", ":".join(str(p) for p in parts)[:MAX_ID_CHARS])
    raise RowError("the row names no solution: give 'solution' (an external id), "
                   "'solution_id', or data_source, query_index and sample_index")


def _describe(key) -> str:
    return f"id {key[1]}" if key[0] == "pk" else f"external id {key[1]!r}"


def _solutions(project, keys, *, with_trajectory: bool) -> dict:
    """key -> Solution, or None where no solution (or more than one) has it. An agent run's
    messages are read only to map message indexes."""
    pks = {v for kind, v in keys if kind == "pk"}
    exts = {v for kind, v in keys if kind == "ext"}
    found: dict = {}
    fields = ("id", "external_id", "last_step_id") + (("trajectory",) if with_trajectory else ())
    qs = Solution.objects.filter(project=project).only(*fields)
    for s in qs.filter(id__in=pks):
        found[("pk", s.pk)] = s
    ambiguous = set()
    for s in qs.filter(external_id__in=exts):
        key = ("ext", s.external_id)
        if key in found:
            ambiguous.add(key)
        found[key] = s
    for key in ambiguous:
        found[key] = _Ambiguous(key)
    return found


class _Ambiguous:
    def __init__(self, key):
        self.key = key


def _plan(record: dict, solution, path: list[int], opts: dict, run) -> list[PreAnnotation]:
    if isinstance(solution, _Ambiguous):
        raise RowError(f"several solutions have {_describe(solution.key)}; name it by "
                       "'solution_id'")
    labels = record.get("step_labels")
    if isinstance(labels, list) and opts["step_key"] == "position":
        labels = {str(i): v for i, v in enumerate(labels)}
    if not isinstance(labels, dict):
        raise RowError("'step_labels' must be an object {step key: -1, 0, 1 or null}")
    reasons = record.get("step_reasons")
    if reasons is None:
        explanations = record.get("explanations")
        reasons = explanations.get("steps") if isinstance(explanations, dict) else None
    reasons = reasons or {}
    if not isinstance(reasons, dict):
        raise RowError("'step_reasons' must be an object {step key: text}")
    position_of = _positions(solution, len(path), opts["step_key"])
    out = []
    for key, rating in labels.items():
        position = position_of(str(key))
        if isinstance(rating, bool) or rating not in (*RATINGS, None):
            raise RowError(f"'step_labels[{key}]' is {rating!r}; expected -1, 0, 1 or null "
                           "(null: the judge's answer could not be parsed)")
        reason = reasons.get(str(key)) or ""
        if not isinstance(reason, str):
            raise RowError(f"the reason for step {key} is {type(reason).__name__}; expected text")
        provenance = {"version": opts["version"], "step_key": str(key), "file_position": position}
        if rating is None:
            provenance["unparsed"] = True
        out.append(PreAnnotation(
            node_id=path[position], kind=opts["kind"], source=opts["source"], scope=solution.pk,
            value=VALUE_OF[rating], rating=rating, reason=reason[:MAX_STEP_CHARS],
            provenance=provenance, run=run))
    return out


def _positions(solution, steps: int, step_key: str):
    if step_key == "position":
        def by_position(key: str) -> int:
            try:
                position = int(key)
            except ValueError:
                raise RowError(f"step key {key!r} is no position (0 is the first step)") from None
            if not 0 <= position < steps:
                raise RowError(f"step {key} is out of range: the solution has {steps} steps "
                               f"(positions 0-{steps - 1})")
            return position
        return by_position
    turns = message_steps(solution)
    if turns is None:
        raise RowError("the solution was not imported as an agent trajectory, so its steps "
                       "have no message indexes; use step_key 'position'")
    index_of = {str(m): k for k, m in enumerate(turns) if k < steps}

    def by_message(key: str) -> int:
        if key not in index_of:
            raise RowError(f"step key {key!r} is no assistant turn of the trajectory (its steps "
                           f"are messages {', '.join(str(m) for m in turns)})")
        return index_of[key]
    return by_message


def message_steps(solution) -> list[int] | None:
    """The message index of each step of an imported agent trajectory, or None."""
    trajectory = solution.trajectory or {}
    steps = trajectory.get("steps") if isinstance(trajectory, dict) else None
    return steps if isinstance(steps, list) else None
