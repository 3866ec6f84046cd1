"""Settings for the test suite: the production settings, with test-only secrets and
services. PostgreSQL and Redis by default; ``STEPWISE_TEST_SQLITE=1`` runs the
portable subset on the no-services defaults (SQLite and the filesystem broker)."""

import os
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "tests-only-not-secret")
os.environ.setdefault("ALLOWED_HOSTS", "localhost,127.0.0.1,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
# Dead workers are noticed in seconds here (the defaults are minutes).
os.environ.setdefault("RUN_HEARTBEAT_SECONDS", "1")
os.environ.setdefault("RUN_STALE_SECONDS", "8")
os.environ.setdefault("RUN_SWEEP_SECONDS", "1")
os.environ.setdefault("RUN_PUBLISH_GRACE_SECONDS", "1")
os.environ.setdefault("RUN_REPUBLISH_SECONDS", "10")
# The tests' servers listen on loopback; production allows it only where an operator lists it.
os.environ.setdefault("STEPWISE_OUTBOUND_HOSTS", "127.0.0.1")
os.environ.setdefault("STEPWISE_DATA_DIR", str(Path(__file__).resolve().parent.parent / "data" / "test"))

if os.environ.get("STEPWISE_TEST_SQLITE") == "1":
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("CELERY_BROKER_URL", None)
else:
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/stepwise")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")

from stepwise.settings import *  # noqa: E402,F403
from stepwise.settings import DATA_DIR, DATABASES  # noqa: E402

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not :memory:, so that a worker process sees the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SHARED_DATA_DIR = Path(
    os.environ.get("STEPWISE_SHARED_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data")
)

if os.environ.get("STEPWISE_TEST_WORKER") == "1":
    # The worker process of the test suite talks to the database pytest-django created.
    db = DATABASES["default"]
    db["NAME"] = db.get("TEST", {}).get("NAME") or f"test_{db['NAME']}"

# Run kinds that inject faults (tests/fault_kinds.py), known to the suite's workers only.
CELERY_IMPORTS = ["tests.fault_kinds"]

# The suite's generator models (demo.testing.build_test_model) live outside MODELS_DIR:
# the worker loads only models of the allowed folders (generation.modeldirs).
STEPWISE_MODEL_DIRS = [*STEPWISE_MODEL_DIRS, str(Path(__file__).resolve().parent.parent / "data" / "test-models")]  # noqa: F405
if os.environ.get("STEPWISE_TEST_MODEL"):  # demo.testing's override: a model elsewhere
    STEPWISE_MODEL_DIRS.append(str(Path(os.environ["STEPWISE_TEST_MODEL"]).parent))
if os.environ.get("STEPWISE_TEST_JUDGE"):  # and the demo judge's
    STEPWISE_MODEL_DIRS.append(str(Path(os.environ["STEPWISE_TEST_JUDGE"]).parent))
