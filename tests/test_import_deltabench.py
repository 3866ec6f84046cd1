"""DeltaBench: every example of the shared file imports (paragraphs as steps, sections as step
groups, section labels as human step ratings), a second import writes nothing, malformed
records are refused with their reasons, and a re-segmentation carries labels where spans
still match."""

import json

import pytest
from django.core.management import call_command

from annotate.models import (
    Assignment,
    Critique,
    Project,
    Solution,
    SolutionTrace,
    StepGroup,
    StepRating,
)
from annotate.services.imports import import_deltabench
from annotate.services.imports.common import solution_path
from annotate.services.imports.deltabench import LABELER
from annotate.services.resegment import ResegmentError, resegment
from exports.spec import normalize_spec
from exports.writers import iter_rows

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


@pytest.fixture
def project():
    return Project.objects.create(name="DeltaBench", slug="deltabench")


@pytest.fixture(scope="module")
def lines(shared_data):
    return (shared_data / "deltabench" / "examples.jsonl").read_text(encoding="utf-8").splitlines()


def ratings_of(solution):
    return {r.node_id: r.rating for r in StepRating.objects.filter(assignment__solution=solution)}


def test_every_deltabench_example_imports(project, lines):
    report = import_deltabench(project, lines, source_name="examples.jsonl")
    assert (report.created, report.duplicates, report.rejected) == (9, 0, [])
    assert report.objects["traces"] == 9
    records = [json.loads(line) for line in lines]
    assert StepGroup.objects.filter(solution__project=project).count() == sum(
        len(r["sections"]) for r in records)
    assert set(Assignment.objects.filter(project=project).values_list(
        "annotator__username", "source", "status")) == {(LABELER, "import", "submitted")}
    for record in records:
        solution = Solution.objects.get(project=project, external_id=record["id"])
        trace = solution.trace
        assert trace.text == record["long_cot"]  # byte for byte
        paragraphs = record["long_cot"].split("\n\n")
        path = solution_path(solution)
        assert [n.text for n in path] == paragraphs
        assert [trace.text[s:e] for s, e in trace.spans] == paragraphs
        assert solution.problem.statement == record["question"]
        assert solution.problem.ground_truth_answer == record["answer"]
        assert solution.is_correct is bool(record["final_correct"])
        groups = list(StepGroup.objects.filter(solution=solution))
        assert [(g.start + 1, g.end, g.title) for g in groups] == [
            (s["start"], s["end"], s["description"]) for s in record["sections"]]
        for g, section in zip(groups, record["sections"]):
            # content is the section's paragraphs; where DeltaBench's differs it is kept
            joined = "\n\n".join(n.text for n in path[g.start:g.end])
            assert g.metadata["section"].get("content", joined) == section["content"]
        labels = {info["section_number"]: info for info in record["sections_labeled_info"]}
        assert groups[0].metadata["labels"] == labels[1]
        ratings = ratings_of(solution)
        for number in record["reason_error_section_numbers"]:
            section, info = record["sections"][number - 1], labels[number]
            error = int(info["error_step"] or section["start"])
            assert ratings[path[error - 1].pk] == -1  # the first wrong paragraph
            assert all(ratings[path[p - 1].pk] == -1 for p in range(error, section["end"] + 1))
        for number, info in labels.items():
            if number > len(record["sections"]):
                continue
            section = record["sections"][number - 1]
            steps = [path[p - 1].pk for p in range(section["start"], section["end"] + 1)]
            if info["reasoning_correctness"] == "":  # unlabeled sections stay unrated
                assert not any(pk in ratings for pk in steps)
            elif info["reasoning_correctness"] == "0":
                want = 1 if info["reasoning_usefulness"] == "1" else 0
                assert {ratings[pk] for pk in steps} == {want}
        # paragraphs past the last section are unrated
        assert not any(n.pk in ratings for n in path[record["sections"][-1]["end"]:])

    again = import_deltabench(project, lines, source_name="examples.jsonl")
    assert (again.created, again.duplicates, again.rejected) == (0, 9, [])
    assert SolutionTrace.objects.filter(solution__project=project).count() == 9


