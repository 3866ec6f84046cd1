"""What trainers receive, case by case: texts never edited, no file a trainer cannot load,
PRMBench's ground truths and repeated ids, consensus alternatives."""

import json

import pytest

from annotate.models import Problem, Project, Solution
from exports.models import ExportSnapshot
from exports.services import EmptyExport, build_snapshot
from exports.spec import normalize_spec
from exports.writers import iter_rows
from tests.exports_data import build, path, submit

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def rows(project, **spec):
    spec = normalize_spec({"projects": [project.pk], **spec})
    return [row for _split, row, _steps in iter_rows(spec)]


def snapshot(project, settings, tmp_path, **spec):
    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = normalize_spec({"projects": [project.pk], **spec})
    snap = ExportSnapshot.objects.create(name=f"t-{spec['format']}", version=1,
                                         format=spec["format"], filters=spec)
    snap.projects.set([project])
    return snap


def test_openrlhf_keeps_whitespace_of_problem_and_steps(make_user):
    project = Project.objects.create(name="Ws", slug="ws")
    problem = Problem.objects.create(project=project, statement="  What is 1+1?\n")
    a, b = path(problem, ["  1+1 = 2.\n", "# Answer\n\n2 "])
    solution = Solution.objects.create(problem=problem, last_step=b, final_answer="2")
    submit(project, solution, make_user("ws"), {a: 1, b: 1})
    (row,) = rows(project, format="openrlhf")
    assert row["input"] == "  What is 1+1?\n\n  1+1 = 2.\n ки\n# Answer\n\n2  ки"
    assert row["label"] == ["+", "+"]


def test_an_export_whose_only_row_is_refused_fails_with_the_reason(make_user, settings,
                                                                      tmp_path):
    project = Project.objects.create(name="Ru", slug="ru")
    problem = Problem.objects.create(project=project, statement="Сколько билетов в кино?")
    (a,) = path(problem, ["Пять."])
    submit(project, Solution.objects.create(problem=problem, last_step=a), make_user("ru"),
           {a: 1})
    snap = snapshot(project, settings, tmp_path, format="openrlhf")
    with pytest.raises(EmptyExport, match="Every row of the 'all' split was refused"):
        build_snapshot(snap.pk)
    snap.refresh_from_db()
    assert snap.status == "failed" and "the problem contains the placeholder" in snap.error
    assert not list((tmp_path / "exports").glob("*/*.jsonl"))  # no 0-byte file left behind
    empty = snapshot(Project.objects.create(name="None", slug="none"), settings, tmp_path,
                     format="trl")
    with pytest.raises(EmptyExport, match="No labeled rows match"):
        build_snapshot(empty.pk)


def test_an_empty_parquet_export_fails_too(settings, tmp_path):
    # datasets cannot load a Parquet file of no rows either ("corresponds to no data")
    snap = snapshot(Project.objects.create(name="Nothing", slug="nothing"), settings, tmp_path,
                    format="parquet")
    with pytest.raises(EmptyExport, match="No labeled rows match"):
        build_snapshot(snap.pk)
    assert not list((tmp_path / "exports").glob("*/*.parquet*"))


def test_consensus_expand_alternatives_in_first_error_labels(make_user):
    lab = build(make_user)
    out = rows(lab["project"], format="trl", labels="consensus", gold="exclude",
               expand_alternatives=True)
    # b is a tie (no label), so the labeled prefix is a; b2 (rated Great) is its alternative
    assert [(r["completions"], r["labels"]) for r in out] == [
        (["3*4 = 12."], [True]), (["3*4 = 12.", "2+12 = 14."], [True, True])]


def prmbench(idx, modified, **extra):
    original = ["Adding gives $2x=12$, so $x=6$.", "Then $y=4$.", "The answer is: 4"]
    return json.dumps({"question": "Two numbers add to 10 and differ by 2. The smaller?",
                       "original_process": original, "modified_process": modified,
                       "error_steps": [], "classification": "multi_solutions", "idx": idx,
                       **extra})


def test_prmbench_ground_truth_reaches_rl_prompts_and_repeated_idx_get_own_ids(make_user):
    from annotate.services.imports import import_prmbench

    project = Project.objects.create(name="Bench", slug="bench")
    lines = [prmbench("p7", ["Subtracting gives $2y=8$.", "The answer is: 4"],
                      ground_truth="\\boxed{4}"),
             prmbench("p7", ["So $y=10-6=4$.", "The answer is: 4"], ground_truth="4"),
             prmbench("p7", ["Subtracting gives $2y=8$.", "The answer is: 4"],
                      ground_truth="\\boxed{4}")]  # the first row again
    report = import_prmbench(project, lines, source_name="multi_solutions.jsonl")
    assert (report.created, report.duplicates, report.rejected) == (2, 1, [])
    modified = sorted(Solution.objects.filter(external_id__endswith=":modified")
                      .values_list("external_id", flat=True))
    assert modified == ["multi_solutions:p7#2:modified", "multi_solutions:p7:modified"]
    assert Problem.objects.get(project=project).ground_truth_answer == "4"
    (prompt,) = rows(project, format="rl_prompts")
    assert prompt["ground_truth"] == prompt["reward_model"]["ground_truth"] == "4"
    again = import_prmbench(project, lines, source_name="multi_solutions.jsonl")
    assert (again.created, again.duplicates) == (0, 3)


@pytest.mark.django_db(transaction=True)
def test_the_export_run_of_an_empty_file_fails_with_its_reason(make_user, celery_worker):
    from annotate.models import Membership
    from exports.services import create_snapshot
    from tests.conftest import wait_for_run

    admin = make_user("empty-admin")
    project = Project.objects.create(name="Ki", slug="ki")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    problem = Problem.objects.create(project=project, statement="Сколько стоит кино?")
    (a,) = path(problem, ["Пять."])
    submit(project, Solution.objects.create(problem=problem, last_step=a), admin, {a: 1})
    snap = create_snapshot(user=admin, raw_spec={"projects": [project.pk],
                                                 "format": "openrlhf"})
    run = wait_for_run(snap.run, timeout=120)
    snap.refresh_from_db()
    assert run.status == "failed" and snap.status == "failed"
    assert run.reason.startswith("Every row of the 'all' split was refused (1)")
    assert "choose another placeholder" in run.reason and not snap.files


def test_expand_alternatives_where_no_row_can_carry_one_is_refused_by_name():
    from exports.spec import SpecError

    for extra, message in (({"format": "openrlhf"}, "trl and parquet formats only"),
                           ({"format": "trl", "labels": "gold"}, "no alternatives")):
        with pytest.raises(SpecError) as err:
            normalize_spec({"projects": [1], "expand_alternatives": True, **extra})
        assert message in err.value.errors["expand_alternatives"]
    for labels in ("per_annotator", "consensus"):
        assert normalize_spec({"projects": [1], "format": "parquet", "labels": labels,
                               "expand_alternatives": True})["expand_alternatives"]
