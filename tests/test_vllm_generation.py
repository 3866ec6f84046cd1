"""The ``openai`` backend against vLLM's CPU server (one per run, fixture ``vllm_server``) on
the demo generator: ``n`` samples come back from one request per prompt (a counting proxy
sees every request, so the backend's top-up never fires), a seed repeats its samples, ``stop``
ends a sample at the step delimiter, and solutions, candidate steps and Monte Carlo rollouts
run through a real worker. The server is named through the outbound policy
(tests/settings.py allows 127.0.0.1)."""

import pytest

from annotate.models import PreAnnotation, Project, Solution, StepNode
from demo.seed import seed_demo_content
from generation.autolabel.services import request_autolabel
from generation.backends import backend_for
from generation.config import GeneratorSettings
from generation.services import request_candidates, request_solutions
from tests.conftest import stop_process, wait_for_run
from tests.inference_server import ServerStartError
from tests.vllm_server import (
    prefix_cache_counters,
    requests_logged,
    start_counting_proxy,
    start_vllm_server,
)
from workers.models import Run

# The first test waits for the server's start (a compile warm-up: minutes under load).
pytestmark = [pytest.mark.timeout(1200)]


@pytest.fixture
def counted(vllm_server, tmp_path):
    """(base URL, log) of a proxy in front of the server that logs each completions request."""
    log = tmp_path / "requests.jsonl"
    proc, url = start_counting_proxy(vllm_server[1], log)
    try:
        yield url, log
    finally:
        stop_process(proc)


def backend(model_dir, base_url, concurrency=2):
    return backend_for(GeneratorSettings.from_dict(
        {"model": model_dir, "backend": "openai", "base_url": base_url, "concurrency": concurrency}))


def texts(rows):
    return [[s.text for s in row] for row in rows]


@pytest.mark.vllm
def test_n_samples_come_from_one_request_per_prompt(vllm_server, counted):
    url, log = counted
    client = backend(vllm_server[0], url)
    prompts = [client.prompt("3 + 4 * 2"), client.prompt("9 - 2 + 1")]
    rows = client.complete(prompts, n=4, max_new_tokens=24, temperature=1.0, top_p=1.0, seed=5)
    assert [len(row) for row in rows] == [4, 4]
    seen = requests_logged(log)
    # vLLM honours n: one request per prompt, four choices each; no top-up request.
    assert sorted(r["prompt"] for r in seen) == sorted(prompts)
    assert [(r["status"], r["n"], r["choices"]) for r in seen] == [(200, 4, 4)] * 2
    assert all(len(set(row)) > 1 for row in texts(rows))  # n distinct samples, not one repeated
    assert all(s.tokens == len(client.tokenizer(s.text, add_special_tokens=False)["input_ids"])
               for row in rows for s in row)
    # Greedy decoding asks for one choice and repeats it.
    (greedy,) = client.complete(prompts[:1], n=3, max_new_tokens=8, temperature=0, top_p=1.0)
    assert len(greedy) == 3 and len({s.text for s in greedy}) == 1
    assert requests_logged(log)[-1]["n"] == 1 and len(requests_logged(log)) == 3


@pytest.mark.vllm
def test_the_same_seed_samples_the_same_texts(vllm_server):
    # Concurrent requests: vLLM seeds each request, so overlapping ones repeat too.
    client = backend(vllm_server[0], vllm_server[1], concurrency=4)
    prompts = [client.prompt(s) for s in ("3 + 4 * 2", "9 - 2 + 1", "8 * 3 - 5", "7 + 6 - 4")]
    params = {"n": 3, "max_new_tokens": 32, "temperature": 1.0, "top_p": 1.0}
    first = texts(client.complete(prompts, seed=7, **params))
    assert texts(client.complete(prompts, seed=7, **params)) == first
    assert texts(client.complete(prompts, seed=8, **params)) != first


@pytest.mark.vllm
def test_generation_stops_at_the_step_delimiter(vllm_server, counted):
    url, log = counted
    client = backend(vllm_server[0], url)
    prompts = [client.prompt("3 + 4 * 2 - 5"), client.prompt("9 - 2 + 1 * 6")]
    params = {"n": 3, "max_new_tokens": 48, "temperature": 1.0, "top_p": 1.0, "seed": 13}
    whole = texts(client.complete(prompts, **params))
    steps = texts(client.complete(prompts, stop="\n", **params))
    assert any("\n" in t for row in whole for t in row)  # the model writes several steps
    # The same seeded samples, cut where the first step ends (the stop text itself left out).
    assert steps == [[t.split("\n")[0] for t in row] for row in whole]
    assert {str(r["stop"]) for r in requests_logged(log)} == {"None", str(["\n"])}


