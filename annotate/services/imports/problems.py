"""Plain problems, from JSONL or CSV, with a configurable field map.

The field map names, for each Stepwise field, the source column: for example
``{"statement": "question", "answer": "answer"}`` for MATH500. An answer that is a
answer written in a convention (``\\boxed{}``, GSM8K ``#### 18``, "The answer is", ``# Answer``)
is reduced to its final answer, the raw text kept in ``metadata.ground_truth_raw``; a long
one is a worked solution and also becomes the reference solution. Other columns go to metadata.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from .common import (
    MAX_ANSWER_CHARS,
    MAX_ID_CHARS,
    MAX_STATEMENT_CHARS,
    need_str,
    reduce_answer,
)
from .limits import Budget
from .lines import iter_lines
from .plan import RowPlan
from .rows import ImportReport, RowError, jsonl_rows, run_plans

#: Stepwise field -> source keys tried in order when the field map does not name one.
DEFAULT_FIELDS = {
    "statement": ("problem", "question", "statement"),
    "answer": ("ground_truth_answer", "answer", "ground_truth"),
    "solution": ("reference_solution", "ground_truth_solution", "solution"),
    "subject": ("subject", "type"),
    "level": ("level",),
    "external_id": ("unique_id", "external_id", "id", "idx"),
}
FIELDS = tuple(DEFAULT_FIELDS)


def check_field_map(field_map: dict | None) -> dict:
    field_map = dict(field_map or {})
    unknown = set(field_map) - set(FIELDS)
    if unknown:
        raise ValueError(f"Unknown field(s) {', '.join(sorted(unknown))}; "
                         f"mappable fields are {', '.join(FIELDS)}.")
    return field_map


def import_problems(project, lines: Iterable[str], *, source_name: str, field_map: dict | None = None,
                    progress=None) -> ImportReport:
    """Problems JSONL: one object per line."""
    return run_plans(jsonl_rows(lines), planner(source_name, field_map=field_map),
                     project=project, source_name=source_name, fmt="problems", progress=progress)


def planner(source_name: str, *, field_map: dict | None = None):
    field_map = check_field_map(field_map)
    return lambda record: plan_problem(record, field_map)


def import_problems_csv(project, lines: Iterable[str], *, source_name: str,
                        field_map: dict | None = None, progress=None) -> ImportReport:
    """Problems CSV with a header row; line numbers are the file's (quoted newlines allowed)."""
    return run_plans(csv_rows(lines), planner(source_name, field_map=field_map),
                     project=project, source_name=source_name, fmt="problems_csv", progress=progress)


def csv_file_rows(fh: BinaryIO, budget: Budget) -> Iterator[tuple[int, object]]:
    """The rows of a CSV file read in bounded chunks: a line that is not UTF-8 or too long
    rejects the row it belongs to, and the rows after it are read."""
    bad: dict[int, str] = {}

    def lines() -> Iterator[str]:
        for line_no, line in iter_lines(fh, budget, skip_blank=False):
            if isinstance(line, RowError):
                bad[line_no] = str(line)
                yield "\n"
                continue
            if line_no == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8):]
            try:
                yield line.decode("utf-8") + "\n"
            except UnicodeDecodeError as exc:
                bad[line_no] = f"not UTF-8 ({exc.reason} at byte {exc.start})"
                yield line.decode("utf-8", "replace") + "\n"

    return csv_rows(lines(), bad=bad)


def csv_rows(lines: Iterable[str], bad: dict[int, str] | None = None) -> Iterator[tuple[int, object]]:
    """(first line of the row, the row as a dict or a RowError); ``bad`` maps the lines the
    reader could not decode to why, filled as it reads, and rejects the rows holding them."""
    csv.field_size_limit(MAX_STATEMENT_CHARS * 10)
    bad = bad if bad is not None else {}
    reader = csv.reader(iter(lines))
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        yield 1, RowError(f"malformed CSV header: {exc}")
        return
    if bad:
        yield 1, RowError(f"unreadable CSV header: {bad[min(bad)]}")
        return
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # The reader starts afresh on the next line: one malformed row rejects one row.
            yield start, RowError(f"malformed CSV: {exc}")
            if reader.line_num < start:
                return
            start = reader.line_num + 1
            continue
        broken = [line for line in range(start, reader.line_num + 1) if line in bad]
        if broken:
            yield start, RowError(bad[broken[0]])
        elif any(cell.strip() for cell in row):
            if len(row) != len(header):
                yield start, RowError(f"{len(row)} columns; the header has {len(header)}")
            else:
                yield start, dict(zip(header, row))
        start = reader.line_num + 1


def _pick(record: dict, field: str, field_map: dict):
    if field in field_map:
        key = field_map[field]
        if field == "statement" and key not in record:
            raise RowError(f"missing field '{key}' (mapped to {field})")
        return key, record.get(key)
    for key in DEFAULT_FIELDS[field]:
        if key in record:
            return key, record[key]
    if field == "statement":
        raise RowError(f"missing the statement: none of {', '.join(DEFAULT_FIELDS['statement'])} "
                       "is present; map one with statement=<column>")
    return None, None


def plan_problem(record: dict, field_map: dict) -> RowPlan:
    used = set()
    values = {}
    for field in FIELDS:
        key, value = _pick(record, field, field_map)
        if key is not None:
            used.add(key)
        values[field] = value
    statement = need_str(values["statement"], "statement", max_len=MAX_STATEMENT_CHARS)
    answer = values["answer"]
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        answer = str(answer)
    answer = need_str(answer, "answer", max_len=MAX_STATEMENT_CHARS, empty_ok=True, null_ok=True) or ""
    solution = need_str(values["solution"], "solution", max_len=MAX_STATEMENT_CHARS, empty_ok=True,
                        null_ok=True) or ""
    answer, raw = reduce_answer(answer)
    if raw is not None and len(raw) > 100:
        # A worked solution in the answer column (MATH500, GSM8K): keep it as the reference.
        solution = solution or raw
    if len(answer) > MAX_ANSWER_CHARS:
        raise RowError(f"'answer' is {len(answer)} characters; the limit is {MAX_ANSWER_CHARS}")
    external_id = values["external_id"]
    if external_id is not None and not isinstance(external_id, (str, int)):
        raise RowError(f"'external_id' must be a string or an integer, got {type(external_id).__name__}")
    external_id = str(external_id) if external_id is not None else ""
    if len(external_id) > MAX_ID_CHARS:
        raise RowError(f"'external_id' is {len(external_id)} characters; the limit is {MAX_ID_CHARS}")
    subject = need_str(values["subject"], "subject", max_len=100, empty_ok=True, null_ok=True) or ""
    metadata = {k: v for k, v in record.items() if k not in used}
    plan = RowPlan()
    plan.problem(statement=statement, ground_truth_answer=answer, reference_solution=solution,
                 external_id=external_id, subject=subject, level=_level(values["level"]),
                 metadata=metadata, ground_truth_raw=raw)
    return plan


def _level(value) -> int | None:
    """MATH levels come as 3 or "Level 3"."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1000:
        return value
    match = re.fullmatch(r"\s*(?:level\s*)?(\d{1,3})\s*", str(value), re.IGNORECASE)
    if not match:
        raise RowError(f"'level' is {value!r}; expected a number like 3 or 'Level 3'")
    return int(match.group(1))
