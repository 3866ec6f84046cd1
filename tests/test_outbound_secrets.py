"""Secrets never leave by a setting, and outbound requests go only where the operator allows.

A real local HTTP server records every request (and its Authorization header); the
Generator tab, saved settings, a generation Run in a real worker and the outbound policy
are driven against it. Loopback is allowed for the test suite through
``STEPWISE_OUTBOUND_HOSTS`` (tests/settings.py); tests that prove the default override it.
"""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from annotate.models import Membership, Problem, Project
from demo.testing import build_test_model
from generation.backends.openai_server import OpenAIServerBackend, ServerError
from generation.config import GeneratorSettings
from generation.modeldirs import NOT_AVAILABLE
from generation.services import request_solutions, update_generator
from outbound.credentials import UNKNOWN
from outbound.policy import OutboundRefused, check_url
from outbound.redact import redact, strip_credentials
from tests.conftest import wait_for_run
from workers.models import Run
from workers.runs import start_run

from .manage_factories import add

pytestmark = [pytest.mark.django_db(transaction=True)]

COMPLETION = {"id": "c1", "object": "text_completion", "created": 0, "model": "m",
              "choices": [{"index": 0, "text": " 5", "finish_reason": "stop", "logprobs": None}],
              "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}


class Recorder:
    """A local HTTP server that records (path, Authorization) of each request and answers
    with ``mode``: a completion, a redirect to ``location``, or 200 non-JSON."""

    def __init__(self, mode="complete", location=""):
        self.seen: list[tuple[str, str]] = []
        self.mode, self.location = mode, location
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                recorder.seen.append((self.path, self.headers.get("Authorization", "")))
                if recorder.mode == "redirect":
                    self.send_response(302)
                    self.send_header("Location", recorder.location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = (b"<html>hello</html>" if recorder.mode == "html"
                        else json.dumps(COMPLETION).encode())
                self.send_response(200)
                self.send_header("Content-Type", "text/html" if recorder.mode == "html"
                                 else "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder():
    servers = []

    def start(**kwargs) -> Recorder:
        servers.append(Recorder(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture
def admin_client(client, make_user):
    admin = make_user("gen-admin")
    project = Project.objects.create(name="Gen", slug="gen")
    add(project, admin, Membership.Role.ADMIN)
    client.force_login(admin)
    return client, project


PAGE = "/manage/gen/generator/"


@pytest.fixture(autouse=True)
def registered_hub_model(settings):
    """The forms' hub id is one the operator named: only those pass (generation.modeldirs)."""
    settings.STEPWISE_MODEL_REGISTRY = ["qwen-math=Qwen/Qwen2.5-Math-1.5B"]


def form(base_url="", **extra):
    return {"model": "Qwen/Qwen2.5-Math-1.5B", "backend": "openai", "base_url": base_url,
            "served_model": "", "api_secret": "", "concurrency": 2, "timeout": 10, "retries": 0,
            "tensor_parallel_size": 0, "gpu_memory_utilization": 0.85, "dtype": "auto",
            "temperature": 0.7, "top_p": 0.9, "delimiter": "\\n", "max_new_tokens": 64,
            "max_step_tokens": 16, "max_steps": 20, "batch_size": 8, **extra}


def test_the_generator_form_never_sends_an_environment_variable(admin_client, recorder):
    client, project = admin_client
    server = recorder()
    secret = os.environ["SECRET_KEY"]
    for name in ("SECRET_KEY", "DATABASE_URL", "NO_SUCH_VARIABLE_AT_ALL"):
        # The same words whether or not the variable exists: no oracle.
        saved = client.post(PAGE, form(server.url, api_secret=name))
        assert saved.status_code == 400 and UNKNOWN in saved.content.decode()
        tested = client.post(PAGE + "test/", form(server.url, api_secret=name))
        assert tested.status_code == 400 and UNKNOWN in tested.content.decode()
        assert name not in tested.content.decode()
    # The old field name is not a way in either: the test connection sends no key.
    tested = client.post(PAGE + "test/", form(server.url, api_key_env="SECRET_KEY"))
    assert tested.status_code == 200 and b"answered in" in tested.content
    assert server.seen and all(secret not in auth for _, auth in server.seen)
    project.refresh_from_db()
    assert project.generator == {}


def test_a_secret_the_operator_lists_is_sent(admin_client, recorder, settings, monkeypatch):
    client, project = admin_client
    server = recorder()
    settings.STEPWISE_SERVER_SECRETS = "vllm=STEPWISE_TEST_VLLM_KEY"
    monkeypatch.setenv("STEPWISE_TEST_VLLM_KEY", "operator-key-123")
    page = client.get(PAGE).content.decode()
    assert 'value="vllm"' in page and "SECRET_KEY" not in page
    tested = client.post(PAGE + "test/", form(server.url, api_secret="vllm"))
    assert tested.status_code == 200 and b"answered in" in tested.content
    assert server.seen == [("/v1/completions", "Bearer operator-key-123")]
    assert client.post(PAGE, form(server.url, api_secret="vllm")).status_code == 302
    project.refresh_from_db()
    assert project.generator["api_secret"] == "vllm"
    # An unset listed secret names the secret, not its variable.
    monkeypatch.delenv("STEPWISE_TEST_VLLM_KEY")
    tested = client.post(PAGE + "test/", form(server.url, api_secret="vllm"))
    assert b"secret &#x27;vllm&#x27; has no value" in tested.content
    assert b"STEPWISE_TEST_VLLM_KEY" not in tested.content and len(server.seen) == 1


def test_saved_settings_naming_an_env_var_never_reach_a_request(admin_client, recorder):
    _, project = admin_client
    server = recorder()
    generator = {"model": "Qwen/Qwen2.5-Math-1.5B", "backend": "openai", "base_url": server.url,
                 "api_key_env": "SECRET_KEY"}
    with pytest.raises(ValueError, match="one of the server secrets"):
        update_generator(project, generator)
    with pytest.raises(ValueError, match="one of the server secrets"):
        GeneratorSettings.from_dict(generator)
    # Saved around the services (the JSON field, an old row): generation refuses too.
    Project.objects.filter(pk=project.pk).update(generator=generator)
    project.refresh_from_db()
    Problem.objects.create(project=project, statement="2 + 3?", ground_truth_answer="5")
    with pytest.raises(ValueError, match="one of the server secrets"):
        request_solutions(project=project, n=1)
    assert server.seen == []


@pytest.mark.worker
def test_a_run_with_an_env_var_as_its_key_fails_without_a_request(admin_client, recorder,
                                                                  celery_worker):
    _, project = admin_client
    server = recorder()
    Project.objects.filter(pk=project.pk).update(generator={
        "model": "Qwen/Qwen2.5-Math-1.5B", "backend": "openai", "base_url": server.url,
        "api_key_env": "SECRET_KEY", "retries": 0})
    problem = Problem.objects.create(project=project, statement="2 + 3?", ground_truth_answer="5")
    run = wait_for_run(start_run("generate_solutions", {"problem_ids": [problem.pk], "n": 1},
                                 project=project), timeout=120)
    assert run.status == Run.Status.FAILED and UNKNOWN in run.error
    assert os.environ["SECRET_KEY"] not in run.error
    assert server.seen == []


def test_a_loopback_port_is_refused_by_default_without_a_connection(admin_client, recorder,
                                                                    settings):
    client, _ = admin_client
    server = recorder()
    settings.STEPWISE_OUTBOUND_HOSTS = []
    settings.GENERATION_SERVER_URL = ""
    for url in (server.url, f"http://localhost:{server.port}/v1", "http://169.254.169.254/v1",
                "http://10.0.0.1:8000/v1"):
        tested = client.post(PAGE + "test/", form(url))
        assert tested.status_code == 200 and b"not among the servers this deployment allows" \
            in tested.content, url
    # A wildcard reaches public hosts only; an exact name or a listed network reaches inside.
    settings.STEPWISE_OUTBOUND_HOSTS = ["*"]
    with pytest.raises(OutboundRefused):
        check_url(f"http://localhost:{server.port}/v1")
    settings.STEPWISE_OUTBOUND_HOSTS = [f"127.0.0.1:{server.port + 1}"]
    with pytest.raises(OutboundRefused):
        check_url(server.url)
    assert server.seen == []
    settings.STEPWISE_OUTBOUND_HOSTS = ["localhost"]
    check_url(f"http://localhost:{server.port}/v1")
    settings.STEPWISE_OUTBOUND_HOSTS = ["127.0.0.0/8"]
    check_url(server.url)
    # The deployment's own server is allowed implicitly.
    settings.STEPWISE_OUTBOUND_HOSTS = []
    settings.GENERATION_SERVER_URL = server.url
    tested = client.post(PAGE + "test/", form(""))
    assert b"answered in" in tested.content and len(server.seen) == 1


def test_a_redirect_is_not_followed_and_non_json_is_a_clean_error(admin_client, recorder):
    client, _ = admin_client
    elsewhere = recorder()
    mover = recorder(mode="redirect", location=f"http://127.0.0.1:{elsewhere.port}/v1/completions")
    tested = client.post(PAGE + "test/", form(mover.url))
    assert tested.status_code == 200 and b"answered a redirect (302)" in tested.content
    assert len(mover.seen) == 1 and elsewhere.seen == []

    html = recorder(mode="html")
    tested = client.post(PAGE + "test/", form(html.url))
    assert tested.status_code == 200
    assert b"not an OpenAI completions response" in tested.content and len(html.seen) == 1
    backend = OpenAIServerBackend(GeneratorSettings.from_dict(
        {"model": "m", "backend": "openai", "base_url": html.url, "retries": 0}))
    with pytest.raises(ServerError, match="not an OpenAI completions response"):
        backend._create({"model": "m", "prompt": "p", "n": 1, "max_tokens": 4})


@pytest.fixture
def no_hub(monkeypatch):
    """Loading a config or reaching the hub from the web process fails the test."""
    import huggingface_hub
    import transformers

    def refuse(*args, **kwargs):
        raise AssertionError("the web process loaded model files or called the hub")

    monkeypatch.setattr(transformers.AutoConfig, "from_pretrained", refuse)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", refuse)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", refuse)
    monkeypatch.setattr(huggingface_hub.file_download, "hf_hub_download", refuse)


def _model_dir(path, model_type="bert"):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": model_type}))
    return path


def test_the_model_field_reads_only_allowed_dirs_and_never_the_hub(admin_client, settings,
                                                                   tmp_path, no_hub):
    client, project = admin_client
    settings.MODELS_DIR = tmp_path / "models"
    own = _model_dir(settings.MODELS_DIR / "prm" / f"{project.pk}-1-mine")
    other = _model_dir(settings.MODELS_DIR / "prm" / f"{project.pk + 1000}-7-theirs")
    shared = _model_dir(settings.MODELS_DIR / "qwen-math", "qwen2")
    outside = _model_dir(tmp_path / "elsewhere" / "gpt", "gpt2")

    def check(model):
        answer = client.post(PAGE + "test/", form(model=model, backend="transformers"))
        assert answer.status_code == 200
        return answer.content.decode()

    for model in ("/etc/passwd", "/etc", str(other), str(outside),
                  str(settings.MODELS_DIR / "missing"), str(own / ".." / f"{project.pk + 1000}-7-theirs")):
        text = check(model)
        assert NOT_AVAILABLE in text and "JSON" not in text and "Repo id" not in text, model
    assert "Found a bert model" in check(str(own))
    assert "Found a qwen2 model" in check(str(shared))
    settings.STEPWISE_MODEL_DIRS = [str(tmp_path / "elsewhere")]
    assert "Found a gpt2 model" in check(str(outside))
    # A hub id only where the operator's registry names it (generation.modeldirs).
    assert NOT_AVAILABLE in check("Qwen/Qwen2.5-Math-7B-Instruct")
    settings.STEPWISE_MODEL_REGISTRY = ["qwen7=Qwen/Qwen2.5-Math-7B-Instruct"]
    for hub in (check("qwen7"), check("Qwen/Qwen2.5-Math-7B-Instruct")):
        assert "Hugging Face id" in hub and "worker resolves it" in hub
        assert "Generate a few solutions" not in hub


@pytest.mark.worker
def test_credentials_in_a_server_url_never_reach_a_run_error_or_a_page(admin_client, recorder,
                                                                       celery_worker):
    client, project = admin_client
    server = recorder(mode="html")
    with_password = server.url.replace("http://", "http://alice:hunter2pw@")
    answer = client.post(PAGE + "test/", form(with_password))
    assert b"hunter2pw" not in answer.content and b"not an OpenAI completions" in answer.content
    # A model the worker may load (the suite's, in STEPWISE_MODEL_DIRS): the request is made.
    Project.objects.filter(pk=project.pk).update(generator={
        "model": str(build_test_model()), "backend": "openai", "base_url": with_password,
        "retries": 0})
    problem = Problem.objects.create(project=project, statement="2 + 3?", ground_truth_answer="5")
    run = wait_for_run(start_run("generate_solutions", {"problem_ids": [problem.pk], "n": 1},
                                 project=project), timeout=120)
    assert run.status == Run.Status.FAILED and "127.0.0.1" in run.error
    assert "hunter2pw" not in run.error and "alice" not in run.error
    page = client.get(f"/manage/gen/runs/{run.pk}/")
    assert page.status_code == 200 and b"hunter2pw" not in page.content


@pytest.mark.portable
def test_redaction_masks_url_credentials_and_key_shaped_values():
    assert strip_credentials("at http://u:p@host:8/v1 and https://tok@h/") == \
        "at http://***@host:8/v1 and https://***@h/"
    text = redact("key sk-live-abcdef123456 and Bearer abc.def-ghi_jkl and hf_abcdefghijkl")
    assert "abcdef123456" not in text and "abc.def-ghi_jkl" not in text and "hf_abc" not in text
    assert redact("/srv/models/Qwen2.5-Math-7B-Instruct") == "/srv/models/Qwen2.5-Math-7B-Instruct"


@pytest.mark.portable
def test_log_lines_lose_url_credentials():
    import logging

    from django.conf import settings

    from outbound.redact import RedactCredentials

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "POST %s failed", ("http://u:pw1@h/v1",), None)
    assert RedactCredentials().filter(record) and record.getMessage() == "POST http://***@h/v1 failed"
    assert "redact_credentials" in settings.LOGGING["handlers"]["console"]["filters"]
