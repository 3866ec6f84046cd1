"""The ``vllm`` backend, vLLM's offline engine, inside a real Celery worker run from .venv-vllm
(vLLM's CPU build, fixture ``vllm_worker``): generation Runs of a project whose generator uses
it on the demo generator reach that worker (the ``gpu`` queue of its own broker), succeed and
store what they sampled; the engine returns ``n`` samples per prompt, a seed repeats its
samples and ``stop`` ends them at the step delimiter. The worker's engine starts at its first
Run (a compile warm-up: a minute or more under load)."""

import socket

import pytest

from annotate.models import Project, Solution, StepNode
from demo.seed import seed_demo_content
from generation.backends.vllm_engine import CPU_KV_CACHE_MAX, cpu_kv_cache_bytes, engine_kwargs
from generation.config import GeneratorSettings
from generation.services import request_candidates, request_solutions
from tests import vllm_kinds  # noqa: F401  (registers its Run kind in this process too)
from tests.conftest import wait_for_run
from tests.test_run_faults import this_process_publishes_to
from tests.vllm_server import vllm_worker_session
from workers.models import Run
from workers.runs import start_run

# The first Run waits for the engine's start.
pytestmark = [pytest.mark.timeout(1200)]
FIRST_RUN_TIMEOUT = 900


def vllm_project(slug, **generator):
    from demo.testing import build_test_model

    project = Project.objects.create(name=slug, slug=slug, generator={
        "model": str(build_test_model()), "backend": "vllm", "dtype": "float32",
        "delimiter": "\n", "max_new_tokens": 48, "max_step_tokens": 16, "temperature": 1.0,
        "top_p": 1.0, "seed": 7, **generator})
    seed_demo_content(project, n_problems=3, solutions_per_problem=0, seed=3)
    return project


def run_on(worker, start, timeout=FIRST_RUN_TIMEOUT):
    """Start a Run through the worker's broker and wait for it; it must have run there."""
    with this_process_publishes_to(worker.broker):
        run = wait_for_run(start(), timeout=timeout, worker_log=worker.log)
    assert run.status == Run.Status.SUCCEEDED, f"{run.error}\n{worker.log.read_text()[-4000:]}"
    assert run.worker == f"{socket.gethostname()}:{worker.pid}"
    return run


@pytest.mark.vllm
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_engine_in_the_worker_honours_n_seed_and_stop(vllm_worker):
    project = vllm_project("vllm-engine-samples")
    statements = list(project.problems.order_by("pk").values_list("statement", flat=True)[:2])
    calls = [{"n": 4, "seed": 5, "max_new_tokens": 48}, {"n": 4, "seed": 5, "max_new_tokens": 48},
             {"n": 4, "seed": 6, "max_new_tokens": 48},
             {"n": 4, "seed": 5, "max_new_tokens": 48, "stop": "\n"}]
    run = run_on(vllm_worker, lambda: start_run(
        "test_backend_samples", {"statements": statements, "calls": calls}, project=project))
    assert run.result["backend"] == "vllm"
    whole, again, other, steps = run.result["texts"]
    assert [len(row) for row in whole] == [4, 4]
    assert all(len(set(row)) > 1 for row in whole)  # n samples, not one repeated
    assert again == whole and other != whole
    assert any("\n" in t for row in whole for t in row)  # the model writes several steps
    # The same seeded samples, cut where the first step ends (the stop text itself left out).
    assert steps == [[t.split("\n")[0] for t in row] for row in whole]


@pytest.mark.vllm
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_solutions_and_candidates_through_the_vllm_worker(vllm_worker):
    project = vllm_project("vllm-worker-flows")

    run = run_on(vllm_worker, lambda: request_solutions(project=project, n=3))
    assert run.result["solutions"] == 3 * 3 and run.result["tokens"] > 0
    assert run.result["new_solutions"] > 0
    solutions = Solution.objects.filter(project=project, source="model")
    assert solutions.count() == run.result["new_solutions"]
    nodes = StepNode.objects.filter(problem__project=project, author="model")
    assert nodes.exists() and {n.generator["backend"] for n in nodes} == {"vllm"}
    texts = sorted(s.text for s in nodes)

    # The project's seed: the same samples again, so the tree gains nothing.
    again = run_on(vllm_worker, lambda: request_solutions(project=project, n=3), timeout=240)
    assert again.result["solutions"] == 3 * 3
    assert again.result["new_solutions"] == 0 and again.result["new_nodes"] == 0
    assert sorted(s.text for s in StepNode.objects.filter(problem__project=project)) == texts

    solution = solutions.first()
    first = solution.last_step
    while first.parent_id:
        first = first.parent
    run = run_on(vllm_worker, lambda: request_candidates(
        project=project, problem=solution.problem, parent=first, k=2), timeout=240)
    assert 0 < run.result["created"] + run.result["duplicates_dropped"]
    assert run.result["created"] == len(run.result["node_ids"]) <= 2
    for node in StepNode.objects.filter(pk__in=run.result["node_ids"]):
        assert node.parent_id == first.pk and node.text and "\n" not in node.text
        assert node.generator["run"] == run.pk and node.generator["backend"] == "vllm"


@pytest.mark.portable
def test_a_worker_without_gpus_gets_the_cpu_builds_engine_arguments():
    settings = GeneratorSettings.from_dict({"model": "/models/qwen", "backend": "vllm",
                                            "dtype": "float32", "gpu_memory_utilization": 0.5})
    # vLLM's CPU build: no GPU memory share (it would reserve that share of the machine's
    # memory), no chunked prefill (it crashes seeded requests there).
    assert engine_kwargs(settings, 0) == {
        "model": "/models/qwen", "dtype": "float32", "tensor_parallel_size": 1,
        "enable_prefix_caching": True, "seed": 0, "enable_chunked_prefill": False}
    assert engine_kwargs(settings, 2)["gpu_memory_utilization"] == 0.5
    assert "enable_chunked_prefill" not in engine_kwargs(settings, 2)
    assert cpu_kv_cache_bytes(2 << 30) == 512 << 20
    assert cpu_kv_cache_bytes(64 << 30) == CPU_KV_CACHE_MAX == 4 << 30


@pytest.mark.portable
def test_a_missing_environment_fails_the_worker_naming_the_setup_script(monkeypatch,
                                                                          tmp_path_factory):
    monkeypatch.setattr("tests.vllm_server.VLLM_PYTHON", tmp_path_factory.mktemp("no-venv") / "python")
    with pytest.raises(pytest.fail.Exception, match="scripts/setup_vllm_cpu.sh"):
        next(vllm_worker_session(tmp_path_factory))


@pytest.mark.portable
def test_a_worker_that_exits_fails_with_its_log_tail(monkeypatch, tmp_path_factory):
    broken = tmp_path_factory.mktemp("broken-venv") / "python"
    broken.write_text("#!/bin/sh\necho 'ModuleNotFoundError: No module named celery' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr("tests.vllm_server.VLLM_PYTHON", broken)
    with pytest.raises(pytest.fail.Exception, match="(?s)exited early.*No module named celery"):
        next(vllm_worker_session(tmp_path_factory))
