"""Faulty sources never half-write an import: each bad row or unreadable part (a line, a
row group, a file) is rejected by its number, the rows around it are written, and the Run
ends with its report, through the real broker and worker."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotate.models import Problem, Project
from annotate.services.imports import start_import_run
from tests.conftest import wait_for_run
from workers.models import Run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def problem(i: int) -> dict:
    return {"problem": f"What is {i} + 1?", "answer": str(i + 1)}


def jsonl(rows) -> bytes:
    return b"".join((json.dumps(r).encode() if isinstance(r, dict) else r) + b"\n" for r in rows)


def deep_json(tmp_path):
    path = tmp_path / "deep.jsonl"
    deep = b'{"problem": "deep", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    path.write_bytes(jsonl([problem(i) for i in range(1500)] + [deep]
                           + [problem(i) for i in range(1500, 2000)]))
    return path, 2000, [[1501, "JSON nested deeper than 64 levels"]]


def huge_integer(tmp_path):
    path = tmp_path / "huge_int.jsonl"
    huge = b'{"problem": "big", "level": ' + b"7" * 5000 + b"}"
    path.write_bytes(jsonl([problem(i) for i in range(1200)] + [huge]
                           + [problem(i) for i in range(1200, 1300)]))
    return path, 1300, [[1201, "unreadable JSON value: Exceeds the limit (4300 digits) for integer "
                               "string conversion: value has 5000 digits"]]


def csv_not_utf8(tmp_path):
    path = tmp_path / "problems.csv"
    lines = [b"problem,answer"] + [f"What is {i} + 1?,{i + 1}".encode() for i in range(1500)]
    lines.insert(1001, b"Caf\xe9 \xff,1")  # Latin-1, not UTF-8: file line 1002
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, 1500, [[1002, "not UTF-8 (invalid continuation byte at byte 3)"]]


def parquet_bad_group(tmp_path):
    path = tmp_path / "groups.parquet"
    table = pa.Table.from_pylist([problem(i) for i in range(5000)])
    pq.write_table(table, path, row_group_size=1000, compression="snappy")
    column = pq.ParquetFile(path).metadata.row_group(2).column(0)
    data = bytearray(path.read_bytes())
    start = column.data_page_offset
    data[start:start + column.total_compressed_size] = b"\xff" * column.total_compressed_size
    path.write_bytes(bytes(data))
    return path, 4000, [[2001, "row group 3 (rows 2001-3000) cannot be read from row 2001 on"]]


def hf_folder_bad_file(tmp_path):
    import datasets

    folder = tmp_path / "hf"
    datasets.Dataset.from_list([problem(i) for i in range(3000)]).save_to_disk(str(folder),
                                                                               num_shards=3)
    shards = sorted(folder.glob("data-*.arrow"))
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[:len(data) // 2])  # cut off in the middle of its record batch
    return folder, 2000, [[1001, "Arrow file data-00001-of-00003.arrow cannot be read from row 1001 on"]]


def data_files_bad_file(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / "a.jsonl").write_bytes(jsonl([problem(i) for i in range(1000)]))
    (folder / "b.parquet").write_bytes(b"PAR1 not really parquet")
    (folder / "c.jsonl").write_bytes(jsonl([problem(i) for i in range(1000, 1500)]))
    return folder, 1500, [[1001, "b.parquet: not a readable Parquet file"]]


SOURCES = [deep_json, huge_integer, csv_not_utf8, parquet_bad_group, hf_folder_bad_file,
           data_files_bad_file]


@pytest.mark.parametrize("make", SOURCES, ids=[f.__name__ for f in SOURCES])
def test_a_bad_row_or_part_rejects_only_itself(celery_worker, tmp_path, make):
    project = Project.objects.create(name="F", slug="f")
    path, created, rejected = make(tmp_path)
    run = wait_for_run(start_import_run(project=project, path=path, fmt="problems"), timeout=240)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["created"] == created
    assert Problem.objects.filter(project=project).count() == created
    assert run.result["rejected_count"] == len(rejected)
    got = run.result["rejected"]
    assert [line for line, _ in got] == [line for line, _ in rejected]
    for (_, reason), (_, expected) in zip(got, rejected):
        assert reason.startswith(expected), reason
    assert str(tmp_path) not in run.log  # the file's name is shown, never the worker's path
