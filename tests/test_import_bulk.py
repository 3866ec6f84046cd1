"""The bulk import path at batch scale: bad rows scattered through batches of a thousand,
and two import processes writing overlapping files into one project at once."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from annotate.models import Assignment, Problem, Project, Solution, StepNode, StepRating
from annotate.services.imports import import_prm800k
from annotate.services.imports.rows import BATCH_ROWS

REPO = Path(__file__).resolve().parent.parent
FILES = ("phase1_sample.jsonl", "phase2_sample.jsonl")


def replicas(shared_data, start: int, stop: int) -> list[str]:
    """Copies of the 12 shared records, each copy with its own problem, steps and labeler."""
    records = [json.loads(line) for name in FILES
               for line in (shared_data / "prm800k" / name).read_text().splitlines() if line.strip()]
    lines = []
    for k in range(start, stop):
        for rec in records:
            tag = f" [copy {k}]"
            r = json.loads(json.dumps(rec))
            r["labeler"] += f"-{k}"
            r["question"]["problem"] += tag
            if r["question"].get("pre_generated_steps"):
                r["question"]["pre_generated_steps"] = [s + tag for s in r["question"]["pre_generated_steps"]]
            for step in r["label"]["steps"]:
                for c in step["completions"]:
                    c["text"] += tag
                if step["human_completion"]:
                    step["human_completion"]["text"] += tag
            lines.append(json.dumps(r))
    return lines


def counts(project) -> dict:
    return {"problems": Problem.objects.filter(project=project).count(),
            "nodes": StepNode.objects.filter(problem__project=project).count(),
            "solutions": Solution.objects.filter(project=project).count(),
            "assignments": Assignment.objects.filter(project=project).count(),
            "ratings": StepRating.objects.filter(assignment__project=project).count()}


@pytest.mark.django_db
def test_bad_rows_scattered_through_large_batches(shared_data):
    good = replicas(shared_data, 0, 90)  # 1080 records: two batches
    assert len(good) > BATCH_ROWS
    relabel = json.loads(good[10])
    relabel["timestamp"] = "2023-01-01T00:00:00"
    nul_step = json.loads(good[1040])
    nul_step["label"]["steps"][0]["completions"][0]["text"] = "a NUL \x00 byte"
    nul_step["question"]["problem"] += " (new)"
    nul_problem = json.loads(good[5])
    nul_problem["question"]["problem"] = "What is \x00?"
    wrong_type = json.loads(good[7])
    wrong_type["label"]["steps"][0]["completions"][0]["rating"] = "great"
    # Inserted before the given index of the good lines (0-based), so line numbers shift.
    bad = {3: "{not json", 400: json.dumps(relabel), 998: json.dumps(nul_problem),
           999: json.dumps(wrong_type), 1000: json.dumps(relabel), 1050: json.dumps(nul_step)}
    lines, expected = [], {}
    for i, line in enumerate(good):
        if i in bad:
            lines.append(bad[i])
            expected[len(lines)] = bad[i]
        lines.append(line)
    project = Project.objects.create(name="Bulk", slug="bulk")
    report = import_prm800k(project, lines, source_name="big.jsonl", grade_answers=False)
    reasons = dict(report.rejected)
    assert sorted(reasons) == sorted(expected)
    by_kind = {line: next(k for k, v in bad.items() if v == expected[line]) for line in expected}
    for line, reason in reasons.items():
        kind = by_kind[line]
        if kind == 3:
            assert reason.startswith("malformed JSON")
        elif kind in (400, 1000):
            assert reason.startswith("labeler ") and "already has an assignment" in reason
        elif kind == 999:
            assert "rating' is 'great'" in reason
        else:  # PostgreSQL text cannot hold NUL: the database refuses that row alone
            assert reason.startswith("database refused the row:"), reason
    assert (report.created, report.duplicates) == (len(good), 0)
    assert not Problem.objects.filter(statement__contains="(new)").exists()
    # Every good row once: the same rows as importing the good lines alone.
    reference = Project.objects.create(name="Ref", slug="ref")
    ref = import_prm800k(reference, good, source_name="good.jsonl", grade_answers=False)
    assert report.objects == ref.objects
    assert counts(project) == counts(reference) == {
        "problems": ref.objects["problems"], "nodes": ref.objects["nodes"],
        "solutions": ref.objects["solutions"], "assignments": len(good),
        "ratings": ref.objects["ratings"]}
    again = import_prm800k(project, lines, source_name="big.jsonl", grade_answers=False)
    assert (again.created, again.duplicates) == (0, len(good))
    assert sorted(dict(again.rejected)) == sorted(expected)
    assert counts(project) == counts(reference)


class Cancelled(Exception):
    pass


@pytest.mark.portable
@pytest.mark.django_db
def test_a_cancel_between_batches_leaves_only_whole_rows(shared_data):
    lines = replicas(shared_data, 0, 90)
    seen = []

    def progress(done):  # what a Run's progress does when a cancel was requested
        seen.append(done)
        raise Cancelled

    project = Project.objects.create(name="Cancel", slug="cancel")
    with pytest.raises(Cancelled):
        import_prm800k(project, lines, source_name="big.jsonl", grade_answers=False,
                       progress=progress)
    assert seen == [BATCH_ROWS]
    reference = Project.objects.create(name="First batch", slug="first-batch")
    ref = import_prm800k(reference, lines[:BATCH_ROWS], source_name="part.jsonl",
                         grade_answers=False)
    assert ref.created == BATCH_ROWS
    assert counts(project) == counts(reference)


DRIVER = """
import json, os, sys, time
from pathlib import Path
import django
django.setup()
from annotate.models import Project
from annotate.services.imports import import_file
path, slug, me, other = sys.argv[1:5]
Path(me).touch()
while not Path(other).exists():  # start together, so the two imports overlap in time
    time.sleep(0.01)
