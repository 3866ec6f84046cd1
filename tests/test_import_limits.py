"""An import's limits: uncompressed bytes (a .gz bomb), line length checked while reading
(a 200 MB line never sits in memory), rows per import; and imports stay off the gpu queue."""

import gzip
import json
import re
from pathlib import Path

import pytest
from django.test import override_settings

from annotate.models import Problem, Project
from annotate.services.imports import import_file
from annotate.services.imports.limits import ImportLimitExceeded

pytestmark = [pytest.mark.portable, pytest.mark.django_db]

REPO = Path(__file__).resolve().parent.parent


def rows(start: int, stop: int) -> bytes:
    return b"".join(json.dumps({"problem": f"What is {i} + 1?", "answer": str(i + 1)}).encode() + b"\n"
                    for i in range(start, stop))


def test_a_gz_bomb_stops_at_the_uncompressed_byte_limit(tmp_path):
    """2 GiB of newlines in a 2 MB file (gzip members, concatenated) stop at a 256 MiB limit;
    the rows before the bomb are written and the report says why it stopped."""
    project = Project.objects.create(name="B", slug="b")
    path = tmp_path / "bomb.jsonl.gz"
    member = gzip.compress(b"\n" * (16 << 20), compresslevel=9)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(rows(0, 5)))
        for _ in range(128):
            fh.write(member)
    assert path.stat().st_size < 4 << 20
    with override_settings(IMPORT_MAX_BYTES=256 << 20):
        with pytest.raises(ImportLimitExceeded, match=r"over 268,435,456 bytes \(uncompressed\); "
                                                      r"the limit is STEPWISE_IMPORT_MAX_BYTES"):
            import_file(project, path, "problems", report=(report := _report(path)))
    assert report.created == 5 and report.stopped.startswith("the source holds over")
    assert Problem.objects.filter(project=project).count() == 5


def _report(path):
    from annotate.services.imports.rows import ImportReport

    return ImportReport(source_name=path.name, fmt="problems")


def _kib(field: str) -> int:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1))


def test_a_200_mb_line_is_rejected_without_reading_it_into_memory(tmp_path):
    """The line is 200 MB (in a 1 MB .gz). The import runs in this process: its peak
    resident memory (VmHWM, reset through /proc/self/clear_refs first) grows by less than a
    quarter of the line, where reading the line whole would grow it by the line at least."""
    project = Project.objects.create(name="L", slug="l")
    path = tmp_path / "long_line.jsonl.gz"
    megabyte = gzip.compress(b"x" * (1 << 20), compresslevel=9)
    with open(path, "wb") as fh:
        fh.write(gzip.compress(rows(0, 1) + b'{"problem": "'))
        for _ in range(200):
            fh.write(megabyte)
        fh.write(gzip.compress(b'", "answer": "1"}\n' + rows(1, 2)))
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the current RSS
    before = _kib("VmRSS")
    report = import_file(project, path, "problems")
    grown_mb = (_kib("VmHWM") - before) / 1024
    assert report.created == 2
    assert report.rejected == [(2, "line is over 20,000,000 bytes; the limit is "
                                   "STEPWISE_IMPORT_MAX_LINE_BYTES")]
    assert grown_mb < 50, f"peak memory grew by {grown_mb:.0f} MB"


def test_rows_past_the_row_limit_are_not_read(tmp_path):
    project = Project.objects.create(name="R", slug="r")
    path = tmp_path / "many.jsonl"
    path.write_bytes(rows(0, 2500))
    report = _report(path)
    with override_settings(IMPORT_MAX_ROWS=1500):
        with pytest.raises(ImportLimitExceeded, match="over 1,500 rows; the limit is STEPWISE_IMPORT_MAX_ROWS"):
            import_file(project, path, "problems", report=report)
    assert report.created == 1500 and "STEPWISE_IMPORT_MAX_ROWS" in report.stopped
    assert Problem.objects.filter(project=project).count() == 1500


def test_imports_run_on_the_default_queue_and_no_worker_serves_both():
    """The import task routes to ``default``; the workers the README and scripts/run.sh start
    serve ``gpu`` alone or ``default`` alone, so an import never holds the gpu worker."""
    from stepwise.celery import app
    from workers.runs import task_for

    assert app.amqp.router.route({}, task_for("import").name)["queue"].name == "default"
    for source in (REPO / "scripts" / "run.sh", REPO / "README.md"):
        workers = re.findall(r"celery -A \S+ worker .*?-Q (\S+)", source.read_text())
        assert workers, source
        for queues in workers:
            assert set(queues.split(",")) in ({"gpu"}, {"default"}), (source, queues)


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_the_chunked_reader_numbers_lines_as_splitting_does(monkeypatch, chunk):
    """Lines that cross chunks, blank runs, overlong lines and a last line without its
    newline come out as ``data.split(b"\\n")`` numbers them (leading whitespace aside)."""
    import io
    import random

    from annotate.services.imports import lines
    from annotate.services.imports.limits import Budget, Limits
    from annotate.services.imports.rows import RowError

    monkeypatch.setattr(lines, "CHUNK", chunk)
    pieces = [b"", b" ", b"\r", b"ab", b"x" * 25, b' {"a": 1} ', b"\t", b"\n" * 40]
    rng = random.Random(chunk)
    for _ in range(400):
        data = b"\n".join(rng.choice(pieces) for _ in range(rng.randint(0, 10))) + rng.choice([b"", b"\n"])
        segments = data.split(b"\n")
        if segments[-1] == b"":
            segments.pop()
        got = [(n, None if isinstance(line, RowError) else line) for n, line in
               lines.iter_lines(io.BytesIO(data), Budget(Limits(max_line_bytes=12)), skip_blank=False)]
        assert got == [(i, None if len(s) > 12 else s) for i, s in enumerate(segments, 1)], data
        got = [(n, None if isinstance(line, RowError) else line.lstrip()) for n, line in
               lines.iter_lines(io.BytesIO(data), Budget(Limits(max_line_bytes=40)))]
        assert got == [(i, s.lstrip()) for i, s in enumerate(segments, 1) if s.strip()], data
