"""Lines of a byte stream read in bounded chunks, with their line numbers.

A line is never held longer than ``max_line_bytes``: past that its bytes are dropped up to
its newline and the line is reported as too long, so a 1 GB line costs a chunk of memory,
not a gigabyte. Blank lines are skipped at C speed (a regex search and a count per chunk).
A stream that breaks (a truncated or corrupt .gz) ends with one error for the rest.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import BinaryIO

from .limits import Budget
from .rows import RowError

CHUNK = 1 << 20


def _next_non_blank(chunk: bytes, pos: int) -> int:
    """The index of the first non-whitespace byte from ``pos`` (``len(chunk)`` if none):
    ``lstrip`` over windows that double, so a megabyte of blank lines costs a few C calls
    and a content line right at ``pos`` costs one small copy."""
    width = 64
    while pos < len(chunk):
        window = chunk[pos:pos + width]
        rest = window.lstrip()
        if rest:
            return pos + len(window) - len(rest)
        pos += len(window)
        width = min(width * 2, CHUNK)
    return len(chunk)


def _too_long(max_line: int) -> RowError:
    return RowError(f"line is over {max_line:,} bytes; the limit is STEPWISE_IMPORT_MAX_LINE_BYTES")


def iter_lines(fh: BinaryIO, budget: Budget, *, skip_blank: bool = True,
               ) -> Iterator[tuple[int, bytes | RowError]]:
    """(line number, the line without its newline, or a RowError) for each line of ``fh``;
    with ``skip_blank`` only lines holding something other than whitespace."""
    max_line = budget.limits.max_line_bytes
    line_no = 1  # the number of the line being read
    pending: list[bytes] = []  # the start of a line that runs on into the next chunk
    held = 0  # its length
    skipping = False  # inside a line that is too long: drop its bytes up to the newline
    while True:
        try:
            chunk = fh.read(CHUNK)
        except (OSError, EOFError, zlib.error) as exc:
            yield line_no, RowError(f"the file cannot be read from this line on: {exc}")
            return
        if not chunk:
            break
        budget.read(len(chunk))
        pos = 0
        if skipping or pending:
            end = chunk.find(b"\n")
            if end < 0:
                held += len(chunk)
                if held > max_line:
                    pending, skipping = [], True
                elif not skipping:
                    pending.append(chunk)
                continue
            if skipping or held + end > max_line:
                yield line_no, _too_long(max_line)
            else:
                pending.append(chunk[:end])
                yield line_no, b"".join(pending)
            pending, held, skipping = [], 0, False
            line_no += 1
            pos = end + 1
        while True:
            if skip_blank:
                found = _next_non_blank(chunk, pos)
                if found == len(chunk):
                    line_no += chunk.count(b"\n", pos)
                    break
                line_no += chunk.count(b"\n", pos, found)
                newline = chunk.rfind(b"\n", pos, found)
                pos = newline + 1 if newline >= 0 else pos
            end = chunk.find(b"\n", pos)
            if end < 0:
                if pos < len(chunk):
                    pending, held = [chunk[pos:]], len(chunk) - pos
                    if held > max_line:
                        pending, skipping = [], True
                break
            if end - pos > max_line:
                yield line_no, _too_long(max_line)
            else:
                yield line_no, chunk[pos:end]
            line_no += 1
            pos = end + 1
    if skipping:
        yield line_no, _too_long(max_line)
    elif pending:
        line = b"".join(pending)
        if line.strip() or not skip_blank:
            yield line_no, line