report = import_file(Project.objects.get(slug=slug), path, "prm800k", {"grade_answers": False})
print(json.dumps(report.to_dict()))
"""


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_imports_of_overlapping_files(shared_data, tmp_path):
    first = replicas(shared_data, 0, 40)
    second = replicas(shared_data, 20, 60)[::-1]  # the overlap, in the other order
    overlap = len(set(first) & set(second))
    assert overlap == 20 * 12
    project = Project.objects.create(name="Concurrent", slug="concurrent")
    env = {**os.environ, "STEPWISE_TEST_WORKER": "1", "DJANGO_SETTINGS_MODULE": "tests.settings",
           "PYTHONPATH": str(REPO)}
    procs = []
    for name, lines in (("a", first), ("b", second)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(lines) + "\n")
        other = "b" if name == "a" else "a"
        procs.append(subprocess.Popen(
            [sys.executable, "-c", DRIVER, str(path), project.slug, str(tmp_path / f"{name}.ready"),
             str(tmp_path / f"{other}.ready")], cwd=REPO, env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    reports = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        reports.append(json.loads(out.strip().splitlines()[-1]))
    for report, lines in zip(reports, (first, second)):
        assert report["rejected"] == [] and report["rejected_count"] == 0
        assert report["created"] + report["duplicates"] == len(lines)
    # Each record once: the overlap counted as created by one import, duplicate by the other.
    assert reports[0]["created"] + reports[1]["created"] == len(set(first) | set(second))
    assert reports[0]["duplicates"] + reports[1]["duplicates"] == overlap
    reference = Project.objects.create(name="Sequential", slug="sequential")
    ref = import_prm800k(reference, sorted(set(first) | set(second)), source_name="all.jsonl",
                         grade_answers=False)
    assert counts(project) == counts(reference)
    assert counts(project)["assignments"] == ref.created == len(set(first) | set(second))
    made = {k: reports[0]["objects"].get(k, 0) + reports[1]["objects"].get(k, 0)
            for k in ref.objects}
    assert made == dict(ref.objects)


@pytest.mark.portable
@pytest.mark.django_db
def test_api_solution_ingest_writes_a_request_as_one_batch(make_user):
    from tests.exports_data import build
    from tests.test_api_resources import api

    lab = build(make_user, slug="ingest")
    project = lab["project"]
    problem = Problem.objects.create(project=project, statement="Count to 60.", external_id="c60")
    shared = [f"Step {i}." for i in range(40)]
    items = [{"problem_external_id": "c60", "external_id": f"s{k}",
              "steps": shared + [f"So the end is {k}."]} for k in range(60)]
    items.append({"problem_id": problem.pk, "external_id": "s3", "steps": ["Another path."]})
    items.append({"problem_id": problem.pk, "steps": shared + ["So the end is 7."]})
    client = api(lab["users"]["admin"])
    data = client.post("/api/solutions/bulk/", {"project": project.pk, "items": items},
                       format="json").json()
    assert [r["status"] for r in data["results"]] == ["created"] * 60 + ["existing"] * 2
    assert data["results"][60]["id"] == data["results"][3]["id"]  # the same external id
    assert data["results"][61]["id"] == data["results"][7]["id"]  # the same path
    assert StepNode.objects.filter(problem=problem).count() == 40 + 60
    again = client.post("/api/solutions/bulk/", {"project": project.pk, "items": items},
                        format="json").json()
    assert [r["id"] for r in again["results"]] == [r["id"] for r in data["results"]]
    assert {r["status"] for r in again["results"]} == {"existing"}
    assert Solution.objects.filter(problem=problem).count() == 60


@pytest.mark.portable
@pytest.mark.django_db
def test_blanks_of_a_problem_are_filled_once_within_and_across_batches():
    from annotate.services.imports import import_problems

    project = Project.objects.create(name="Fill", slug="fill")
    rows = [{"problem": "What is 6*7?"}, {"problem": "What is 6*7?", "answer": "\\boxed{42}"},
            {"problem": "What is 6*7?", "answer": "41", "level": 2}]
    first = import_problems(project, [json.dumps(r) for r in rows], source_name="p.jsonl")
    assert (first.created, first.duplicates) == (1, 2)
    problem = Problem.objects.get(project=project)
    assert (problem.ground_truth_answer, problem.level) == ("42", 2)
    assert problem.metadata == {"ground_truth_raw": "\\boxed{42}"}
    later = [{"problem": "What is 6*7?", "answer": "43", "subject": "Arithmetic", "id": "q1"},
             {"problem": "What is 7*8?", "id": "q1"}]
    again = import_problems(project, [json.dumps(r) for r in later], source_name="q.jsonl")
    # The existing problem keeps its answer and gets the subject; its external id is not
    # filled in, so q1 names the new problem.
    assert (again.created, again.duplicates, again.rejected) == (1, 1, [])
    problem.refresh_from_db()
    assert (problem.ground_truth_answer, problem.subject, problem.external_id) == (
        "42", "Arithmetic", "")
    assert Problem.objects.get(external_id="q1").statement == "What is 7*8?"
    taken = import_problems(project, [json.dumps({"problem": "What is 9*9?", "id": "q1"}),
                                      json.dumps({"problem": "What is 9*8?", "id": "q2"}),
                                      json.dumps({"problem": "What is 9*7?", "id": "q2"})],
                            source_name="r.jsonl")
    message = "external id '{}' already names a problem with another statement"
    assert taken.rejected == [(1, message.format("q1")), (3, message.format("q2"))]
    assert taken.created == 1


@pytest.mark.portable
@pytest.mark.django_db
def test_api_problem_ingest_resolves_repeats_within_a_request(make_user):
    from tests.exports_data import build
    from tests.test_api_resources import api

    lab = build(make_user, slug="ingestp")
    project = lab["project"]
    items = [{"external_id": "a", "statement": "One?"},
             {"external_id": "a", "statement": "One, again?"},  # the same external id
             {"external_id": "b", "statement": "One?"},  # the statement has external id a
             {"statement": "One?"},
             {"external_id": "p1", "statement": "What is 2+3*4?"}]  # in the lab already
    client = api(lab["users"]["admin"])
    data = client.post("/api/problems/bulk/", {"project": project.pk, "items": items},
                       format="json").json()
    results = data["results"]
    assert [r["status"] for r in results] == ["created", "existing", "error", "existing",
                                              "existing"]
    first = Problem.objects.get(project=project, external_id="a")
    assert first.statement == "One?" and results[0]["id"] == results[1]["id"] == first.pk
    assert results[2]["errors"] == {"statement": [
        f"Problem {first.pk} already has this statement (external id 'a')."]}
    assert results[4]["id"] == Problem.objects.get(project=project, external_id="p1").pk
    again = client.post("/api/problems/bulk/", {"project": project.pk, "items": items},
                        format="json").json()["results"]
    assert [r["status"] for r in again] == ["existing", "existing", "error", "existing",
                                            "existing"]
    assert not Problem.objects.filter(statement="One, again?").exists()
