"""The ``openai`` backend against a real OpenAI-compatible server: ``transformers serve`` on
the demo model, through a real worker; a server that is down; one that answers 500 and
recovers; and the generator settings page's "test connection", in Chromium too."""

import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from annotate.models import Membership, PreAnnotation, Problem, Project, Solution, StepNode
from demo.seed import seed_demo_content
from demo.testing import build_test_model
from generation.autolabel.services import request_autolabel
from generation.backends import backend_for
from generation.config import GeneratorSettings
from generation.services import request_candidates, request_solutions
from tests.conftest import redeliver, stop_process, wait_for_run
from tests.inference_server import (
    free_port,
    sampling_model_dir,
    start_flaky_proxy,
    start_transformers_serve,
)
from workers.models import Run

from .manage_factories import add

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(model directory, base URL) of a ``transformers serve`` process for this module."""
    root = tmp_path_factory.mktemp("served")
    # In MODELS_DIR (the worker's too): workers load only models of the allowed folders.
    model_dir = sampling_model_dir(build_test_model(), Path(django_settings.MODELS_DIR) / f"served-{root.name}")
    proc, base_url = start_transformers_serve(model_dir, root / "serve.log")
    try:
        yield str(model_dir), base_url
    finally:
        stop_process(proc)
        shutil.rmtree(model_dir, ignore_errors=True)


@pytest.fixture
def proxy(served, tmp_path):
    """Start a proxy in front of the server; returns (base URL, its log path)."""
    procs = []

    def start(failures: int):
        log = tmp_path / f"proxy-{len(procs)}.log"
        proc, url = start_flaky_proxy(served[1], failures, log)
        procs.append(proc)
        return url, log

    yield start
    for proc in procs:
        stop_process(proc)


def server_project(model_dir, base_url, slug="served", n_problems=2, solutions=0, **generator):
    project = Project.objects.create(name=slug, slug=slug, generator={
        "model": model_dir, "backend": "openai", "base_url": base_url, "delimiter": "\n",
        "max_new_tokens": 48, "max_step_tokens": 16, "temperature": 1.0, "top_p": 1.0,
        "retries": 2, "timeout": 60, **generator})
    seed_demo_content(project, n_problems=n_problems, solutions_per_problem=solutions, seed=3)
    return project


def requests_seen(log) -> list[str]:
    return [line.split()[0] for line in log.read_text().splitlines() if "/completions" in line]


def test_the_backend_returns_n_samples_from_a_server_that_returns_one(served, proxy):
    url, log = proxy(0)
    settings = GeneratorSettings.from_dict({"model": served[0], "backend": "openai",
                                            "base_url": url, "concurrency": 2})
    backend = backend_for(settings)
    prompts = [backend.prompt("3 + 4 * 2"), backend.prompt("9 - 2 + 1")]
    rows = backend.complete(prompts, n=3, max_new_tokens=24, temperature=1.0, top_p=1.0,
                            seed=5)
    assert [len(row) for row in rows] == [3, 3]
    # transformers serve ignores n: one choice per request, so three requests per prompt.
    assert requests_seen(log) == ["200"] * 6
    assert all(s.tokens == len(backend.tokenizer(s.text, add_special_tokens=False)["input_ids"])
               for row in rows for s in row)
    # Seeds pass through: the same call samples the same texts again. (transformers serve
    # seeds its process-wide generator per request, so only requests that don't overlap
    # repeat; vLLM seeds each request.)
    one_at_a_time = backend_for(GeneratorSettings.from_dict(
        {"model": served[0], "backend": "openai", "base_url": url, "concurrency": 1}))
    first = one_at_a_time.complete(prompts, n=2, max_new_tokens=24, temperature=1.0, top_p=1.0,
                                   seed=5)
    again = one_at_a_time.complete(prompts, n=2, max_new_tokens=24, temperature=1.0, top_p=1.0,
                                   seed=5)
    assert [[s.text for s in row] for row in again] == [[s.text for s in row] for row in first]
    # Greedy decoding asks once per prompt.
    greedy = backend.complete(prompts[:1], n=4, max_new_tokens=8, temperature=0, top_p=1.0)
    assert len(greedy[0]) == 4 and len({s.text for s in greedy[0]}) == 1
    assert len(requests_seen(log)) == 6 + 8 + 1


@pytest.mark.worker
def test_solutions_candidates_and_rollouts_through_the_server(served, celery_worker):
    model_dir, base_url = served
    project = server_project(model_dir, base_url, concurrency=2)
    run = wait_for_run(request_solutions(project=project, n=3), timeout=240)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["tokens"] > 0 and run.result["solutions"] > 0
    nodes = StepNode.objects.filter(problem__project=project, author="model")
    assert nodes.exists()
    assert all(n.generator["backend"] == "openai" and n.generator["base_url"] == base_url
               and "api_key_env" not in n.generator for n in nodes)

    solution = Solution.objects.filter(project=project, source="model").first()
    problem, first = solution.problem, solution.last_step
    while first.parent_id:
        first = first.parent
    run = wait_for_run(request_candidates(project=project, problem=problem, parent=first, k=2),
                       timeout=180)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["created"] + run.result["duplicates_dropped"] > 0
    for node in StepNode.objects.filter(pk__in=run.result["node_ids"]):
        assert node.parent_id == first.pk and "\n" not in node.text

    run = wait_for_run(request_autolabel(project=project, solutions=[solution], methods=["mc"],
                                         rollouts=2), timeout=240)
    assert run.status == Run.Status.SUCCEEDED, run.error
    labels = PreAnnotation.objects.filter(node__problem=problem, kind=PreAnnotation.Kind.MC_SOFT)
    assert labels.count() == solution.last_step.depth + 1


@pytest.mark.worker
def test_a_server_that_is_down_fails_the_run_naming_it(served, celery_worker):
    down = f"http://127.0.0.1:{free_port()}/v1"
    project = server_project(served[0], down, slug="down", n_problems=1, retries=1, timeout=5)
    run = wait_for_run(request_solutions(project=project, n=1), timeout=120)
    assert run.status == Run.Status.FAILED
    assert down in run.error and "unreachable after 2 tries" in run.error
    assert run.reason == "The generation server is unreachable"
    assert not Solution.objects.filter(project=project, source="model").exists()


@pytest.mark.worker
def test_a_server_that_answers_500_then_recovers(served, proxy, celery_worker):
    url, log = proxy(2)
    project = server_project(served[0], url, slug="flaky", n_problems=1, concurrency=1, seed=11)
    run = wait_for_run(request_solutions(project=project, n=2), timeout=180)
    assert run.status == Run.Status.SUCCEEDED, run.error
    seen = requests_seen(log)
    assert seen[:2] == ["500", "500"] and set(seen[2:]) == {"200"}
    solutions = Solution.objects.filter(project=project, source="model")
    count = solutions.count()
    assert count == run.result["new_solutions"] > 0

    # Redelivered, the run asks for the same samples; the step tree makes them the same nodes.
    run = redeliver(run)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["new_solutions"] == 0 and solutions.count() == count


def _form(model_dir, base_url, **extra):
    return {"model": model_dir, "backend": "openai", "base_url": base_url, "served_model": "",
            "api_secret": "", "concurrency": 4, "timeout": 30, "retries": 1,
            "tensor_parallel_size": 0, "gpu_memory_utilization": 0.85, "dtype": "auto",
            "temperature": 0.7, "top_p": 0.9, "delimiter": "\\n", "max_new_tokens": 64,
            "max_step_tokens": 16, "max_steps": 20, "batch_size": 8, **extra}


def test_settings_page_saves_the_backend_and_tests_the_connection(served, client, make_user,
                                                                  settings):
    model_dir, base_url = served
    settings.STEPWISE_MODEL_DIRS = [str(Path(model_dir).parent)]  # the check reads its config.json
    admin, annotator = make_user("gen-admin"), make_user("gen-annotator")
    project = Project.objects.create(name="Gen", slug="gen-settings")
    add(project, admin, Membership.Role.ADMIN)
    add(project, annotator)
    page = "/manage/gen-settings/generator/"

    client.force_login(annotator)
    assert client.get(page).status_code == 403
    assert client.post(page + "test/", _form(model_dir, base_url)).status_code == 403

    client.force_login(admin)
    assert client.get(page).status_code == 200
    answer = client.post(page, _form(model_dir, base_url, api_secret="sk-live-123"))
    assert answer.status_code == 400 and b"one of the server secrets" in answer.content
    assert b"sk-live-123" not in answer.content
    assert client.post(page, _form(model_dir, base_url)).status_code == 302
    project.refresh_from_db()
    assert project.generator["backend"] == "openai" and project.generator["delimiter"] == "\n"
    assert project.generator["temperature"] == 0.7

    answer = client.post(page + "test/", _form(model_dir, base_url))
    assert answer.status_code == 200 and b"answered in" in answer.content
    down = f"http://127.0.0.1:{free_port()}/v1"
    answer = client.post(page + "test/", _form(model_dir, down))
    assert answer.status_code == 200 and b"unreachable" in answer.content and down.encode() in answer.content
    answer = client.post(page + "test/", _form(model_dir, ""))
    assert answer.status_code == 400 and b"base_url" in answer.content


@pytest.mark.browser
def test_test_connection_shows_the_servers_answer_in_chromium(served, live_server, page, make_user,
                                                              settings):
    model_dir, base_url = served
    settings.STEPWISE_MODEL_DIRS = [str(Path(model_dir).parent)]
    admin = make_user("gen-boss")
    project = Project.objects.create(name="Gen B", slug="gen-browser", generator={
        "model": model_dir, "backend": "openai", "base_url": base_url})
    add(project, admin, Membership.Role.ADMIN)
    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "gen-boss")
    page.fill("input[name=password]", "pw-for-tests")
    page.click("button[type=submit]")
    page.wait_for_selector("#nav-manage")
    page.goto(f"{live_server.url}/manage/gen-browser/generator/")
    assert page.input_value("input[name=base_url]") == base_url
    page.click("#test-connection")
    page.wait_for_selector("#connection-result")
    assert "answered in" in page.inner_text("#connection-result")
    page.fill("input[name=base_url]", "")
    page.click("#test-connection")
    page.wait_for_selector("#connection-result.error")
    assert "base_url" in page.inner_text("#connection-result")
    assert Problem.objects.count() == 0


@pytest.mark.worker
def test_a_server_that_keeps_answering_errors_fails_the_run_with_its_answer(served, proxy,
                                                                           celery_worker):
    url, log = proxy(100)
    project = server_project(served[0], url, slug="broken", n_problems=1, retries=1)
    run = wait_for_run(request_solutions(project=project, n=1), timeout=120)
    assert run.status == Run.Status.FAILED
    assert f"The generation server at {url} answered 500" in run.error
    assert "injected failure" in run.error
    assert run.reason == "The generation server answered an error"
    assert requests_seen(log) == ["500", "500"]  # the first try and one retry
