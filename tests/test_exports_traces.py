"""The trace exports: ``trace`` gives each long text back byte for byte with its step spans,
labels and groups; ``deltabench`` gives the DeltaBench records back as they were imported
(and with the labels as they are now); solutions without a trace are refused with the
reason."""

import json

import pytest

from annotate.models import Project, Solution, StepGroup
from annotate.services.imports import import_deltabench, import_traces
from annotate.services.imports.common import solution_path
from annotate.services.resegment import resegment
from exports.models import ExportSnapshot
from exports.services import build_snapshot, snapshot_file
from exports.spec import SpecError, normalize_spec
from exports.writers import iter_rows
from tests.exports_data import build

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


@pytest.fixture
def project():
    return Project.objects.create(name="DeltaBench", slug="deltabench")


@pytest.fixture(scope="module")
def lines(shared_data):
    return (shared_data / "deltabench" / "examples.jsonl").read_text(encoding="utf-8").splitlines()


def snapshot(project, fmt, **spec):
    spec = normalize_spec({"projects": [project.pk], "format": fmt, **spec})
    snap = ExportSnapshot.objects.create(name=fmt, version=1, format=fmt, filters=spec)
    build_snapshot(snap.pk)
    snap.refresh_from_db()
    assert snap.status == "ready", snap.error
    return [json.loads(line) for line in
            snapshot_file(snap, None).read_text(encoding="utf-8").splitlines()]


def test_deltabench_export_gives_every_record_back(project, lines):
    import_deltabench(project, lines, source_name="examples.jsonl")
    exported = {r["id"]: r for r in snapshot(project, "deltabench")}
    assert len(exported) == 9
    for line in lines:
        record = json.loads(line)
        mine = exported[record["id"]]
        assert mine == record
        assert list(mine) == list(record)  # the record's key order
        assert json.dumps(mine, ensure_ascii=False) == json.dumps(record, ensure_ascii=False)


def test_deltabench_export_shows_the_labels_as_they_are_now(project, lines):
    import_deltabench(project, lines[:1], source_name="one.jsonl")
    group = StepGroup.objects.get(solution__project=project, index=0)
    group.metadata["labels"]["reasoning_usefulness"] = "0"
    group.save()
    [row] = snapshot(project, "deltabench")
    assert row["sections_labeled_info"][0]["reasoning_usefulness"] == "0"


def test_trace_export_gives_the_text_back_with_spans_labels_and_groups(project, lines):
    import_deltabench(project, lines, source_name="examples.jsonl")
    rows = {r["external_id"]: r for r in snapshot(project, "trace")}
    for line in lines:
        record = json.loads(line)
        row = rows[record["id"]]
        assert row["text"] == record["long_cot"]  # byte for byte
        paragraphs = record["long_cot"].split("\n\n")
        assert [row["text"][s:e] for s, e in (step["span"] for step in row["steps"])] == paragraphs
        assert [(g["start"] + 1, g["end"], g["title"]) for g in row["groups"]] == [
            (s["start"], s["end"], s["description"]) for s in record["sections"]]
        error = record["reason_error_section_numbers"][0]
        info = record["sections_labeled_info"][error - 1]
        step = int(info["error_step"] or record["sections"][error - 1]["start"])
        assert row["steps"][step - 1]["rating"] == -1
        assert row["groups"][error - 1]["metadata"]["labels"]["explanation"] == info["explanation"]
        assert row["fields"]["question"] == record["question"]


def test_trace_export_follows_a_label_rule_and_a_resegmentation(project, lines):
    import_deltabench(project, lines[:1], source_name="one.jsonl")
    solution = Solution.objects.get(project=project)
    resegment(solution, strategy="sentence")
    spec = normalize_spec({"projects": [project.pk], "format": "trace",
                           "labels": {"rule": "source", "source": "human:deltabench-human"}})
    [(_, row, steps)] = list(iter_rows(spec))
    trace = Solution.objects.get(pk=solution.pk).trace
    assert row["text"] == json.loads(lines[0])["long_cot"]
    assert [s["span"] for s in row["steps"]] == trace.spans and steps == len(trace.spans)
    assert {s["rating"] for s in row["steps"]} >= {None, -1, 1}
    assert row["segmentation"]["strategy"] == "sentence"


def test_think_traces_come_back_byte_for_byte(project):
    text = "<think>\nA first.\n\nWait, then B.\n</think>\n\nSo \\boxed{3}. "
    import_traces(project, [json.dumps({"question": "q", "text": text})], source_name="t")
    solution = Solution.objects.get(project=project)
    from django.contrib.auth import get_user_model

    from annotate.models import Assignment, StepRating

    user = get_user_model().objects.create(username="rater")
    assignment = Assignment.objects.create(project=project, solution=solution, annotator=user,
                                           status=Assignment.Status.SUBMITTED)
    path = solution_path(solution)
    StepRating.objects.create(assignment=assignment, node=path[1], rating=-1)
    [row] = snapshot(project, "trace")
    assert row["text"] == text
    assert [s["rating"] for s in row["steps"]] == [None, -1, None]
    assert [text[s:e] for s, e in (st["span"] for st in row["steps"])] == [
        "A first.", "Wait, then B.", "So \\boxed{3}."]


def test_solutions_without_a_trace_are_refused_with_the_reason(make_user):
    lab = build(make_user)
    spec = normalize_spec({"projects": [lab["project"].pk], "format": "trace"})
    refused = []
    assert list(iter_rows(spec, refused)) == []
    assert refused and "has no trace (it was not imported as a long text)" in refused[0][2]
    refused = []
    spec = normalize_spec({"projects": [lab["project"].pk], "format": "deltabench"})
    assert list(iter_rows(spec, refused)) == [] and refused


def test_deltabench_format_takes_no_label_rule(project):
    with pytest.raises(SpecError, match="deltabench rows cannot carry them"):
        normalize_spec({"projects": [project.pk], "format": "deltabench",
                        "labels": {"rule": "source", "source": "human:x"}})
