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
of a JSONL file (blank lines count), the row of a table.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .rows import jsonl_rows

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


def read_records(path: Path) -> Iterator[tuple[int, Any]]:
    """(row number, record dict or RowError) for each row of the source at ``path``."""
    path = Path(path)
    kind = source_kind(path)
    if kind == "data_files":
        offset = 0
        for part in _data_files(path):
            last = offset
            for number, record in read_records(part):
                last = offset + number
                yield last, record
            offset = max(last, offset + count_rows(part))
        return
    if kind == "jsonl":
        with open(path, "rb") as fh:
            yield from jsonl_rows(fh)
    elif kind == "jsonl.gz":
        with gzip.open(path, "rb") as fh:
            yield from jsonl_rows(fh)
    elif kind == "parquet":
        import pyarrow.parquet as pq

        number = 0
        for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH):
            for record in batch.to_pylist():
                number += 1
                yield number, record
    else:
        number = 0
        for batch in _arrow_batches(path):
            for record in batch.to_pylist():
                number += 1
                yield number, record


def _arrow_batches(folder: Path):
    """The record batches of a ``save_to_disk`` folder, file by file (Arrow IPC streams)."""
    import pyarrow as pa

    state = json.loads((folder / "state.json").read_text())
    for entry in state.get("_data_files", []):
        with pa.OSFile(str(folder / entry["filename"])) as fh:
            reader = pa.ipc.open_stream(fh)
            for batch in reader:
                yield from (batch.slice(i, READ_BATCH) for i in range(0, batch.num_rows, READ_BATCH))


def count_rows(path: Path) -> int:
    """How many rows ``read_records`` numbers, for a progress bar's total."""
    path = Path(path)
    kind = source_kind(path)
    if kind == "data_files":
        return sum(count_rows(part) for part in _data_files(path))
    if kind == "parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    if kind == "hf_dataset":
        return sum(batch.num_rows for batch in _arrow_batches(path))
    opener = gzip.open if kind == "jsonl.gz" else open
    with opener(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
