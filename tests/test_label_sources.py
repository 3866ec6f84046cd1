"""Label sources: the machine-label import, labels_for over every kind of source, the report's
numbers (each computed here by hand), its page, CSV and API."""

import json

import pytest
from sklearn.metrics import cohen_kappa_score

from annotate.models import GoldLabel, Membership, PreAnnotation
from annotate.services.imports import check_options, import_machine_labels
from quality.label_report import build_report, cohen_kappa
from quality.labels import UnknownSource, labels_for, parse_source

from .manage_factories import add, make_project, make_solution, path_of, rate

pytestmark = [pytest.mark.django_db]


def _lines(*rows):
    return [json.dumps(r) for r in rows]


@pytest.fixture
def project(make_user):
    project = make_project("src")
    solutions = []
    for i in range(3):
        s = make_solution(project, n_steps=4, tag=f"t{i}")
        s.external_id = f"sol-{i}"
        s.save()
        solutions.append(s)
    return project, solutions


def test_import_rows_and_specific_rejections(project):
    project, (s0, s1, s2) = project
    report = import_machine_labels(project, _lines(
        {"solution": "sol-0", "step_labels": {"0": 1, "1": -1, "2": None},
         "step_reasons": {"1": "wrong sum"}},
        {"solution_id": s1.pk, "step_labels": [1, 1, 0, -1]},
        {"solution": "nope", "step_labels": {"0": 1}},
        {"solution": "sol-2", "step_labels": {"4": 1}},
        {"solution": "sol-2", "step_labels": {"0": 2}},
        {"solution": "sol-2", "step_labels": {"x": 1}},
        {"step_labels": {"0": 1}},
    ), source="judge-a", kind="judge", version={"model": "m-1", "prompt_version": "v2"})
    assert report.created == 2 and report.objects["pre_annotations"] == 7
    reasons = dict(report.rejected)
    assert reasons[3] == "no solution with external id 'nope' in this project"
    assert reasons[4] == "step 4 is out of range: the solution has 4 steps (positions 0-3)"
    assert reasons[5].startswith("'step_labels[0]' is 2; expected -1, 0, 1 or null")
    assert reasons[6] == "step key 'x' is no position (0 is the first step)"
    assert reasons[7].startswith("the row names no solution")
    n = path_of(s0)
    bad = PreAnnotation.objects.get(node=n[1], kind="judge", source="judge-a")
    assert (bad.rating, bad.value, bad.reason) == (-1, 0.0, "wrong sum")
    assert bad.provenance["version"] == {"model": "m-1", "prompt_version": "v2"}
    unparsed = PreAnnotation.objects.get(node=n[2], kind="judge")
    assert unparsed.rating is None and unparsed.provenance["unparsed"]
    # Importing again replaces the source's labels of the same steps.
    import_machine_labels(project, _lines({"solution": "sol-0", "step_labels": {"1": 1}}),
                          source="judge-a", kind="judge")
    assert PreAnnotation.objects.get(node=n[1], kind="judge").rating == 1
    assert labels_for("judge:judge-a", [s0.pk, s1.pk, s2.pk]) == {
        s0.pk: {0: 1, 1: 1, 2: None}, s1.pk: {0: 1, 1: 1, 2: 0, 3: -1}}


def test_options_are_checked():
    with pytest.raises(ValueError, match="'source' name"):
        check_options("machine_labels", {})
    with pytest.raises(ValueError, match="step_key"):
        check_options("machine_labels", {"source": "x", "step_key": "line"})
    with pytest.raises(ValueError, match="'kind'"):
        check_options("machine_labels", {"source": "x", "kind": "prm_score"})


