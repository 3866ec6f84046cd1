"""The deployment files and production settings: docker-compose.yml (CI has no Docker
engine, so it is parsed and checked), `check --deploy`, and env-driven defaults."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.portable


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def test_compose_has_every_service_with_its_command(compose):
    services = compose["services"]
    assert set(services) >= {"web", "worker", "worker-gpu", "postgres", "redis", "migrate"}
    assert services["web"]["command"][0] == "gunicorn"
    assert "stepwise.wsgi:application" in services["web"]["command"]
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"

    worker = services["worker"]["command"]
    assert worker[:4] == ["celery", "-A", "stepwise.celery", "worker"]
    assert worker[worker.index("-Q") + 1] == "default"

    gpu = services["worker-gpu"]
    assert gpu["command"][gpu["command"].index("-Q") + 1] == "gpu"
    assert "--pool=solo" in gpu["command"]
    assert gpu["profiles"] == ["gpu"]
    device = gpu["deploy"]["resources"]["reservations"]["devices"][0]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


def test_compose_sends_generation_to_a_vllm_server_under_the_gpu_profile(compose):
    services = compose["services"]
    vllm = services["vllm"]
    assert vllm["image"].startswith("vllm/vllm-openai:") and vllm["profiles"] == ["gpu"]
    assert "--enable-prefix-caching" in vllm["command"]
    assert "/health" in " ".join(vllm["healthcheck"]["test"])
    assert services["worker-gpu"]["depends_on"]["vllm"]["condition"] == "service_healthy"
    for name in ("web", "worker-gpu"):
        assert services[name]["environment"]["GENERATION_SERVER_URL"].endswith("http://vllm:8000/v1}")
        # The vllm key is a named secret projects may choose; other servers must be listed.
        assert services[name]["environment"]["STEPWISE_SERVER_SECRETS"].endswith("vllm=VLLM_API_KEY}")
        assert "STEPWISE_OUTBOUND_HOSTS" in services[name]["environment"]


def test_compose_serves_a_prm_with_the_flags_the_api_gives(compose, tmp_path, settings):
    """The prm service's arguments are the model's `vllm serve` command with its PRM_* values."""
    import shlex

    from training.models import PrmModel
    from training.serving import serving_info

    settings.MODELS_DIR = tmp_path
    folder = tmp_path / "prm" / "7" / "my-prm"
    spec = {"engine": "vllm", "runner": "pooling", "convert": "classify", "step_separator": "<|step|>",
            "task": "token_classify", "max_model_len": 512,
            "pooler_config": {"pooling_type": "STEP", "step_tag_id": 30522}}
    info = serving_info(PrmModel(pk=12, artifact_path=str(folder), model_card={"serving": spec}))
    env = info["compose_env"]
    assert env["PRM_MODEL"] == "prm/7/my-prm" and env["PRM_SERVED_NAME"] == "stepwise-prm-12"
    prm = compose["services"]["prm"]
    assert prm["image"] == compose["services"]["vllm"]["image"] and prm["profiles"] == ["gpu"]
    served = shlex.split(info["vllm_serve"])[3:]  # after `vllm serve <folder>`
    command = prm["command"]
    for flag in ("--served-model-name", "--runner", "--convert", "--pooler-config", "--max-model-len"):
        assert flag in command, flag
        variable = command[command.index(flag) + 1]
        wanted = served[served.index(flag) + 1]
        name = variable[2:].split(":-")[0].rstrip("}") if variable.startswith("${") else None
        assert (env[name] if name else variable) == wanted, flag
    assert command[command.index("--model") + 1].startswith("/data/models/${PRM_MODEL")
    assert "/data" in " ".join(prm["volumes"])
    for name in ("web", "worker-gpu"):
        assert services_env(compose, name)["STEPWISE_SCORING_URLS"].endswith("http://prm:8000}")


def services_env(compose, name):
    return compose["services"][name]["environment"]


def test_compose_services_have_healthchecks_and_wait_for_them(compose):
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "ping" in services["redis"]["healthcheck"]["test"]
    for name in ("web", "worker", "worker-gpu"):
        deps = services[name]["depends_on"]
        assert deps["migrate"]["condition"] == "service_completed_successfully"
        assert deps["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_compose_points_the_app_at_postgres_and_redis(compose):
    env = compose["services"]["web"]["environment"]
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["CELERY_BROKER_URL"].startswith("redis://")
    assert env["REDIS_URL"].startswith("redis://")
    assert "SECRET_KEY" in env


# Variables the test settings set for the suite itself; a production process has none.
TEST_ONLY_ENV = {"DEBUG", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL",
                 "CELERY_BROKER_URL", "REDIS_URL", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE",
                 "CSRF_COOKIE_SECURE", "STEPWISE_DATA_DIR", "STEPWISE_TEST_WORKER",
                 "DJANGO_ALLOW_ASYNC_UNSAFE"}


def _clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in TEST_ONLY_ENV}


def _manage(args, env_extra):
    env = _clean_env()
    env.update(env_extra)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_with_production_env(tmp_path):
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], {
        "DJANGO_SETTINGS_MODULE": "stepwise.settings",
        "SECRET_KEY": "a-long-production-secret-key-" + "x" * 40,
        "ALLOWED_HOSTS": "stepwise.example.org",
        "DATABASE_URL": "postgres://stepwise:pw@db.example.org:5432/stepwise",
        "CELERY_BROKER_URL": "redis://redis.example.org:6379/0",
        "REDIS_URL": "redis://redis.example.org:6379/1",
        "STEPWISE_DATA_DIR": str(tmp_path),
    })
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    result = _manage(["check"], {"DJANGO_SETTINGS_MODULE": "stepwise.settings",
                                 "STEPWISE_DATA_DIR": str(tmp_path)})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def _settings_value(expr: str, env_extra: dict) -> str:
    env = _clean_env()
    env.update({"DJANGO_SETTINGS_MODULE": "stepwise.settings", "SECRET_KEY": "x"}, **env_extra)
    code = f"import django; django.setup(); from django.conf import settings as s; print({expr})"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_defaults_need_no_services(tmp_path):
    env = {"STEPWISE_DATA_DIR": str(tmp_path)}
    assert _settings_value("s.DATABASES['default']['ENGINE']", env) == "django.db.backends.sqlite3"
    assert _settings_value("s.DATABASES['default']['NAME']", env) == str(tmp_path / "stepwise.sqlite3")
    assert _settings_value("s.CELERY_BROKER_URL", env) == "filesystem://"
    # Every broker folder, broadcast (control) included, lives under the data directory.
    folders = _settings_value("sorted(s.CELERY_BROKER_TRANSPORT_OPTIONS.items())", env)
    assert f"('control_folder', '{tmp_path / 'broker' / 'control'}')" in folders
    assert _settings_value("s.DEBUG", env) == "False"


def test_env_selects_postgres_redis_and_debug(tmp_path):
    env = {"STEPWISE_DATA_DIR": str(tmp_path), "DEBUG": "1",
           "DATABASE_URL": "postgres://u:p@h:5432/db", "CELERY_BROKER_URL": "redis://h:6379/0",
           "REDIS_URL": "redis://h:6379/1"}
    assert _settings_value("s.DATABASES['default']['ENGINE']", env) == "django.db.backends.postgresql"
    assert _settings_value("s.CELERY_BROKER_URL", env) == "redis://h:6379/0"
    assert "RedisCache" in _settings_value("s.CACHES['default']['BACKEND']", env)
    assert _settings_value("s.DEBUG", env) == "True"


def test_celery_routes_gpu_work_and_acks_late():
    from stepwise.celery import app

    assert app.conf.task_default_queue == "default"
    assert app.conf.task_routes == {"gpu.*": {"queue": "gpu"}}
    assert app.conf.task_acks_late is True
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.conf.task_always_eager is False


def _gunicorn_config(env_extra: dict) -> dict:
    env = _clean_env()
    env.update({"DJANGO_SETTINGS_MODULE": "stepwise.settings", "SECRET_KEY": "x"}, **env_extra)
    out = subprocess.run([sys.executable, "-m", "gunicorn", "--print-config", "stepwise.wsgi:application"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    pairs = (line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs}


def test_gunicorn_reads_the_project_config_file(tmp_path):
    """compose and the Dockerfile start plain `gunicorn stepwise.wsgi:application`: the
    process count, thread count and keep-alive come from gunicorn.conf.py."""
    cfg = _gunicorn_config({"STEPWISE_DATA_DIR": str(tmp_path)})
    assert cfg["workers"] == str(min(len(os.sched_getaffinity(0)) + 1, 17))
    assert cfg["threads"] == "2" and cfg["worker_class"] == "gthread"
    assert cfg["keepalive"] == "30" and cfg["bind"] == "['0.0.0.0:8000']"
    tuned = _gunicorn_config({"STEPWISE_DATA_DIR": str(tmp_path), "WEB_CONCURRENCY": "3",
                              "GUNICORN_THREADS": "4"})
    assert tuned["workers"] == "3" and tuned["threads"] == "4"


def test_sessions_are_cached_in_redis_only(tmp_path):
    env = {"STEPWISE_DATA_DIR": str(tmp_path)}
    assert _settings_value("s.SESSION_ENGINE", env) == "django.contrib.sessions.backends.db"
    env["REDIS_URL"] = "redis://h:6379/1"
    assert _settings_value("s.SESSION_ENGINE", env) == "stepwise.sessions"  # cached_db, checked against the DB


@pytest.fixture
def gunicorn_server(tmp_path):
    """The web process as production starts it (gunicorn.conf.py), on a free local port."""
    import http.client
    import socket
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = _clean_env()
    # No database is touched by the requests below: an empty SQLite data directory will do.
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", STEPWISE_TEST_SQLITE="1",
               STEPWISE_DATA_DIR=str(tmp_path), PYTHONWARNINGS="ignore", GUNICORN_ACCESSLOG="-")
    log = open(tmp_path / "gunicorn.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "stepwise.wsgi:application", "-c", "gunicorn.conf.py",
         "-w", "1", "--threads", "2", "-b", f"127.0.0.1:{port}", "--no-control-socket"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/login/")
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("gunicorn did not start:\n" + (tmp_path / "gunicorn.log").read_text())
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_oversized_body_is_a_413_and_the_keepalive_connection_survives(gunicorn_server):
    import http.client
    import json

    from django.conf import settings

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    conn = http.client.HTTPConnection("127.0.0.1", gunicorn_server, timeout=30)

    def call(method, path, body=None, headers=None):
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp, resp.read()

    resp, _ = call("GET", "/login/")
    assert resp.status == 200 and resp.getheader("Connection") == "keep-alive"
    sock = conn.sock
    # JSON over the limit: the API answers in JSON.
    big = json.dumps({"project": 1, "items": [{"statement": "x" * (limit + 1000)}]})
    resp, body = call("POST", "/api/problems/bulk/", big, {"Content-Type": "application/json"})
    assert resp.status == 413 and resp.getheader("Connection") == "keep-alive"
    assert f"the limit is {limit:,} bytes" in json.loads(body)["detail"]
    resp, _ = call("GET", "/login/")
    assert resp.status == 200 and conn.sock is sock  # the same connection, still in step
    # A form over the limit (a labeling page's POST): a plain-text message for its bar.
    form = "text=" + "y" * (limit + 1)
    resp, body = call("POST", "/task/1/write/", form,
                      {"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true"})
    assert resp.status == 413 and resp.getheader("Content-Type").startswith("text/plain")
    assert body.decode().startswith("The request is ")
    # Under the limit but never read (refused before the view reads it): still in step.
    unread = json.dumps({"project": 1, "items": [{"statement": "z" * (limit // 2)}]})
    resp, _ = call("POST", "/api/problems/bulk/", unread, {"Content-Type": "application/json"})
    assert resp.status == 401
    resp, _ = call("GET", "/login/")
    assert resp.status == 200 and conn.sock is sock
    conn.close()


def test_a_body_too_long_to_read_off_ends_the_connection_and_says_so(gunicorn_server):
    import http.client

    from stepwise.body_limit import DRAIN_MAX

    conn = http.client.HTTPConnection("127.0.0.1", gunicorn_server, timeout=30)
    conn.request("POST", "/api/problems/bulk/", body=b"x" * (DRAIN_MAX + 1024 * 1024),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    assert resp.status == 413 and resp.getheader("Connection") == "close"
    conn.request("GET", "/login/")  # the client opens a new connection by itself
    assert conn.getresponse().status == 200
    conn.close()


def test_the_access_log_leaves_out_reward_url_secrets(gunicorn_server, tmp_path):
    import http.client
    import time

    from api.models import APIToken

    key = APIToken.generate_key()  # reward URLs' secrets have the API keys' form
    env = _clean_env()
    env.update(DJANGO_SETTINGS_MODULE="tests.settings", STEPWISE_TEST_SQLITE="1",
               STEPWISE_DATA_DIR=str(tmp_path))
    subprocess.run([sys.executable, "manage.py", "migrate", "-v", "0"], cwd=REPO, env=env,
                   check=True)  # the server's database, so the unknown key is looked up
    connection = http.client.HTTPConnection("127.0.0.1", gunicorn_server, timeout=10)
    connection.request("POST", f"/api/prm/reward/{key}/", body=b"{}",
                       headers={"Content-Type": "application/json"})
    status = connection.getresponse().status
    connection.close()
    assert 400 <= status < 500
    log = tmp_path / "gunicorn.log"
    deadline = time.monotonic() + 10
    while '"POST /api/prm/reward/' not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    text = log.read_text()
    assert f'"POST /api/prm/reward/{key[:6]}…[redacted]/ HTTP/1.1" {status}' in text
    assert key[6:] not in text
    assert "GET /login/" in text  # the rest of the access log is as gunicorn writes it
