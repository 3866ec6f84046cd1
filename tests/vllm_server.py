"""vLLM's CPU build as a real OpenAI-compatible server for the tests and ``bench/bench_vllm_cpu.py``,
and as the engine of a real Celery worker (the ``vllm`` backend) for the tests.

Both run from their own virtualenv, ``.venv-vllm`` (``scripts/setup_vllm_cpu.sh``: vLLM pins its
own transformers). The server runs as ``python -m vllm.entrypoints.openai.api_server`` (the
``vllm`` console script of the CPU wheel fails). The suite starts each once per run (fixtures
``vllm_server``, ``vllm_worker``): the first engine start compiles, minutes on a loaded machine.
A missing environment, or a server or worker that does not come up, fails the tests that need
it, with its log tail; never a skip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.inference_server import ServerStartError, free_port, wait_until_up

REPO = Path(__file__).resolve().parent.parent
VLLM_PYTHON = REPO / ".venv-vllm" / "bin" / "python"
COUNTING_PROXY = Path(__file__).with_name("counting_proxy.py")
# The first start compiles (about 4 minutes on a loaded 2-core machine); later starts reuse
# vLLM's compile cache.
START_TIMEOUT = float(os.environ.get("STEPWISE_VLLM_START_TIMEOUT", "900"))


def vllm_env() -> dict:
    """The environment of a process of .venv-vllm (the server, the worker): not the suite's
    (no VIRTUAL_ENV, no PYTHONPATH)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PATH"] = f"{VLLM_PYTHON.parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB: plenty for the demo models
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("VLLM_NO_USAGE_STATS", "1")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def stop_server(proc: subprocess.Popen) -> None:
    """Stop the server and the engine processes it started (its own process group)."""
    for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue


def start_vllm_server(model_dir: Path, log: Path, *options: str, max_model_len: int | None = None,
                      prefix_caching: bool = True, block_size: int = 32,
                      timeout: float = START_TIMEOUT) -> tuple[subprocess.Popen, str]:
    """vLLM's OpenAI server on ``model_dir`` (served under that path, the generator's ``model``)
    on a free loopback port; returns the process and its ``/v1`` base URL."""
    if not VLLM_PYTHON.exists():
        raise ServerStartError(f"{VLLM_PYTHON} not found: run scripts/setup_vllm_cpu.sh "
                               "(scripts/test.sh does) to build the vLLM CPU environment.")
    if max_model_len is None:  # the model's own context: the demo generator's is small
        config = json.loads((Path(model_dir) / "config.json").read_text())
        max_model_len = min(int(config.get("n_positions") or config.get("max_position_embeddings") or 512), 512)
    port = free_port()
    cmd = [str(VLLM_PYTHON), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--max-model-len", str(max_model_len), "--seed", "0",
           # The prefix cache keeps whole blocks only: the CPU default (128 tokens) is longer
           # than the demo generator's prompts, so nothing would be cached.
           "--block-size", str(block_size),
           "--enable-prefix-caching" if prefix_caching else "--no-enable-prefix-caching",
           # vLLM 0.32's CPU runner crashes its engine ("CPU Generator does not use offset")
           # when a seeded request's prompt is split over steps: every request here is seeded.
           "--no-enable-chunked-prefill", *options]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        out.write(" ".join(cmd) + "\n")
        out.flush()
        proc = subprocess.Popen(cmd, cwd=REPO, env=vllm_env(), stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}/health", proc, log, timeout=timeout)
    except BaseException:
        stop_server(proc)
        raise
    return proc, f"http://127.0.0.1:{port}/v1"


def start_counting_proxy(upstream: str, log: Path) -> tuple[subprocess.Popen, str]:
    """A proxy that forwards to ``upstream`` and logs each completions request (what it
    asked for, how many choices came back) as a JSON line in ``log``."""
    port = free_port()
    log.touch()
    proc = subprocess.Popen([sys.executable, str(COUNTING_PROXY), str(port), upstream, str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_until_up(f"http://127.0.0.1:{port}/health", proc, log, timeout=20)
    return proc, f"http://127.0.0.1:{port}/v1"


def prefix_cache_counters(base_url: str) -> tuple[float, float]:
    """(hits, queries), in tokens, of the server's prefix cache (its Prometheus metrics)."""
    import urllib.request

    with urllib.request.urlopen(f"{base_url.rsplit('/v1', 1)[0]}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    totals = {"hits": 0.0, "queries": 0.0}
    for line in text.splitlines():
        for key in totals:
            if line.startswith(f"vllm:prefix_cache_{key}_total"):
                totals[key] += float(line.rsplit(" ", 1)[1])
    return totals["hits"], totals["queries"]


def requests_logged(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def vllm_server_session(tmp_path_factory):
    """The body of the session fixture ``vllm_server``: yields (model directory, base URL)."""
    import pytest

    from demo.testing import build_test_model

    model_dir = build_test_model()  # in data/test-models, one of STEPWISE_MODEL_DIRS
    log = tmp_path_factory.mktemp("vllm") / "vllm-server.log"
    try:
        proc, base_url = start_vllm_server(model_dir, log)
    except ServerStartError as exc:
        pytest.fail(f"vLLM's CPU server did not start: {exc}", pytrace=False)
    try:
        yield str(model_dir), base_url
    finally:
        stop_server(proc)


@dataclass
class VllmWorker:
    broker: str  # the URL of its broker: publish there (tests.test_run_faults.this_process_publishes_to)
    log: Path
    pid: int


# The worker itself starts in seconds; its engine starts at its first Run (START_TIMEOUT).
WORKER_READY_TIMEOUT = 180


def vllm_worker_session(tmp_path_factory):
    """The body of the session fixture ``vllm_worker``: a Celery worker run from .venv-vllm on
    the test database, consuming the ``gpu`` queue (where generation Runs go, whatever their
    backend) of a Redis of its own, so the Runs a test publishes there reach it and not the
    suite's worker; yields a ``VllmWorker``."""
    import pytest

    from tests.conftest import RedisServer, spawn_worker

    if not VLLM_PYTHON.exists():
        pytest.fail(f"{VLLM_PYTHON} not found: run scripts/setup_vllm_cpu.sh (scripts/test.sh "
                    "does) to build the vLLM CPU environment.", pytrace=False)
    work = tmp_path_factory.mktemp("vllm-worker")
    broker = RedisServer(free_port(), work)
    broker.start()
    log = work / "vllm-worker.log"
    try:
        proc = spawn_worker(
            log, queues="gpu", python=VLLM_PYTHON, env=vllm_env(), include="tests.vllm_kinds",
            own_group=True, ready_timeout=WORKER_READY_TIMEOUT, CELERY_BROKER_URL=broker.url(),
            # Its dispatcher stays idle: the suite's worker sweeps the test database, and this
            # one's would send other tests' Runs to its own broker.
            RUN_SWEEP_SECONDS="86400")
    except BaseException:
        broker.stop()
        raise
    try:
        yield VllmWorker(broker.url(), log, proc.pid)
    finally:
        stop_server(proc)
        broker.stop()