def test_message_indexes_map_through_the_trajectory(project):
    project, solutions = project
    report = import_machine_labels(project, _lines({"solution": "sol-0", "step_labels": {"2": 1}}),
                                   source="j", step_key="message_index")
    assert "was not imported as an agent trajectory" in report.rejected[0][1]
    s0 = solutions[0]
    s0.trajectory = {"steps": [2, 4, 6, 8]}
    s0.save()
    report = import_machine_labels(project, _lines(
        {"solution": "sol-0", "step_labels": {"4": -1, "8": 1}, "step_reasons": {"4": "no"}},
        {"solution": "sol-0", "step_labels": {"3": 1}}), source="j", step_key="message_index")
    assert report.created == 1 and report.rejected == [(2, (
        "step key '3' is no assistant turn of the trajectory (its steps are messages "
        "2, 4, 6, 8)"))]
    assert labels_for("imported:j", [s0.pk]) == {s0.pk: {1: -1, 3: 1}}


def test_labels_for_every_source(project, make_user):
    project, (s0, s1, _s2) = project
    u1, u2 = make_user("ann-1"), make_user("ann-2")
    rate(s0, u1, [1, -1, None, 1])
    rate(s0, u2, [1, 0, 1, 1])
    n = path_of(s0)
    GoldLabel.objects.create(solution=s0, node=n[0], rating=1)
    GoldLabel.objects.create(solution=s0, node=n[3], rating=-1)
    for i, value in enumerate([1.0, 0.0, 0.4, 0.6]):
        PreAnnotation.objects.create(node=n[i], kind="mc_hard", source="mc", value=value)
        PreAnnotation.objects.create(node=n[i], kind="mc_soft", source="mc", value=value)
        PreAnnotation.objects.create(node=n[i], kind="prm_score", source="/m/prm", value=value)
    ids = [s0.pk, s1.pk]
    assert labels_for("human:ann-1", ids) == {s0.pk: {0: 1, 1: -1, 3: 1}}
    assert labels_for("human:consensus", ids) == {s0.pk: {0: 1, 1: None, 2: 1, 3: 1}}
    assert labels_for("gold", ids) == {s0.pk: {0: 1, 3: -1}}
    assert labels_for("mc_hard", ids) == {s0.pk: {0: 1, 1: -1, 2: -1, 3: 1}}
    assert labels_for("mc_soft:mc@0.3", ids) == {s0.pk: {0: 1, 1: -1, 2: 1, 3: 1}}
    assert labels_for("prm:/m/prm@0.5", ids) == {s0.pk: {0: 1, 1: -1, 2: -1, 3: 1}}
    assert parse_source("prm:/m/prm@0.7").threshold == 0.7
    for bad in ("prm@0.5", "mc_soft@x", "human", "judge", "llm:x"):
        with pytest.raises(UnknownSource):
            parse_source(bad)


def test_kappa_matches_sklearn():
    a = [1, 1, 0, -1, 1, -1, 0, 1, 1, -1]
    b = [1, 0, 0, -1, 1, 1, 0, 1, -1, -1]
    assert cohen_kappa(list(zip(a, b))) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa([]) is None and cohen_kappa([(1, 1), (1, 1)]) is None


