"""Import sources as users have them, read as a stream of numbered records.

- JSONL (``.jsonl``, ``.json``, anything else read as lines) and gzip-compressed JSONL
  (``.gz``): read line by line, so one bad line rejects one row.
- Parquet (``.parquet``): read a record batch at a time with pyarrow.
- A Hugging Face dataset saved with ``Dataset.save_to_disk`` (a folder holding
  ``state.json`` and ``data-*.arrow``): its Arrow stream files read a batch at a time.
- A folder of data files (``*.jsonl``, ``*.jsonl.gz``, ``*.parquet``), as one would pass to
  ``load_dataset(..., data_files=...)``: the files in name order, numbered on from one
  file to the next.

Memory stays at a batch whatever the file's size. Rows are numbered from 1: the line
of a JSONL file (blank lines count), the row of a table. Every read counts against the
import's ``Budget`` (``limits.py``). A part that cannot be read (a line, a row group, a
file) is one RowError at its first row number, and reading goes on with the next part.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .limits import Budget
from .lines import iter_lines
from .rows import RowError, parse_line

#: What a damaged Arrow or Parquet file raises (ArrowInvalid is a ValueError, ArrowIOError an OSError).
ARROW_ERRORS = (OSError, ValueError, EOFError, OverflowError, TypeError)

READ_BATCH = 1000
DATA_FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")


def source_kind(path: Path) -> str:
    """jsonl, jsonl.gz, parquet, hf_dataset (save_to_disk) or data_files (a folder of files)."""
    if path.is_dir():
        if (path / "state.json").is_file():
            return "hf_dataset"
        if (path / "dataset_dict.json").is_file():
            splits = ", ".join(json.loads((path / "dataset_dict.json").read_text()).get("splits", []))
            raise ValueError(f"{path.name} holds several splits ({splits}); import one split's "
                             f"folder, e.g. {path.name}/train.")
        if not _data_files(path):
            raise ValueError(f"No data files ({', '.join(DATA_FILE_SUFFIXES)}) in {path}.")
        return "data_files"
    name = path.name.lower()
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".gz"):
        return "jsonl.gz"
    return "jsonl"


def _data_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()
                  and p.name.lower().endswith(DATA_FILE_SUFFIXES))


def read_records(path: Path, budget: Budget | None = None) -> Iterator[tuple[int, Any]]:
    """(row number, record dict or RowError) for each row of the source at ``path``."""
    path = Path(path)
    budget = budget or Budget()
    kind = source_kind(path)
    if kind == "data_files":
        offset = 0
        for part in _data_files(path):
            last = offset
            for number, record in read_records(part, budget):
                last = offset + number
                if isinstance(record, RowError):
                    record = RowError(f"{part.relative_to(path)}: {record}")
                yield last, record
            offset = max(last, offset + count_rows(part))
        return
    if kind in ("jsonl", "jsonl.gz"):
        yield from _json_lines(path, budget, gzip.open if kind == "jsonl.gz" else open)
    elif kind == "parquet":
        yield from _parquet_rows(path, budget)
    else:
        yield from _arrow_rows(path, budget)


def _json_lines(path: Path, budget: Budget, opener) -> Iterator[tuple[int, Any]]:
    depth = budget.limits.max_depth
    with opener(path, "rb") as fh:
        for line_no, line in iter_lines(fh, budget):
            if isinstance(line, RowError):
                yield line_no, line
            else:
                yield line_no, parse_line(line, first=line_no == 1, max_depth=depth,
                                          max_chars=budget.limits.max_line_bytes)


def _records(batch, number: int) -> Iterator[Any]:
    """The rows of a record batch as dicts; a row that cannot be converted is a RowError."""
    try:
        yield from batch.to_pylist()
        return
    except ARROW_ERRORS:
        pass
    for i in range(batch.num_rows):
        try:
            yield batch.slice(i, 1).to_pylist()[0]
        except ARROW_ERRORS as exc:
            yield RowError(f"row {number + i + 1} cannot be read: {exc}")


def _parquet_rows(path: Path, budget: Budget) -> Iterator[tuple[int, Any]]:
    """Row group by row group: a damaged group is one RowError (at its first unread row),
    and the next group is read."""
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except ARROW_ERRORS as exc:
        yield 1, RowError(f"not a readable Parquet file: {exc}")
        return
    number = 0
    for group in range(parquet.metadata.num_row_groups):
        first = number + 1
        end = number + parquet.metadata.row_group(group).num_rows
        try:
            for batch in parquet.iter_batches(batch_size=READ_BATCH, row_groups=[group]):
                budget.read(batch.nbytes)
                for record in _records(batch, number):
                    number += 1
                    yield number, record
        except ARROW_ERRORS as exc:
            yield number + 1, RowError(f"row group {group + 1} (rows {first}-{end}) cannot be read "
                                       f"from row {number + 1} on: {exc}")
            number += 1  # the error's own number, even when it came after the group's last row
        number = max(number, end)


def _arrow_rows(folder: Path, budget: Budget) -> Iterator[tuple[int, Any]]:
    """A ``save_to_disk`` folder: a damaged Arrow file is one RowError, the next file is read."""
    number = 0
    for name, batches in _arrow_files(folder):
        try:
            for batch in batches:
                budget.read(batch.nbytes)
                for record in _records(batch, number):
                    number += 1
                    yield number, record
        except ARROW_ERRORS as exc:
            number += 1  # the unreadable rest of the file counts as one row
            yield number, RowError(f"Arrow file {name} cannot be read from row {number} on: {exc}")


def _arrow_files(folder: Path):
    """(file name, its record batches) for each Arrow IPC stream of a ``save_to_disk`` folder."""
    import pyarrow as pa

    state = json.loads((folder / "state.json").read_text())
    for entry in state.get("_data_files", []):
        yield entry["filename"], _arrow_batches_of(pa, folder / entry["filename"])


def _arrow_batches_of(pa, path: Path):
    with pa.OSFile(str(path)) as fh:
        reader = pa.ipc.open_stream(fh)
        for batch in reader:
            yield from (batch.slice(i, READ_BATCH) for i in range(0, batch.num_rows, READ_BATCH))


def _arrow_batches(folder: Path):
    """The record batches of a ``save_to_disk`` folder, file by file (Arrow IPC streams)."""
    for _name, batches in _arrow_files(folder):
        yield from batches


def count_rows(path: Path, budget: Budget | None = None) -> int:
    """How many rows ``read_records`` numbers, for a progress bar's total: counted up to the
    import's limits (a bomb stops the count where it would stop the import) and up to the
    first damage (the import reports it)."""
    from .limits import ImportLimitExceeded

    path = Path(path)
    budget = budget or Budget()
    kind = source_kind(path)
    if kind == "data_files":
        return sum(count_rows(part, budget) for part in _data_files(path))
    if kind == "parquet":
        import pyarrow.parquet as pq

        try:
            return pq.ParquetFile(path).metadata.num_rows
        except ARROW_ERRORS:
            return 0
    if kind == "hf_dataset":
        rows = 0
        for _name, batches in _arrow_files(path):
            try:
                rows += sum(batch.num_rows for batch in batches)
            except ARROW_ERRORS:
                rows += 1  # a damaged file: its rejection's number
        return rows
    opener = gzip.open if kind == "jsonl.gz" else open
    lines = 0
    with opener(path, "rb") as fh:
        try:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                budget.read(len(chunk))
                lines += chunk.count(b"\n")
        except (ImportLimitExceeded, OSError, EOFError, zlib.error):
            pass
    return lines