def test_an_unuseful_correct_section_is_okay_and_an_error_section_is_bad_from_its_error_step(
        project, lines):
    record = json.loads(lines[0])
    record["sections_labeled_info"][0]["reasoning_usefulness"] = "0"  # section 1: paragraphs 1-3
    import_deltabench(project, [json.dumps(record)], source_name="one.jsonl")
    solution = Solution.objects.get(project=project)
    path = solution_path(solution)
    ratings = ratings_of(solution)
    assert [ratings[n.pk] for n in path[0:3]] == [0, 0, 0]
    # section 7 (paragraphs 43-51) has its error at paragraph 50: 43-49 correct, 50-51 bad
    assert [ratings[n.pk] for n in path[42:51]] == [1] * 7 + [-1, -1]


def test_explanations_are_critiques_of_the_first_wrong_step_with_the_correction(project, lines):
    import_deltabench(project, lines, source_name="examples.jsonl")
    records = [json.loads(line) for line in lines]
    want = 0
    for record in records:
        solution = Solution.objects.get(project=project, external_id=record["id"])
        path = solution_path(solution)
        sections = {i + 1: s for i, s in enumerate(record["sections"])}
        critiques = {c.node_id: c for c in Critique.objects.filter(assignment__solution=solution)
                     .select_related("correction", "author")}
        for info in record["sections_labeled_info"]:
            if info["reasoning_correctness"] != "1" or not info["explanation"].strip():
                continue
            want += 1
            error = int(info["error_step"] or sections[info["section_number"]]["start"])
            critique = critiques.pop(path[error - 1].pk)
            assert critique.text == info["explanation"].strip()
            assert (critique.origin, critique.author.username) == ("written", LABELER)
            assert critique.correction.text == info["correction"].strip()
            assert critique.correction.parent_id == path[error - 2].pk  # a sibling of the step
            assert critique.correction.author == "human"
        assert critiques == {}
    assert want == Critique.objects.filter(assignment__project=project).count() == 9
    # the ProcessBench row of a trace gains its first error's critique and correction
    first = records[0]
    spec = normalize_spec({"projects": [project.pk], "format": "processbench"})
    row = next(r for _s, r, _n in iter_rows(spec) if r["problem"] == first["question"])
    info = next(i for i in first["sections_labeled_info"] if i["reasoning_correctness"] == "1")
    assert row["label"] == int(info["error_step"]) - 1
    assert (row["critique"], row["correction"]) == (info["explanation"].strip(),
                                                    info["correction"].strip())
    # a second import writes no second critique
    import_deltabench(project, lines, source_name="examples.jsonl")
    assert Critique.objects.filter(assignment__project=project).count() == 9


def test_malformed_records_are_refused_with_their_reasons(project, lines):
    good = json.loads(lines[2])

    def variant(**changes):
        record = json.loads(json.dumps(good))
        for key, value in changes.items():
            if value is None:
                record.pop(key)
            else:
                record[key] = value
        return json.dumps(record)

    sections = good["sections"]
    overlapping = [dict(sections[0]), {**sections[1], "start": sections[0]["end"]}] + sections[2:]
    labels = [dict(i) for i in good["sections_labeled_info"]]
    bad_flag = [{**labels[0], "reasoning_correctness": "yes"}] + labels[1:]
    bad_error = [dict(i) for i in labels]
    bad_error[13]["error_step"] = "1"
    report = import_deltabench(project, [
        variant(long_cot=None),
        variant(sections=overlapping),
        variant(sections=[{**sections[0], "end": 999}]),
        variant(sections_labeled_info=bad_flag),
        variant(sections_labeled_info=bad_error),
        variant(long_cot=good["long_cot"] + "\n\n\n\nmore"),
        variant(sections="all"),
        "[1, 2]",
    ], source_name="bad.jsonl")
    reasons = dict(report.rejected)
    assert reasons[1] == "'long_cot' must be a string, got null"
    assert reasons[2].startswith("'sections[1]' covers paragraphs 3-6; sections must be in order")
    assert reasons[3].startswith("'sections[0]' covers paragraphs 1-999;")
    assert reasons[4] == ("'sections_labeled_info[0].reasoning_correctness' is 'yes'; "
                          "expected \"1\", \"0\" or \"\"")
    assert reasons[5] == ("'sections_labeled_info[13].error_step' 1 is outside section 14 "
                          "(paragraphs 38-40)")
    assert reasons[6].startswith("'long_cot' paragraph 79 is empty")
    assert reasons[7] == "'sections' must be a list, got str"
    assert reasons[8] == "expected a JSON object, got list"
    assert report.created == 0
    assert not Solution.objects.filter(project=project).exists()