def test_report_numbers(project, make_user):
    project, sols = project
    human = make_user("h")
    truth = [[1, 1, -1, -1], [1, 1, 1, 1], [1, -1, 0, 0]]
    a_lab = [[1, 1, -1, 1], [1, None, 1, 0], [1, -1, 0, -1]]
    b_lab = [[1, -1, -1, 1], [1, 1, 1, 0], [0, -1, 0, -1]]
    for s, t in zip(sols, truth):
        rate(s, human, t)
    for name, table in (("a", a_lab), ("b", b_lab)):
        import_machine_labels(project, _lines(*[
            {"solution": s.external_id, "step_labels": dict(enumerate(row))}
            for s, row in zip(sols, table)]), source=name, kind="judge")
    report = build_report(project, reference="human:h")
    assert report["steps"] == 12 and report["solutions"] == 3
    rows = {r["source"]: r for r in report["sources"]}
    flat = lambda t: [v for row in t for v in row]  # noqa: E731
    T, A, B = flat(truth), flat(a_lab), flat(b_lab)
    both = [(x, y) for x, y in zip(A, T) if x is not None]
    a = rows["judge:a"]
    assert a["labeled"] == 12 and a["coverage"] == 1.0 and a["unparsed"] == 1
    assert a["compared"] == 11 and a["agree"] == sum(x == y for x, y in both)
    assert a["accuracy"] == a["agree"] / 11 and a["agreement_on_reference"] == a["agree"] / 12
    assert a["kappa"] == pytest.approx(cohen_kappa_score([x for x, _ in both], [y for _, y in both]))
    # Pairwise kappa between the two judges, over the steps both label.
    pair = next(p for p in report["pairs"] if {p["a"], p["b"]} == {"judge:a", "judge:b"})
    ab = [(x, y) for x, y in zip(A, B) if x is not None]
    assert pair["compared"] == 11
    assert pair["kappa"] == pytest.approx(cohen_kappa_score(*zip(*ab)))
    # The agree rule over the two judges.
    rule = report["consensus"]
    kept = [(x, t) for x, y, t in zip(A, B, T) if x is not None and x == y]
    assert rule["sources"] == ["judge:a", "judge:b"]
    assert (rule["candidates"], rule["kept"]) == (11, len(kept))
    assert rule["kept_accuracy"] == sum(x == t for x, t in kept) / len(kept)
    # Per position: position 1 of each solution.
    pos1 = next(p for p in report["positions"] if p["position"] == 1)["sources"]["judge:b"]
    assert (pos1["compared"], pos1["agree"]) == (3, 2)
    # Per first-error index: solution 0's first error is at 2, solution 1 has none.
    groups = {g["first_error"]: g for g in report["first_error"]}
    assert set(groups) == {2, None, 1} and groups[None]["solutions"] == 1
    assert groups[2]["sources"]["judge:a"]["first_error_match"] == 1.0
    assert groups[1]["sources"]["judge:a"]["first_error_match"] == 1.0
    assert groups[None]["sources"]["judge:a"]["first_error_match"] == 1.0


def test_page_csv_and_api(client, make_user, project):
    project, sols = project
    admin, annotator = make_user("boss"), make_user("worker")
    add(project, admin, Membership.Role.REVIEWER)
    add(project, annotator)
    rate(sols[0], admin, [1, 1, -1, -1])
    import_machine_labels(project, _lines({"solution": "sol-0", "step_labels": [1, -1, -1, 1]}),
                          source="j1", kind="judge", version={"model": "judge-model"})
    client.force_login(admin)
    page = client.get(f"/manage/{project.slug}/label-sources/?reference=human:boss")
    assert page.status_code == 200 and b"judge-model" in page.content
    assert client.get(f"/manage/{project.slug}/label-sources/?reference=bogus").status_code == 400
    csv = client.get(f"/manage/{project.slug}/label-sources/sources.csv?reference=human:boss")
    assert csv.status_code == 200 and csv.content.decode().splitlines()[0].startswith("reference,source,")
    api = client.get(f"/api/projects/{project.pk}/label-sources/?reference=judge:j1")
    assert api.status_code == 200 and api.json()["reference"] == "judge:j1"
    assert client.get(f"/api/projects/{project.pk}/label-sources/?reference=x").status_code == 400
    client.force_login(annotator)
    assert client.get(f"/api/projects/{project.pk}/label-sources/").status_code == 403
    assert client.get(f"/manage/{project.slug}/label-sources/").status_code in (403, 404)


