"""The row engine shared by every importer: parse, one savepoint per row, a report.

A row is all-or-nothing: its handler runs inside a savepoint, and any error rolls
back everything that row wrote. Rows are committed in batches so that a large
file neither holds one huge transaction nor pays a commit per row.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction

#: A JSONL line longer than this is rejected before parsing (a step is at most 100k chars).
MAX_LINE_CHARS = 20_000_000
BATCH_ROWS = 200


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


class RowContext:
    """What one row wrote, so a row that wrote nothing counts as a duplicate."""

    def __init__(self, source_name: str, line_no: int):
        self.source_name = source_name
        self.line_no = line_no
        self.counts: Counter = Counter()

    def made(self, table: str, n: int = 1) -> None:
        if n:
            self.counts[table] += n


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


def run_rows(rows: Iterable[tuple[int, Any]], handler: Callable[[Any, RowContext], None], *,
             source_name: str, fmt: str, progress: Callable[[int], None] | None = None,
             ) -> ImportReport:
    """Run ``handler(record, ctx)`` per row under a savepoint and collect the report.

    ``progress(rows_done)`` is called after each committed batch (it may raise to stop).
    """
    report = ImportReport(source_name=source_name, fmt=fmt)
    iterator = iter(rows)
    done = 0
    while True:
        batch = []
        for item in iterator:
            batch.append(item)
            if len(batch) >= BATCH_ROWS:
                break
        if not batch:
            break
        with transaction.atomic():
            for line_no, record in batch:
                _one_row(report, handler, line_no, record)
        done += len(batch)
        if progress is not None:
            progress(done)
    return report


def _one_row(report: ImportReport, handler, line_no: int, record: Any) -> None:
    if isinstance(record, RowError):
        report.rejected.append((line_no, str(record)))
        return
    ctx = RowContext(report.source_name, line_no)
    try:
        with transaction.atomic():
            handler(record, ctx)
    except RowError as exc:
        report.rejected.append((line_no, str(exc)))
        return
    except ValidationError as exc:
        report.rejected.append((line_no, "; ".join(exc.messages)))
        return
    except DatabaseError as exc:  # a constraint or a value the column cannot hold
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        report.rejected.append((line_no, f"database refused the row: {first}"))
        return
    if ctx.counts:
        report.created += 1
        report.objects.update(ctx.counts)
    else:
        report.duplicates += 1
        report.duplicate_lines.append(line_no)
