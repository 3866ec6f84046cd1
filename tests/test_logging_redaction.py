"""With DEBUG on (what ``make run`` sets), a reward URL's secret never reaches the console:
every handler of every logger redacts, and each line is printed once."""

import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.conftest import REPO

KEY = "sw_" + "Zq9-_k" * 7

# The production settings module, as ``make run`` loads it, with a request whose path
# carries a secret that authenticates nothing (DRF logs "Unauthorized: <path>").
SCRIPT = f"""
import logging
import django
django.setup()
from django.conf import settings
assert settings.DEBUG
from django.test import Client
r = Client().post("/api/prm/reward/{KEY}/", data="{{}}", content_type="application/json",
                  HTTP_HOST="localhost")
print("status", r.status_code, flush=True)
logging.getLogger("django.server").info('"POST /api/prm/reward/%s/ HTTP/1.1" 401 0', "{KEY}")
unredacted = [(name, h) for name, lg in [("", logging.getLogger())] + sorted(
    logging.root.manager.loggerDict.items()) if isinstance(lg, logging.Logger)
    for h in lg.handlers if not isinstance(h, logging.NullHandler)
    and not any(type(f).__name__ == "RedactTokens" for f in h.filters)]
print("unredacted", unredacted, flush=True)
"""


@pytest.mark.django_db(transaction=True)
def test_debug_console_prints_reward_url_lines_once_and_redacted():
    db = settings.DATABASES["default"]
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "LOG_LEVEL")}
    env.update(DEBUG="1", DJANGO_SETTINGS_MODULE="stepwise.settings",
               ALLOWED_HOSTS="localhost", PYTHONUNBUFFERED="1")
    if db["ENGINE"].endswith("postgresql"):
        env["DATABASE_URL"] = (f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:"
                               f"{db['PORT'] or 5432}/{db['NAME']}")
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=120)
    assert "status 401" in out.stdout or "status 403" in out.stdout, out.stdout + out.stderr
    assert "unredacted []" in out.stdout, out.stdout
    assert KEY not in out.stderr + out.stdout
    lines = [line for line in out.stderr.splitlines() if "/api/prm/reward/sw_Zq9" in line]
    assert len([x for x in lines if "Unauthorized" in x or "Forbidden" in x]) == 1, out.stderr
    assert len([x for x in lines if "HTTP/1.1" in x]) == 1, out.stderr
