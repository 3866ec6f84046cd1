"""Fixtures that start the real parts: a Celery worker process and headless Chromium."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

# Playwright's sync API runs an event loop in the test thread; the ORM calls we make
# beside it are ordinary blocking calls.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = Path(settings.SHARED_DATA_DIR)
    if not (path / "README.md").exists():
        pytest.fail(f"Shared test data not found at {path}; set STEPWISE_SHARED_DATA.")
    return path


def wait_for_run(run, timeout: float = 180.0, worker_log: Path | None = None):
    """Poll a Run until it finishes; fail with its log and the worker's log (default: the
    suite's worker, ``celery_worker``) if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.is_finished:
            return run
        time.sleep(0.2)
    log = worker_log or Path(settings.DATA_DIR) / "worker.log"
    tail = log.read_text()[-4000:] if log.exists() else "(no worker log)"
    pytest.fail(f"Run {run.pk} ({run.kind}) still {run.status} after {timeout}s.\n{run.log}\n{tail}")


def redeliver(run, timeout: float = 180.0):
    """What a broker does after a worker died mid-task: the same message again; waits for it."""
    from workers.models import Run
    from workers.runs import RUN_KINDS

    Run.objects.filter(pk=run.pk).update(status=Run.Status.QUEUED, finished_at=None)
    RUN_KINDS[run.kind].apply_async(args=[run.pk])
    return wait_for_run(run, timeout=timeout)


def spawn_worker(log_path: Path, *, queues: str = "default,gpu", pool: str = "solo",
                 python: Path | str = sys.executable, env: dict | None = None,
                 include: str = "", own_group: bool = False, ready_timeout: float = 60,
                 **env_overrides) -> subprocess.Popen:
    """Start a real ``celery worker`` (solo unless ``pool``) on the test database and wait
    until it is ready.

    ``python`` is its environment's interpreter and ``env`` its base environment (default:
    this process's); ``include`` names more modules it imports (Run kinds of its own);
    ``own_group`` gives it a process group of its own, for a worker that starts processes
    (stop it with ``tests.vllm_server.stop_server``)."""
    env = dict(os.environ if env is None else env)
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", STEPWISE_TEST_WORKER="1",
               PYTHONUNBUFFERED="1", **env_overrides)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [str(python), "-m", "celery", "-A", "stepwise.celery", "worker",
         "-Q", queues, f"--pool={pool}", "--concurrency=1", "--loglevel=INFO",
         "-n", f"{log_path.stem}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
         *(["-I", include] if include else [])],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=own_group,
    )
    log.close()
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"Celery worker exited early:\n{log_path.read_text()[-4000:]}")
        if "ready." in log_path.read_text():
            return proc
        time.sleep(0.3)
    if own_group:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.kill()
    pytest.fail(f"Celery worker did not start in {ready_timeout:.0f}s:\n{log_path.read_text()[-4000:]}")


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker):
    """A real ``celery worker`` process on the test database, consuming both queues.

    Its dispatcher leaves the outbox alone for minutes: the fault tests stop a broker of
    their own, and their own workers must be the ones to send that work when it returns.
    """
    proc = spawn_worker(Path(settings.DATA_DIR) / "worker.log", RUN_PUBLISH_GRACE_SECONDS="300",
                        RUN_REPUBLISH_SECONDS="600")
    try:
        yield proc
    finally:
        stop_process(proc)


@pytest.fixture(scope="session")
def vllm_worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A Celery worker run from .venv-vllm with vLLM's engine in it (the ``vllm`` backend),
    consuming the ``gpu`` queue of a broker of its own, started once per run
    (tests/vllm_server.py); yields ``VllmWorker`` (its broker URL, log and pid)."""
    from tests.vllm_server import vllm_worker_session

    yield from vllm_worker_session(tmp_path_factory)


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory):
    """(model directory, /v1 base URL) of vLLM's CPU server on the demo generator, started once
    per run (tests/vllm_server.py)."""
    from tests.vllm_server import vllm_server_session

    yield from vllm_server_session(tmp_path_factory)


class RedisServer:
    """A Redis server of the test's own on a free port, which the test may stop and restart."""

    def __init__(self, port: int, workdir: Path):
        self.port, self.workdir, self.proc = port, workdir, None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import redis

        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def redis_server(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = RedisServer(port, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}; install Debian's chromium package.")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, password: str = "pw-for-tests", **extra):
        return django_user_model.objects.create_user(username=username, password=password, **extra)

    return make


@pytest.fixture(autouse=True)
def _fresh_auth_failure_counters():
    """Every test client signs in from 127.0.0.1: one test's failed sign-ins and bad tokens
    (api.throttling.FailureCounter) must not throttle the next test's."""
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):  # never a shared Redis
        caches["default"].clear()
    yield
