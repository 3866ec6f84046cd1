"""Sources as users have them: gzip'd JSONL, Parquet, a Hugging Face dataset saved with
save_to_disk and a folder of data files import the shared PRM800K samples exactly as the
JSONL does."""

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotate.models import Assignment, Project
from annotate.services.exports.prm800k import prm800k_records
from annotate.services.imports import import_file, start_import_run
from annotate.services.imports.files import count_lines

pytestmark = [pytest.mark.portable, pytest.mark.django_db]

FILES = ("phase1_sample.jsonl", "phase2_sample.jsonl")


def records_of(project) -> list[dict]:
    out = list(prm800k_records(Assignment.objects.filter(project=project)))
    for row in out:
        row.pop("stepwise")
    return out


def write_sources(tmp_path, name: str, source) -> dict:
    """The same records as .jsonl.gz, .parquet, a save_to_disk folder and a data-files folder."""
    import datasets

    records = [json.loads(line) for line in source.read_text().splitlines() if line.strip()]
    stem = name.removesuffix(".jsonl")
    paths = {"jsonl.gz": tmp_path / f"{stem}.jsonl.gz", "parquet": tmp_path / f"{stem}.parquet",
             "hf_dataset": tmp_path / f"{stem}_hf", "data_files": tmp_path / f"{stem}_files"}
    paths["jsonl.gz"].write_bytes(gzip.compress(source.read_bytes()))
    pq.write_table(pa.Table.from_pylist(records), paths["parquet"], row_group_size=4)
    datasets.Dataset.from_list(records).save_to_disk(str(paths["hf_dataset"]))
    paths["data_files"].mkdir()
    # Two shards, as a hub dataset's data/ folder has them.
    pq.write_table(pa.Table.from_pylist(records[:2]), paths["data_files"] / "train-00000-of-00002.parquet")
    pq.write_table(pa.Table.from_pylist(records[2:]), paths["data_files"] / "train-00001-of-00002.parquet")
    return paths


@pytest.mark.parametrize("name", FILES)
def test_every_source_imports_the_samples_as_the_jsonl_does(shared_data, tmp_path, name):
    source = shared_data / "prm800k" / name
    reference = Project.objects.create(name="jsonl", slug="jsonl")
    expected = import_file(reference, source, "prm800k")
    assert expected.created == len(source.read_text().splitlines())
    for kind, path in write_sources(tmp_path, name, source).items():
        project = Project.objects.create(name=kind, slug=kind.replace(".", "-").replace("_", "-"))
        report = import_file(project, path, "prm800k")
        assert (report.created, report.duplicates, report.rejected) == (expected.created, 0, []), kind
        assert report.objects == expected.objects, kind
        assert records_of(project) == records_of(reference), kind
        assert count_lines(path) == expected.created, kind
        again = import_file(project, path, "prm800k")
        assert (again.created, again.duplicates) == (0, expected.created), kind


def test_bad_rows_of_a_table_are_rejected_by_row_number(shared_data, tmp_path):
    records = [json.loads(line) for line in
               (shared_data / "prm800k" / "phase2_sample.jsonl").read_text().splitlines()]
    records[3]["label"]["steps"][0]["completions"][0]["rating"] = 7
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.Table.from_pylist(records), path, row_group_size=2)
    project = Project.objects.create(name="bad", slug="bad")
    report = import_file(project, path, "prm800k")
    assert report.created == len(records) - 1
    assert report.rejected == [(4, "'label.steps[0].completions[0].rating' is 7; "
                                   "expected -1, 0, 1 or null")]
    assert report.messages() == [f"bad.parquet line 4: {report.rejected[0][1]}"]


def test_a_timestamp_column_imports_as_its_iso_text_does(shared_data, tmp_path):
    from datetime import datetime

    source = shared_data / "prm800k" / "phase2_sample.jsonl"
    records = [json.loads(line) for line in source.read_text().splitlines()]
    for r in records:
        r["timestamp"] = datetime.fromisoformat(r["timestamp"])
    path = tmp_path / "stamped.parquet"
    pq.write_table(pa.Table.from_pylist(records), path)
    assert pq.read_schema(path).field("timestamp").type == pa.timestamp("us")
    reference = Project.objects.create(name="jsonl", slug="jsonl")
    import_file(reference, source, "prm800k")
    project = Project.objects.create(name="stamped", slug="stamped")
    assert import_file(project, path, "prm800k").created == len(records)
    assert records_of(project) == records_of(reference)


def test_a_folder_that_is_no_data_set_is_refused(tmp_path):
    project = Project.objects.create(name="f", slug="f")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="No data files"):
        start_import_run(project=project, path=tmp_path, fmt="prm800k", options={}, user=None)
