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


@pytest.mark.portable
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


@pytest.mark.postgres_only
def test_a_full_disk_stops_the_import_with_nothing_half_written(celery_worker, tmp_path):
    """PostgreSQL itself raises ``disk_full`` (SQLSTATE 53100) from a trigger on the 1,500th
    problem, as it does when it cannot extend a table's file: the batch holding it is rolled
    back whole, the Run fails at once (not retried, not left running) and keeps its report."""
    from django.db import connection

    project = Project.objects.create(name="D", slug="d")
    path = tmp_path / "problems.jsonl"
    path.write_bytes(jsonl([problem(i) for i in range(3000)]))
    table = Problem._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE FUNCTION stepwise_test_disk_full() RETURNS trigger AS $$
            BEGIN
                IF NEW.statement = 'What is 1499 + 1?' THEN
                    RAISE EXCEPTION 'could not extend file: No space left on device'
                        USING ERRCODE = 'disk_full';
                END IF;
                RETURN NEW;
            END $$ LANGUAGE plpgsql""")
        cursor.execute(f"CREATE TRIGGER stepwise_test_disk_full BEFORE INSERT ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION stepwise_test_disk_full()")
    try:
        run = wait_for_run(start_import_run(project=project, path=path, fmt="problems"))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER stepwise_test_disk_full ON {table}")
            cursor.execute("DROP FUNCTION stepwise_test_disk_full()")
    assert run.status == Run.Status.FAILED and run.attempts == 1
    assert "No space left on device" in run.reason
    assert run.result["created"] == 1000 and run.result["rejected_count"] == 0
    assert "No space left on device" in run.result["stopped"]
    assert Problem.objects.filter(project=project).count() == 1000  # the first batch, whole


def blank_member(megabytes: int = 16) -> bytes:
    """One gzip member of ``megabytes`` MB of newlines (some 16 KB). Gzip readers read
    concatenated members as one stream, so a few MB of file expand to gigabytes without
    the test ever holding more than one member."""
    import gzip

    return gzip.compress(b"\n" * (megabytes << 20), compresslevel=9)


@pytest.mark.portable
def test_cancel_stops_an_import_reading_blank_lines(celery_worker, tmp_path):
    import gzip

    project = Project.objects.create(name="C", slug="c")
    path = tmp_path / "blank.jsonl.gz"
    member = blank_member()
    with open(path, "wb") as fh:
        fh.write(gzip.compress(jsonl([problem(i) for i in range(3)])))
        for _ in range(2048):  # 32 GiB of newlines in about 32 MB
            fh.write(member)
    run = start_import_run(project=project, path=path, fmt="problems")
    while run.status != Run.Status.RUNNING:
        run.refresh_from_db()
        assert not run.is_finished, run.error
    from workers.runs import cancel_run

    cancel_run(run)
    run = wait_for_run(run, timeout=120)
    assert run.status == Run.Status.CANCELLED, (run.status, run.error)
    assert "cancelled" in run.log
    assert run.result["source_name"] == "blank.jsonl.gz"  # the report, kept when cancelled


def test_an_upload_run_keeps_no_absolute_path(celery_worker, settings):
    """An upload under STEPWISE_DATA_DIR is kept in the Run's params relative to it; the
    worker finds it there, and the log and report name the file."""
    project = Project.objects.create(name="U", slug="u")
    folder = settings.DATA_DIR / "uploads" / "u"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mine.jsonl"
    path.write_bytes(jsonl([problem(i) for i in range(3)]))
    try:
        run = start_import_run(project=project, path=path, fmt="problems")
        assert run.params["path"] == "uploads/u/mine.jsonl"
        run = wait_for_run(run)
    finally:
        path.unlink()
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["created"] == 3 and run.result["source_name"] == "mine.jsonl"
    assert str(settings.DATA_DIR) not in run.log
