"""The row engine shared by every importer: parse, plan, write in batches, a report.

A row is all-or-nothing: its planner validates it without touching the database, and
the bulk writer (``bulk.py``, via ``batches.py``) writes a batch of plans in one transaction, redoing the
batch without any row a database check refuses. A batch is one commit, so a large file
neither holds one huge transaction nor pays a commit per row.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError

#: A JSONL line longer than this is rejected before parsing (a step is at most 100k chars).
MAX_LINE_CHARS = 20_000_000
#: Rows planned and written together: a PRM800K batch is some 10k-50k step rows.
BATCH_ROWS = 1000


class RowError(Exception):
    """A row that cannot be imported; the message is the reason shown in the report."""


@dataclass
class ImportReport:
    source_name: str
    fmt: str
    created: int = 0
    duplicates: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)
    duplicate_lines: list[int] = field(default_factory=list)
    objects: Counter = field(default_factory=Counter)  # table -> rows created

    @property
    def rows(self) -> int:
        return self.created + self.duplicates + len(self.rejected)

    def messages(self) -> list[str]:
        """Each rejection as 'file line N: reason'."""
        return [f"{self.source_name} line {line}: {reason}" for line, reason in self.rejected]

    def summary(self) -> str:
        made = ", ".join(f"{n} {k}" for k, n in sorted(self.objects.items())) or "nothing new"
        return (f"{self.source_name} ({self.fmt}): {self.created} rows created, "
                f"{self.duplicates} duplicates, {len(self.rejected)} rejected; created {made}")

    def to_dict(self) -> dict:
        return {
            "source_name": self.source_name, "format": self.fmt, "created": self.created,
            "duplicates": self.duplicates, "duplicate_lines": self.duplicate_lines[:1000],
            "rejected": [[line, reason] for line, reason in self.rejected[:1000]],
            "rejected_count": len(self.rejected), "objects": dict(self.objects),
        }


def jsonl_rows(lines: Iterable[str]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or a RowError) for each non-blank line."""
    for line_no, line in enumerate(lines, start=1):
        if isinstance(line, bytes):
            try:
                line = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield line_no, RowError(f"not UTF-8 ({exc.reason} at byte {exc.start})")
                continue
        if line_no == 1:
            line = line.lstrip("\ufeff")  # a UTF-8 byte-order mark
        if not line.strip():
            continue
        if len(line) > MAX_LINE_CHARS:
            yield line_no, RowError(f"line is {len(line)} characters; the limit is {MAX_LINE_CHARS}")
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield line_no, RowError(f"malformed JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            yield line_no, RowError(f"expected a JSON object, got {type(obj).__name__}")
            continue
        yield line_no, obj


def run_plans(rows: Iterable[tuple[int, Any]], planner: Callable[[Any], Any], *, project,
              source_name: str, fmt: str, progress: Callable[[int], None] | None = None,
              ) -> ImportReport:
    """Plan each row (validation, no database), then write each batch set-wise.

    ``progress(rows_done)`` is called after each committed batch (it may raise to stop).
    """
    from .batches import write_batch

    report = ImportReport(source_name=source_name, fmt=fmt)
    iterator = iter(rows)
    done = 0
    while True:
        batch = list(islice(iterator, BATCH_ROWS))
        if not batch:
            break
        outcome: dict[int, tuple[str, Any]] = {}
        plans = []
        for line_no, record in batch:
            if isinstance(record, RowError):
                outcome[line_no] = ("rejected", str(record))
                continue
            try:
                plans.append((line_no, planner(record)))
            except RowError as exc:
                outcome[line_no] = ("rejected", str(exc))
            except ValidationError as exc:
                outcome[line_no] = ("rejected", "; ".join(exc.messages))
        outcome.update(write_batch(project, plans))
        for line_no in sorted(outcome):
            kind, value = outcome[line_no][:2]
            if kind == "rejected":
                report.rejected.append((line_no, value))
            elif value:
                report.created += 1
                report.objects.update(value)
            else:
                report.duplicates += 1
                report.duplicate_lines.append(line_no)
        done += len(batch)
        if progress is not None:
            progress(done)
    return report


def database_refusal(exc: DatabaseError) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"database refused the row: {first}"
