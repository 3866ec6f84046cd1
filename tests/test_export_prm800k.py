"""PRM800K export: imported records come back exactly; Stepwise-labeled ones sensibly."""

import json

import pytest
from django.core.management import call_command

from annotate.models import Assignment, Problem, Project, Solution, StepNode, StepRating
from annotate.services.exports.prm800k import prm800k_record, prm800k_records
from annotate.services.imports import import_prm800k

pytestmark = [pytest.mark.portable, pytest.mark.django_db]

FILES = ("phase1_sample.jsonl", "phase2_sample.jsonl")


def load(shared_data, name):
    return (shared_data / "prm800k" / name).read_text().splitlines()


@pytest.fixture
def project():
    return Project.objects.create(name="PRM", slug="prm")


def import_all(project, shared_data):
    return [import_prm800k(project, load(shared_data, f), source_name=f) for f in FILES]


def test_every_record_round_trips_step_for_step(project, shared_data):
    reports = import_all(project, shared_data)
    assert [(r.created, r.duplicates, r.rejected) for r in reports] == [(3, 0, []), (9, 0, [])]
    originals = [json.loads(line) for f in FILES for line in load(shared_data, f)]
    exported = list(prm800k_records(Assignment.objects.filter(project=project)))
    assert len(exported) == len(originals) == 12
    for original, record in zip(originals, exported):
        assert record.pop("stepwise")["source"] == "import"
        # The whole record: labels (completions text/rating/flagged, human_completion,
        # chosen_completion, total_time, finish_reason), question fields and record fields.
        assert record == original

def test_stepwise_labeled_assignment_exports_sensibly(project, make_user):
    problem = Problem.objects.create(project=project, statement="1+1?", ground_truth_answer="2")
    s1 = StepNode.objects.create(problem=problem, parent=None, depth=0, text="We add.")
    s2 = StepNode.objects.create(problem=problem, parent=s1, depth=1, text="So 3.")
    alt = StepNode.objects.create(problem=problem, parent=s1, depth=1, text="So 2.", author="model")
    s3 = StepNode.objects.create(problem=problem, parent=s2, depth=2, text="# Answer\n\n3")
    solution = Solution.objects.create(problem=problem, last_step=s3, final_answer="3",
                                       is_correct=False)
    user = make_user("ann")
    a = Assignment.objects.create(project=project, solution=solution, annotator=user,
                                  status="submitted", finish_reason="found_error",
                                  total_time_ms=1234)
    StepRating.objects.create(assignment=a, node=s1, rating=1, flagged=False)
    StepRating.objects.create(assignment=a, node=s2, rating=-1, flagged=True)
    StepRating.objects.create(assignment=a, node=alt, rating=1, flagged=False)
    record = prm800k_record(a)
    assert record["labeler"] == "ann"
    assert record["question"] == {"problem": "1+1?", "ground_truth_answer": "2"}
    assert record["label"] == {
        "steps": [
            {"completions": [{"text": "We add.", "rating": 1, "flagged": False}],
             "human_completion": None, "chosen_completion": 0},
            {"completions": [{"text": "So 3.", "rating": -1, "flagged": True},
                             {"text": "So 2.", "rating": 1, "flagged": False}],
             "human_completion": None, "chosen_completion": None},
        ],
        "total_time": 1234, "finish_reason": "found_error",
    }

def test_commands_import_and_export(project, shared_data, tmp_path, capsys):
    for name in FILES:
        call_command("import_data", str(shared_data / "prm800k" / name), project="prm",
                     fmt="prm800k")
    out = capsys.readouterr().out
    assert "phase1_sample.jsonl (prm800k): 3 rows created" in out
    assert "phase2_sample.jsonl (prm800k): 9 rows created" in out
    target = tmp_path / "out.jsonl"
    call_command("export_prm800k", str(target), project="prm", no_stepwise_keys=True)
    exported = [json.loads(line) for line in target.read_text().splitlines()]
    originals = [json.loads(line) for f in FILES for line in load(shared_data, f)]
    assert exported == originals



def test_export_reads_current_ratings_so_corrections_show(project, shared_data):
    import_all(project, shared_data)
    line = load(shared_data, "phase2_sample.jsonl")[0]
    original = json.loads(line)
    a = Assignment.objects.get(annotator__username=f"prm800k-{original['labeler']}")
    first = StepRating.objects.get(assignment=a, node_id=a.presentation[0]["candidates"][0])
    first.rating = -1
    first.save()
    record = prm800k_record(a)
    assert record["label"]["steps"][0]["completions"][0]["rating"] == -1
    assert record["label"]["steps"][1:] == original["label"]["steps"][1:]


def test_bad_problem_record_without_steps_round_trips(project, shared_data):
    record = json.loads(load(shared_data, "phase2_sample.jsonl")[0])
    record["label"] = {"steps": [], "total_time": 5000, "finish_reason": "bad_problem"}
    report = import_prm800k(project, [json.dumps(record)], source_name="bad_problem.jsonl")
    assert report.created == 1
    exported = prm800k_record(Assignment.objects.get(project=project))
    exported.pop("stepwise")
    assert exported == record


def test_ui_presentation_with_a_human_step_exports_prm800k_shape(project, make_user):
    problem = Problem.objects.create(project=project, statement="2*3?", ground_truth_answer="6")
    first = StepNode.objects.create(problem=problem, parent=None, depth=0, text="Multiply.")
    wrong = StepNode.objects.create(problem=problem, parent=first, depth=1, text="It is 5.")
    mine = StepNode.objects.create(problem=problem, parent=first, depth=1, text="It is 6.",
                                   author="human")
    solution = Solution.objects.create(problem=problem, last_step=mine, final_answer="6")
    a = Assignment.objects.create(
        project=project, solution=solution, annotator=make_user("writer"), status="submitted",
        finish_reason="solution",
        presentation=[{"candidates": [first.pk], "chosen": 0, "human": None},
                      {"candidates": [wrong.pk], "chosen": None, "human": mine.pk}])
    StepRating.objects.create(assignment=a, node=first, rating=0, flagged=False)
    StepRating.objects.create(assignment=a, node=wrong, rating=-1, flagged=False)
    steps = prm800k_record(a)["label"]["steps"]
    assert steps[1] == {
        "completions": [{"text": "It is 5.", "rating": -1, "flagged": False}],
        "human_completion": {"text": "It is 6.", "rating": None, "source": "human", "flagged": False},
        "chosen_completion": None,
    }
    assert steps[0]["completions"] == [{"text": "Multiply.", "rating": 0, "flagged": False}]


def test_a_chunk_of_records_costs_three_queries(project, shared_data,
                                                django_assert_max_num_queries):
    """A chunk of records loads its assignments, their step nodes and their ratings once:
    no query per step (the path is walked in memory) or per record."""
    import_all(project, shared_data)
    assignments = Assignment.objects.filter(project=project)
    assert assignments.count() == 12
    with django_assert_max_num_queries(3):
        records = list(prm800k_records(assignments))
    assert len(records) == 12 and all(r["label"]["steps"] for r in records)
