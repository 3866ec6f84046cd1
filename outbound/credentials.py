"""Named secrets: the credentials of servers that projects point at.

The operator lists them for the deployment (``STEPWISE_SERVER_SECRETS``: ``NAME`` or
``NAME=ENVVAR``, comma-separated); a project stores only the NAME it chose. Nothing a
project admin types ever becomes an environment variable lookup, and a name that is not
listed gets one message whether or not such a variable exists.
"""

from __future__ import annotations

import os
import re

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,99}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,99}$")
# The deployment's own credentials are never a server's key, even if listed by mistake.
NEVER = frozenset({"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"})
UNKNOWN = "Choose one of the server secrets this deployment defines (STEPWISE_SERVER_SECRETS)."


class SecretUnavailable(Exception):
    """A listed secret whose variable is empty in this process."""


def parse(spec: str) -> dict[str, str]:
    """``"A, B=ENV_B"`` -> ``{"A": "A", "B": "ENV_B"}``; a bad entry is the operator's error."""
    out: dict[str, str] = {}
    for item in (spec or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, env = (p.strip() for p in item.partition("="))
        env = env or name
        if not NAME.match(name) or not ENV_NAME.match(env):
            raise ImproperlyConfigured(f"STEPWISE_SERVER_SECRETS: '{name}' is not NAME or NAME=ENVVAR.")
        if env in NEVER:
            raise ImproperlyConfigured(f"STEPWISE_SERVER_SECRETS: {env} is the deployment's own "
                                       "credential and never a server's key.")
        out[name] = env
    return out


def server_secrets() -> dict[str, str]:
    """The operator's secrets: name -> environment variable."""
    return parse(getattr(settings, "STEPWISE_SERVER_SECRETS", ""))


def secret_names() -> list[str]:
    return sorted(server_secrets())


def check_secret_name(name: str) -> str:
    """``name`` if the operator defines it, else ValueError (the same for every other name)."""
    name = str(name or "").strip()
    if name and name not in server_secrets():
        raise ValueError(UNKNOWN)
    return name


def read_secret(name: str) -> str:
    """The value of a listed secret. The message names the secret, never its variable."""
    env = server_secrets().get(check_secret_name(name))
    value = os.environ.get(env, "").strip() if env else ""
    if not value:
        raise SecretUnavailable(f"The server secret '{name}' has no value in this process.")
    return value
