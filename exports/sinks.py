"""Writing rows to files: JSONL line by line, Parquet in record batches, one file per split.

Files are written under a temporary name and renamed when complete, and hashed as they
are written, so a snapshot's content hash costs no second pass.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from workers.failures import discard_partial

PARQUET_BATCH = 5000


def dumps(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"))


class _HashingFile:
    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        self.fh = open(self.tmp, "wb")
        self.sha = hashlib.sha256()
        self.rows = 0
        self.steps = 0

    def write(self, data: bytes) -> None:
        self.sha.update(data)
        self.fh.write(data)

    def close(self) -> dict:
        self.fh.close()
        os.replace(self.tmp, self.path)
        return {"rows": self.rows, "steps": self.steps, "bytes": self.path.stat().st_size,
                "sha256": self.sha.hexdigest()}

    def discard(self) -> None:
        discard_partial(self.tmp, self.fh.close)


class JsonlSink:
    extension = "jsonl"

    def __init__(self, path: Path):
        self.file = _HashingFile(path)

    def add(self, row: dict, steps: int) -> None:
        self.file.write((dumps(row) + "\n").encode("utf-8"))
        self.file.rows += 1
        self.file.steps += steps

    def close(self) -> dict:
        return self.file.close()

    def discard(self) -> None:
        self.file.discard()


class ParquetSink:
    """pyarrow writes the file itself; the hash is taken after, reading it in blocks."""

    extension = "parquet"

    def __init__(self, path: Path):
        self.file = _HashingFile(path)
        self.file.fh.close()  # pyarrow opens the temporary path on its own
        self.batch: list[dict] = []
        self.writer = None

    def add(self, row: dict, steps: int) -> None:
        self.batch.append(row)
        self.file.rows += 1
        self.file.steps += steps
        if len(self.batch) >= PARQUET_BATCH:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        fields = [("prompt", pa.string()), ("completions", pa.list_(pa.string())),
                  ("labels", pa.list_(pa.bool_())), ("label_source", pa.string())]
        if self.batch and "label_sources" in self.batch[0] or getattr(self, "marked", False):
            self.marked = True  # machine labels on: keep the human/machine marks
            fields.append(("label_sources", pa.list_(pa.string())))
        if self.batch and "stepwise" in self.batch[0] or getattr(self, "budgeted", False):
            self.budgeted = True  # a token budget's per-row counts (exports/token_budget.py)
            fields.append(("stepwise", pa.struct([("tokens", pa.int64()),
                                                  ("cut_steps", pa.int64())])))
        schema = pa.schema(fields)
        if self.writer is None:
            self.writer = pq.ParquetWriter(str(self.file.tmp), schema)
        if self.batch:
            self.writer.write_table(pa.Table.from_pylist(self.batch, schema=schema))
        self.batch = []

    def close(self) -> dict:
        self._flush()
        self.writer.close()
        with open(self.file.tmp, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                self.file.sha.update(block)
        self.file.fh = open(self.file.tmp, "rb")  # so _HashingFile.close can close it
        return self.file.close()

    def discard(self) -> None:
        closers = [self.file.fh.close] + ([self.writer.close] if self.writer is not None else [])
        discard_partial(self.file.tmp, *closers)


def make_sink(kind: str, directory: Path, split: str):
    cls = ParquetSink if kind == "parquet" else JsonlSink
    return cls(directory / f"{split}.{cls.extension}")
