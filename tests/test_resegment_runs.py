"""Re-segmentation as a Run (``generation.resegmenting``): started from the console form and
``POST /api/runs/``, run by a real Celery worker with progress and a report (re-cut, labels
carried and dropped, refused traces with reasons); a redelivered message changes nothing; the
``llm`` strategy through the demo model refuses its unmappable answers per trace."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Assignment, Membership, Project, Solution, StepNode, StepRating
from annotate.services.imports import import_traces
from annotate.services.imports.common import solution_path
from tests.conftest import redeliver, wait_for_run
from tests.test_import_traces import THINK
from workers.models import Run

LONG = "<think>\nOne. Two. Three. Four. Five. Six.\n</think>\n\nDone."


def traced_project(slug: str, admin=None, texts=(THINK, LONG), **extra) -> Project:
    project = Project.objects.create(name=slug, slug=slug, **extra)
    if admin is not None:
        Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    import_traces(project, [json.dumps({"question": f"q{k}", "text": text})
                            for k, text in enumerate(texts)], source_name="t")
    return project


def rate(solution, positions: dict[int, int]):
    rater, _ = get_user_model().objects.get_or_create(username=f"rater-{solution.pk}")
    assignment = Assignment.objects.create(project=solution.project, solution=solution,
                                           annotator=rater, status=Assignment.Status.SUBMITTED)
    path = solution_path(solution)
    for position, rating in positions.items():
        StepRating.objects.create(assignment=assignment, node=path[position], rating=rating)
    return assignment


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_console_starts_a_rule_run_in_the_worker_with_progress_report_and_safe_retries(
        celery_worker, client, make_user):
    admin = make_user("recut-admin")
    project = traced_project("recut", admin)
    think, long = Solution.objects.filter(project=project).order_by("pk")
    assignment = rate(think, {2: 1, 1: -1})  # the answer is carried, step 1 is re-cut
    client.force_login(admin)
    page = reverse("manage:resegment_traces", args=[project.slug])
    # max_steps 5 refuses the six-sentence trace: a refusal with its reason, not a failure.
    response = client.post(page, {"strategy": "sentence", "options": '{"max_steps": 5}'})
    assert response.status_code == 302, response.content.decode()[:2000]
    run = Run.objects.get(pk=int(re.search(r"/runs/(\d+)/", response["Location"]).group(1)))
    assert run.kind == "resegment" and run.params["solution_ids"] == [think.pk, long.pk]
    run = wait_for_run(run)
    assert run.status == Run.Status.SUCCEEDED, run.error
    report = run.result
    assert (run.progress_done, run.progress_total) == (2, 2)
    assert (report["traces"], report["recut"], report["refused_count"]) == (2, 1, 1)
    assert (report["labels_carried"], report["labels_dropped"]) == (1, 1)
    [[refused_id, why]] = report["refused"]
    assert refused_id == long.pk and "max_steps" in why
    assert len(solution_path(Solution.objects.get(pk=think.pk))) == 6
    shown = client.get(response["Location"]).content.decode()
    assert 'id="resegment-report"' in shown and str(long.pk) in shown and "max_steps" in why
    assert f"#{run.pk}" in client.get(page).content.decode()

    nodes, ratings = StepNode.objects.count(), list(
        StepRating.objects.filter(assignment=assignment).values_list("node_id", "rating"))
    again = redeliver(run)  # the same message again: nothing re-cut twice, the same report
    assert again.status == Run.Status.SUCCEEDED and again.result == report
    assert StepNode.objects.count() == nodes
    assert list(StepRating.objects.filter(assignment=assignment)
                .values_list("node_id", "rating")) == ratings
    assert Solution.objects.get(pk=think.pk).trace.segmentation["run"] == run.pk


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_llm_run_with_the_demo_model_refuses_each_unmappable_answer(celery_worker, make_user):
    """The demo model (in the worker, transformers) answers arithmetic, not step openings:
    every trace is refused with the reason and stays as it was."""
    from demo.testing import build_test_model

    admin = make_user("llm-recut-admin")
    # Short texts: the demo model's context is a few dozen tokens.
    project = traced_project("llm-recut", admin, ["<think>A. B.</think> 3", "C. D."], generator={
        "model": str(build_test_model()), "temperature": 0.0, "top_p": 1.0, "retries": 0,
        "timeout": 60})
    before = {s.pk: list(s.trace.spans) for s in Solution.objects.filter(project=project)}
    client = APIClient()
    client.force_login(admin)
    r = client.post("/api/runs/", {"kind": "resegment", "project": project.pk, "params": {
        "strategy": "llm", "options": {"max_new_tokens": 16}}}, format="json")
    assert r.status_code == 201, r.content
    run = wait_for_run(Run.objects.get(pk=r.json()["id"]), timeout=300)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert (run.result["recut"], run.result["refused_count"]) == (0, 2)
    for _, why in run.result["refused"]:
        assert why == ("LLM segmentation refused: the model's answer holds no JSON list of "
                       "step openings")
    after = {s.pk: list(s.trace.spans) for s in Solution.objects.filter(project=project)}
    assert after == before


@pytest.mark.django_db
@pytest.mark.parametrize("params, message", [
    ({}, "Required"),
    ({"strategy": "words"}, "Unknown strategy 'words'"),
    ({"strategy": "sentence", "options": {"colour": 1}}, "takes no option(s) colour"),
    ({"strategy": "markers", "options": {"markers": "Wait"}}, "Options of 'markers'"),
    ({"strategy": "llm", "options": {"temperature": 1}}, "takes no option(s) temperature"),
    ({"strategy": "llm", "generator": {"model": "/etc"}}, "No model of that name"),
    ({"strategy": "llm", "generator": {"backend": "openai",
                                       "base_url": "http://10.9.8.7:8000/v1"}}, "not allowed"),
    ({"strategy": "llm", "generator": {"model_path": "/x"}}, "Unknown judge generator settings"),
    ({"strategy": "sentence", "generator": {"model": "demo"}}, "for the llm strategy only"),
    ({"strategy": "sentence", "solution_ids": ["a"]}, "Expected ids"),
    ({"strategy": "sentence", "solution_ids": [987654]}, "not traced solutions of this project"),
])
def test_bad_resegment_runs_are_refused_over_the_api(params, message, make_user):
    admin = make_user("api-recut-admin")
    project = traced_project("api-recut", admin, generator={"model": "demo"})
    client = APIClient()
    client.force_login(admin)
    r = client.post("/api/runs/", {"kind": "resegment", "project": project.pk, "params": params},
                    format="json")
    assert r.status_code == 400 and message in json.dumps(r.json()), r.content
    assert not Run.objects.filter(kind="resegment").exists()


@pytest.mark.django_db
def test_foreign_ids_and_bad_forms_are_400s_in_the_console(client, make_user):
    admin = make_user("form-recut-admin")
    project = traced_project("form-recut", admin)
    other = traced_project("other-recut")
    foreign = Solution.objects.filter(project=other).first()
    client.force_login(admin)
    page = reverse("manage:resegment_traces", args=[project.slug])
    for data, message in [
        ({"strategy": "sentence", "solutions": str(foreign.pk)}, "not traced solutions"),
        ({"strategy": "sentence", "options": "[1]"}, "Give Options as a JSON object"),
        ({"strategy": "llm", "generator": "{"}, "The model settings is not JSON"),
        ({"strategy": "sentence", "solutions": "1,x"}, "separated by commas"),
    ]:
        response = client.post(page, data)
        assert response.status_code == 400 and message in response.content.decode(), data
    assert not Run.objects.filter(kind="resegment").exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_an_llm_run_through_a_real_transformers_serve_server(celery_worker, make_user, tmp_path):
    """The llm strategy over HTTP (the ``openai`` backend against ``transformers serve``): the
    server's answers are read like any model's, and refused per trace when they name no cut."""
    import shutil
    from pathlib import Path

    from django.conf import settings as django_settings

    from tests.conftest import stop_process
    from tests.inference_server import chat_model_dir, start_transformers_serve

    model_dir = chat_model_dir(Path(django_settings.MODELS_DIR) / f"recut-{tmp_path.name}")
    proc, base_url = start_transformers_serve(model_dir, tmp_path / "serve.log")
    try:
        admin = make_user("serve-recut-admin")
        project = traced_project("serve-recut", admin, ["<think>A. B.</think> 3"], generator={
            "model": str(model_dir), "backend": "openai", "base_url": base_url, "retries": 1,
            "timeout": 60})
        [solution] = Solution.objects.filter(project=project)
        before = list(solution.trace.spans)
        run = wait_for_run(start_resegment_run(project, admin), timeout=240)
        assert run.status == Run.Status.SUCCEEDED, run.error
        assert (run.result["recut"], run.result["refused_count"]) == (0, 1)
        [[refused_id, why]] = run.result["refused"]
        assert refused_id == solution.pk and why.startswith("LLM segmentation refused: the model's")
        solution.trace.refresh_from_db()
        assert solution.trace.spans == before
    finally:
        stop_process(proc)
        shutil.rmtree(model_dir, ignore_errors=True)


def start_resegment_run(project, user):
    from generation.resegmenting import start_resegment

    return start_resegment(project=project, strategy="llm", options={"max_new_tokens": 16},
                           user=user)


@pytest.mark.django_db
def test_the_generate_command_queues_a_resegment_run_llm_included(make_user):
    from io import StringIO

    from django.core.management import CommandError, call_command

    project = traced_project("recut-cli", generator={"model": "demo-test-model"})
    out = StringIO()
    call_command("generate", "--project", project.slug, "--resegment", "llm",
                 "--options", '{"max_steps": 50}', stdout=out)
    run = Run.objects.get(project=project, kind="resegment")
    assert f"queued resegment run {run.pk}" in out.getvalue()
    assert run.params["strategy"] == "llm" and run.params["options"] == {"max_steps": 50}
    assert len(run.params["solution_ids"]) == 2
    for args, words in ((["--resegment", "llm", "--options", '{"markers": []}'], "takes no option"),
                        (["--resegment", "nope"], "Unknown strategy"),
                        (["--resegment", "sentence", "--options", "{"], "take JSON")):
        with pytest.raises(CommandError, match=words):
            call_command("generate", "--project", project.slug, *args)
