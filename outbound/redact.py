"""Messages and log lines never carry credentials: userinfo in URLs and key-shaped values."""

from __future__ import annotations

import logging
import re

# scheme://user:pass@host -> scheme://***@host (also user@host: a token can be the user).
USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^\s/@'\"<>]+@")
# What API keys look like: vendor prefixes, bearer tokens, long opaque strings.
KEY_SHAPED = re.compile(
    r"(?i)\b(?:sk|pk|rk|hf|gh[pousr]|xox[abprs]|sw|glpat|AKIA)[-_][A-Za-z0-9_\-]{6,}"
    r"|(?i:bearer)\s+[A-Za-z0-9._~+/=\-]{8,}"
    r"|\b(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{32,}\b")
MASK = "***"


def strip_credentials(text: str) -> str:
    """``text`` with the userinfo of every URL masked."""
    return USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", str(text))


def redact(text: str) -> str:
    """``text`` without URL credentials or key-shaped values."""
    return KEY_SHAPED.sub(MASK, strip_credentials(text))


def looks_like_a_key(value: str) -> bool:
    return bool(KEY_SHAPED.search(str(value)))


class RedactCredentials(logging.Filter):
    """A logging filter: URL credentials and key-shaped values never reach a log line."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True
