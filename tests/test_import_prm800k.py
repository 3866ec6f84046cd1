"""PRM800K import: the step tree, ratings, duplicates and rejected lines."""

import json

import pytest

from annotate.models import (
    Assignment,
    GoldLabel,
    PreAnnotation,
    Problem,
    Project,
    RatingChange,
    Solution,
    StepNode,
    StepRating,
)
from annotate.services.imports import import_prm800k

pytestmark = [pytest.mark.portable, pytest.mark.django_db]

FILES = ("phase1_sample.jsonl", "phase2_sample.jsonl")


def table_counts():
    from django.contrib.auth import get_user_model

    return {m.__name__: m.objects.count() for m in (
        Problem, StepNode, Solution, Assignment, StepRating, GoldLabel, PreAnnotation, RatingChange,
        get_user_model())}


def load(shared_data, name):
    return (shared_data / "prm800k" / name).read_text().splitlines()


@pytest.fixture
def project():
    return Project.objects.create(name="PRM", slug="prm")


def import_all(project, shared_data):
    return [import_prm800k(project, load(shared_data, f), source_name=f) for f in FILES]



def test_phase2_tree_solution_and_repeated_sibling_text(project, shared_data):
    import_all(project, shared_data)
    lines = load(shared_data, "phase2_sample.jsonl")
    original = json.loads(lines[2])  # step 2 has two completions with identical text
    pre = original["question"]["pre_generated_steps"]
    a = Assignment.objects.get(annotator__username=f"prm800k-{original['labeler']}")
    assert a.source == "import" and a.status == "submitted" and a.finish_reason == "found_error"
    assert a.generation == 6 and a.total_time_ms == original["label"]["total_time"]
    assert not a.annotator.is_active and a.labeled_at.isoformat().startswith("2022-11-17T18:14:18")
    solution = a.solution
    assert solution.final_answer == original["question"]["pre_generated_answer"]
    assert solution.metadata["pre_generated"]["verifier_score"] == pytest.approx(
        original["question"]["pre_generated_verifier_score"])
    path, node = [], solution.last_step
    while node:
        path.append(node.text)
        node = node.parent
    assert path[::-1] == pre
    repeated = a.presentation[2]["candidates"]
    assert len(repeated) == 2 and repeated[0] == repeated[1]
    # One StepRating for the node; the repeated slot keeps its own (different) flag.
    assert StepRating.objects.get(assignment=a, node_id=repeated[0]).flagged is None
    assert a.presentation[2]["slots"]["1"] == {"rating": -1, "flagged": False}


def test_phase1_siblings_and_human_completion(project, shared_data):
    import_all(project, shared_data)
    original = json.loads(load(shared_data, "phase1_sample.jsonl")[0])
    a = Assignment.objects.get(annotator__username=f"prm800k-{original['labeler']}",
                               solution__problem__statement=original["question"]["problem"])
    step1 = a.presentation[1]
    human = StepNode.objects.get(pk=step1["human"])
    assert human.author == "human" and human.text == original["label"]["steps"][1]["human_completion"]["text"]
    siblings = StepNode.objects.filter(parent=human.parent)
    assert set(siblings.values_list("pk", flat=True)) == set(step1["candidates"]) | {human.pk}
    # The solution is the chosen/human path: 6 steps, the human step second.
    assert a.solution.last_step.depth == 5
    assert StepNode.objects.get(pk=a.presentation[2]["candidates"][0]).parent_id == human.pk
    ratings = dict(StepRating.objects.filter(assignment=a).values_list("node_id", "rating"))
    assert [ratings[i] for i in step1["candidates"]] == [-1] * 5


def test_importing_twice_creates_nothing(project, shared_data):
    import_all(project, shared_data)
    before = table_counts()
    reports = import_all(project, shared_data)
    assert [(r.created, r.duplicates) for r in reports] == [(0, 3), (0, 9)]
    assert reports[1].duplicate_lines == list(range(1, 10))
    assert table_counts() == before


def test_bad_lines_are_rejected_with_line_numbers_and_never_half_written(project, shared_data):
    good = load(shared_data, "phase2_sample.jsonl")
    late_failure = json.loads(good[0])
    # A new problem whose tree would be written before the too-long answer is seen.
    late_failure["question"]["problem"] = "A brand new problem?"
    late_failure["question"]["pre_generated_answer"] = "9" * 20_000
    missing = json.loads(good[1])
    del missing["label"]["steps"][0]["completions"][0]["text"]
    wrong_type = json.loads(good[2])
    wrong_type["label"]["steps"][0]["completions"][0]["rating"] = "great"
    bad_chosen = json.loads(good[3])
    bad_chosen["label"]["steps"][0]["chosen_completion"] = 7
    oversized = json.loads(good[4])
    oversized["label"]["steps"][0]["completions"][0]["text"] = "x" * 100_001
    lines = [good[5], "{not json", json.dumps(late_failure), "", json.dumps(missing),
             json.dumps(wrong_type), json.dumps(bad_chosen), json.dumps(oversized), "[1, 2]"]
    before = table_counts()
    report = import_prm800k(project, lines, source_name="bad.jsonl")
    assert report.created == 1
    reasons = dict(report.rejected)
    assert sorted(reasons) == [2, 3, 5, 6, 7, 8, 9]
    assert reasons[2].startswith("malformed JSON")
    assert "question.pre_generated_answer" in reasons[3] and "limit is 10000" in reasons[3]
    assert reasons[5] == "missing field 'label.steps[0].completions[0].text'"
    assert "rating' is 'great'" in reasons[6]
    assert "chosen_completion' is 7" in reasons[7]
    assert "100001 characters" in reasons[8]
    assert reasons[9] == "expected a JSON object, got list"
    assert report.messages()[0].startswith("bad.jsonl line 2: malformed JSON")
    after = table_counts()
    # Only the good line (6) wrote anything; the late failure left no problem or nodes.
    assert not Problem.objects.filter(statement="A brand new problem?").exists()
    assert after["Assignment"] == before["Assignment"] + 1
    assert after["Problem"] == before["Problem"] + 1
    good_only = Project.objects.create(name="Q", slug="q")
    ref = import_prm800k(good_only, [good[5]], source_name="good.jsonl")
    assert after["StepNode"] - before["StepNode"] == ref.objects["nodes"]
    assert after["StepRating"] - before["StepRating"] == ref.objects["ratings"]


def test_conflicting_relabel_of_the_same_solution_is_rejected(project, shared_data):
    line = load(shared_data, "phase2_sample.jsonl")[0]
    import_prm800k(project, [line], source_name="a.jsonl")
    record = json.loads(line)
    record["timestamp"] = "2023-01-01T00:00:00"
    before = table_counts()
    report = import_prm800k(project, [json.dumps(record)], source_name="b.jsonl")
    assert report.rejected and "already has an assignment" in report.rejected[0][1]
    assert table_counts() == before
