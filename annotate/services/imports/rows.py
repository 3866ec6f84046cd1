"""The row engine shared by every importer: parse, plan, write in batches, a report.

A row is all-or-nothing: its planner validates it without touching the database, and
the bulk writer (``bulk.py``, via ``batches.py``) writes a batch of plans in one transaction, redoing the
batch without any row a database check refuses. A batch is one commit, so a large file
neither holds one huge transaction nor pays a commit per row.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DatabaseError

#: A JSONL line longer than this is rejected before parsing (a step is at most 100k chars);
#: files are read by ``lines.py``, which holds no line past ``STEPWISE_IMPORT_MAX_LINE_BYTES``.
MAX_LINE_CHARS = 20_000_000
#: JSON nested deeper than this is rejected before parsing (PRM800K is 6 levels deep).
MAX_JSON_DEPTH = 64
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
    stopped: str = ""  # why the import stopped before the end of its source, if it did

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
            "stopped": self.stopped,
        }


_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def too_deep(text: str, limit: int) -> bool:
    """Whether JSON ``text`` nests deeper than ``limit``, found without recursion: strings
    and everything but brackets removed, then the running count of open brackets in blocks
    (numpy; only for a line with more than ``limit`` opening brackets at all)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    import numpy as np

    brackets = _STRING.sub("", text).encode("utf-8", "replace").translate(None, _NOT_BRACKETS)
    depth = 0
    for start in range(0, len(brackets), 1 << 20):  # a block at a time: memory stays small
        codes = np.frombuffer(brackets, dtype=np.uint8, count=min(1 << 20, len(brackets) - start),
                              offset=start)
        running = np.cumsum(np.where((codes == 91) | (codes == 123), 1, -1)) + depth  # [ {
        if int(running.max()) > limit:
            return True
        depth = int(running[-1])
    return False


def parse_line(line: str | bytes, *, first: bool = False, max_depth: int = MAX_JSON_DEPTH,
               max_chars: int = MAX_LINE_CHARS) -> Any:
    """A JSON object from one line, or the RowError that says why it is not one."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError as exc:
            return RowError(f"not UTF-8 ({exc.reason} at byte {exc.start})")
    if first:
        line = line.lstrip("\ufeff")  # a UTF-8 byte-order mark
    if len(line) > max_chars:
        return RowError(f"line is {len(line)} characters; the limit is {max_chars}")
    if too_deep(line, max_depth):
        return RowError(f"JSON nested deeper than {max_depth} levels")
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return RowError(f"malformed JSON: {exc.msg} at column {exc.colno}")
    except ValueError as exc:  # an integer of over 4,300 digits (sys.get_int_max_str_digits)
        return RowError(f"unreadable JSON value: {str(exc).split(';')[0]}")
    except RecursionError:
        return RowError(f"JSON nested deeper than {max_depth} levels")
    if not isinstance(obj, dict):
        return RowError(f"expected a JSON object, got {type(obj).__name__}")
    return obj


def jsonl_rows(lines: Iterable[str | bytes]) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object or a RowError) for each non-blank line."""
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        yield line_no, parse_line(line, first=line_no == 1)


def run_plans(rows: Iterable[tuple[int, Any]], planner: Callable[[Any], Any], *, project,
              source_name: str, fmt: str, progress: Callable[[int], None] | None = None,
              report: ImportReport | None = None, max_rows: int | None = None) -> ImportReport:
    """Plan each row (validation, no database), then write each batch set-wise.

    ``progress(rows_done)`` is called after each committed batch (it may raise to stop).
    ``report`` (filled as batches commit) lets a caller show what was done when the import
    stops on an error. Past ``max_rows`` rows, or when the source raises
    ``ImportLimitExceeded``, the rows read so far are written and the limit is raised.
    """
    from .batches import write_batch
    from .limits import ImportLimitExceeded

    report = report if report is not None else ImportReport(source_name=source_name, fmt=fmt)
    iterator = iter(rows)
    if max_rows is not None:
        iterator = islice(iterator, max_rows + 1)
    done = 0
    stop: ImportLimitExceeded | None = None
    while stop is None:
        batch = []
        try:
            batch.extend(islice(iterator, BATCH_ROWS))
        except ImportLimitExceeded as exc:
            stop = exc
        if max_rows is not None and done + len(batch) > max_rows:
            batch = batch[:max_rows - done]
            stop = ImportLimitExceeded(f"the source has over {max_rows:,} rows; the limit is "
                                       "STEPWISE_IMPORT_MAX_ROWS")
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
            except (ValueError, TypeError, RecursionError) as exc:  # a value no check foresaw
                outcome[line_no] = ("rejected", f"unreadable value: {type(exc).__name__}: {exc}"[:500])
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
    if stop is not None:
        report.stopped = str(stop)
        raise stop
    return report


def database_refusal(exc: DatabaseError) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"database refused the row: {first}"