def test_labels_survive_a_resegmentation_where_spans_still_match(project, lines):
    import_deltabench(project, lines[:1], source_name="one.jsonl")
    solution = Solution.objects.get(project=project)
    trace = solution.trace
    before = {tuple(span): rating for span, rating in zip(
        trace.spans, [ratings_of(solution).get(n.pk) for n in solution_path(solution)])}
    rated = sum(1 for r in before.values() if r is not None)
    # Sentences: a one-sentence paragraph keeps its span (and label); the others are re-cut.
    report = resegment(solution, strategy="sentence")
    solution.refresh_from_db()
    trace.refresh_from_db()
    assert trace.text == json.loads(lines[0])["long_cot"]
    assert trace.segmentation["strategy"] == "sentence"
    path = solution_path(solution)
    assert [trace.text[s:e] for s, e in trace.spans] == [n.text for n in path]
    after = ratings_of(solution)
    kept = {tuple(span): after[n.pk] for span, n in zip(trace.spans, path) if n.pk in after}
    assert kept and all(before[span] == rating for span, rating in kept.items())
    assert report.ratings_carried == len(kept)
    assert report.ratings_carried + report.ratings_dropped == rated
    assert report.ratings_dropped > 0
    # Groups still cover the same characters.
    groups = list(StepGroup.objects.filter(solution=solution))
    assert groups[0].start == 0 and groups[-1].end <= len(trace.spans)

    # Back to paragraphs through the command: the carried labels stay; the dropped do not return.
    call_command("resegment_traces", "--project", project.slug, "--strategy", "blank_line",
                 "--options", json.dumps({"separator": "\n\n", "trim": False, "protect": False}))
    solution.refresh_from_db()
    trace.refresh_from_db()
    assert [trace.text[s:e] for s, e in trace.spans] == trace.text.split("\n\n")
    final = ratings_of(solution)
    back = {tuple(span): final[n.pk] for span, n in zip(trace.spans, solution_path(solution))
            if n.pk in final}
    assert back == kept


def test_resegmentation_refusals(project, lines):
    import_deltabench(project, lines[:1], source_name="one.jsonl")
    solution = Solution.objects.get(project=project)
    with pytest.raises(ResegmentError, match="at most 10 are allowed"):
        resegment(solution, strategy="sentence", options={"max_steps": 10})
    with pytest.raises(ResegmentError, match="span 1 .* out of order"):
        resegment(solution, spans=[[0, 10], [5, 20]])
    other = Solution.objects.create(project=project, problem=solution.problem,
                                    last_step=solution_path(solution)[0])
    with pytest.raises(ResegmentError, match="has no trace"):
        resegment(other, strategy="sentence")


def test_console_recut_action(project, lines, client, make_user):
    from django.urls import reverse

    from annotate.models import Membership
    from workers.models import Run

    import_deltabench(project, lines[:1], source_name="one.jsonl")
    solution = Solution.objects.get(project=project)
    admin, reviewer = make_user("recut-admin"), make_user("recut-reviewer")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    url = reverse("manage:resegment_traces", args=[project.slug])
    client.force_login(reviewer)
    assert client.post(url, {"strategy": "sentence"}).status_code == 403
    client.force_login(admin)
    assert "1 imported long trace." in client.get(url).content.decode()
    bad = client.post(url, {"strategy": "sentence", "options": "[1]"})
    assert bad.status_code == 400 and "Give Options as a JSON object." in bad.content.decode()
    bad = client.post(url, {"strategy": "sentence", "solutions": "999999"})
    assert bad.status_code == 400
    assert "Some solutions are not traced solutions of this project" in bad.content.decode()
    # The re-cut itself is a resegment Run (tests/test_resegment_runs.py runs one in a worker).
    ok = client.post(url, {"strategy": "sentence", "solutions": str(solution.pk)})
    assert ok.status_code == 302
    run = Run.objects.get(kind="resegment", project=project)
    assert ok["Location"] == reverse("manage:run", args=[project.slug, run.pk])
    assert run.params == {"strategy": "sentence", "options": {}, "generator": {},
                          "solution_ids": [solution.pk]}