def test_a_shared_step_keeps_each_solutions_label(project):
    """Two trajectories sharing their first step: a judge may label it differently in each."""
    from annotate.models import Solution, StepNode

    project, (s0, _s1, _s2) = project
    first = path_of(s0)[0]
    other = StepNode.objects.create(problem=first.problem, parent=first, depth=1, text="else")
    twin = Solution.objects.create(project=project, problem=first.problem, last_step=other,
                                   external_id="twin")
    import_machine_labels(project, _lines({"solution": "sol-0", "step_labels": {"0": 1}},
                                          {"solution": "twin", "step_labels": {"0": -1, "1": 0}}),
                          source="j", kind="judge")
    PreAnnotation.objects.create(node=first, kind="judge", source="j", value=0.5, rating=0)
    assert labels_for("judge:j", [s0.pk, twin.pk, _s1.pk]) == {
        s0.pk: {0: 1}, twin.pk: {0: -1, 1: 0}}


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_upload_through_the_import_page(celery_worker, client, make_user):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from workers.models import Run

    from .conftest import wait_for_run

    admin = make_user("label-admin")
    project = make_project("upl", admin=admin)
    s = make_solution(project, n_steps=2, tag="u")
    s.external_id = "u-1"
    s.save()
    client.force_login(admin)
    url = f"/manage/{project.slug}/import/"
    data = "\n".join(_lines({"solution": "u-1", "step_labels": [1, -1]},
                            {"solution": "u-2", "step_labels": [1]})).encode()
    missing = client.post(url, {"file": SimpleUploadedFile("j.jsonl", data), "fmt": "machine_labels"})
    assert missing.status_code == 400 and b"need a source name" in missing.content
    response = client.post(url, {"file": SimpleUploadedFile("j.jsonl", data), "fmt": "machine_labels",
                                 "label_source": "batch-7", "label_kind": "judge",
                                 "label_version": '{"model": "m"}'})
    assert response.status_code == 302, response.content.decode()[:2000]
    run = wait_for_run(Run.objects.get(project=project, kind="import"))
    report = run.result
    assert report["created"] == 1 and report["rejected"][0][1] == (
        "no solution with external id 'u-2' in this project")
    assert labels_for("judge:batch-7", [s.pk]) == {s.pk: {0: 1, 1: -1}}


def test_import_data_command(project, tmp_path, capsys):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    project, (s0, _s1, _s2) = project
    path = tmp_path / "judge.jsonl"
    path.write_text("\n".join(_lines({"solution": "sol-0", "step_labels": [1, 0, -1, None]})))
    call_command("import_data", str(path), "--project", project.slug, "--format",
                 "machine_labels", "--source", "cli-judge", "--kind", "judge",
                 "--label-version", '{"model": "m", "sampling": {"temperature": 0}}')
    assert "1 rows created" in capsys.readouterr().out
    assert labels_for("judge:cli-judge", [s0.pk]) == {s0.pk: {0: 1, 1: 0, 2: -1, 3: None}}
    with pytest.raises(CommandError, match="'source' name"):
        call_command("import_data", str(path), "--project", project.slug, "--format",
                     "machine_labels")
    with pytest.raises(CommandError, match="apply to the machine_labels format"):
        call_command("import_data", str(path), "--project", project.slug, "--format",
                     "problems", "--source", "x")


def test_hints_leave_out_labels_given_in_another_solutions_context(project, make_user):
    from annotate.models import Assignment, Solution, StepNode
    from annotate.selectors.labeling import task_state

    project, (s0, _s1, _s2) = project
    project.show_hints = True
    project.save()
    first = path_of(s0)[0]
    other = StepNode.objects.create(problem=first.problem, parent=first, depth=1, text="twin")
    twin = Solution.objects.create(project=project, problem=first.problem, last_step=other)
    import_machine_labels(project, _lines({"solution": "sol-0", "step_labels": {"0": -1}}),
                          source="j", kind="judge")
    PreAnnotation.objects.create(node=first, kind="mc_hard", source="mc", value=1.0)
    hints = {}
    for n, solution in enumerate((s0, twin)):
        user = make_user(f"hinted-{n}")
        add(project, user)
        assignment = Assignment.objects.create(project=project, solution=solution, annotator=user)
        state = task_state(assignment)
        hints[solution.pk] = sorted(h.kind for h in state.positions[0].items[0].hints)
    assert hints == {s0.pk: ["judge", "mc_hard"], twin.pk: ["mc_hard"]}