def vllm_project(model_dir, base_url, slug, n_problems=2, **generator):
    project = Project.objects.create(name=slug, slug=slug, generator={
        "model": model_dir, "backend": "openai", "base_url": base_url, "delimiter": "\n",
        "max_new_tokens": 48, "max_step_tokens": 16, "temperature": 1.0, "top_p": 1.0,
        "retries": 1, "timeout": 120, "concurrency": 2, **generator})
    seed_demo_content(project, n_problems=n_problems, solutions_per_problem=0, seed=3)
    return project


@pytest.mark.vllm
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_solutions_candidates_and_rollouts_through_vllm(vllm_server, counted, celery_worker):
    model_dir, _ = vllm_server
    url, log = counted
    project = vllm_project(model_dir, url, "vllm-flows")

    run = wait_for_run(request_solutions(project=project, n=3), timeout=240)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["solutions"] > 0 and run.result["tokens"] > 0
    solutions_asked = requests_logged(log)
    # One request per problem carries all three samples; the top-up never fires.
    assert [(r["status"], r["n"], r["choices"]) for r in solutions_asked] == [(200, 3, 3)] * 2
    assert len({r["prompt"] for r in solutions_asked}) == 2
    nodes = StepNode.objects.filter(problem__project=project, author="model")
    assert nodes.exists() and all(n.generator["base_url"] == url for n in nodes)

    solution = Solution.objects.filter(project=project, source="model").first()
    first = solution.last_step
    while first.parent_id:
        first = first.parent
    run = wait_for_run(request_candidates(project=project, problem=solution.problem, parent=first,
                                          k=2), timeout=180)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["created"] + run.result["duplicates_dropped"] > 0
    for node in StepNode.objects.filter(pk__in=run.result["node_ids"]):
        assert node.parent_id == first.pk and node.text and "\n" not in node.text
    candidates_asked = requests_logged(log)[len(solutions_asked):]
    # k, and 2k in a second round only where duplicates left a shortfall: one request each.
    assert 1 <= len(candidates_asked) <= 2
    assert all(r["stop"] == ["\n"] and r["choices"] == r["n"] for r in candidates_asked)

    before, (hits, _) = len(requests_logged(log)), prefix_cache_counters(vllm_server[1])
    run = wait_for_run(request_autolabel(project=project, solutions=[solution], methods=["mc"],
                                         rollouts=2), timeout=240)
    assert run.status == Run.Status.SUCCEEDED, run.error
    labels = PreAnnotation.objects.filter(node__problem=solution.problem,
                                          kind=PreAnnotation.Kind.MC_SOFT)
    assert labels.count() == solution.last_step.depth + 1
    rollouts_asked = requests_logged(log)[before:]
    # One request per step prefix, both rollouts in it.
    assert rollouts_asked and all((r["status"], r["n"], r["choices"]) == (200, 2, 2)
                                  for r in rollouts_asked)
    assert len({r["prompt"] for r in rollouts_asked}) == len(rollouts_asked)
    # The step prefixes share the problem's prompt: the server's prefix cache serves it.
    assert prefix_cache_counters(vllm_server[1])[0] > hits


@pytest.mark.vllm
def test_seeded_samples_beyond_one_steps_token_budget(vllm_server):
    """Rollouts at a worker's concurrency: 16 prompts x 8 seeded samples in flight make more
    prompt tokens (~5,800) than vLLM's CPU server schedules in one step (2,048). With chunked
    prefill, a seeded sample whose prompt was split crashed the engine ("CPU Generator does
    not use offset"); the server runs without it (tests/vllm_server.py). Kept last in this
    module: before that, the crash took the run's shared server down."""
    client = backend(vllm_server[0], vllm_server[1], concurrency=16)
    prefix = ["9 - 8 = 1", "1 + 5 = 6", "6 * 2 = 12"]
    prompts = [client.prompt(f"{a} + {b} * 2 - 5 + 1", prefix) for a in range(2, 6) for b in range(4)]
    assert sum(len(client.tokenizer(p)["input_ids"]) for p in prompts) * 8 > 2 * 2048
    rows = client.complete(prompts, n=8, max_new_tokens=24, temperature=1.0, top_p=1.0, seed=21)
    assert [len(row) for row in rows] == [8] * 16


@pytest.mark.portable
def test_a_missing_environment_fails_naming_the_setup_script(monkeypatch, tmp_path):
    monkeypatch.setattr("tests.vllm_server.VLLM_PYTHON", tmp_path / "no-venv" / "bin" / "python")
    with pytest.raises(ServerStartError, match="scripts/setup_vllm_cpu.sh"):
        start_vllm_server(tmp_path, tmp_path / "vllm.log", max_model_len=64)


@pytest.mark.portable
def test_a_server_that_exits_fails_with_its_log_tail(monkeypatch, tmp_path):
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ValueError: no model here' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr("tests.vllm_server.VLLM_PYTHON", broken)
    with pytest.raises(ServerStartError, match="(?s)exited early.*no model here"):
        start_vllm_server(tmp_path, tmp_path / "vllm.log", max_model_len=64, timeout=60)
