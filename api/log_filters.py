"""A logging filter that masks API keys, wherever a message might carry one."""

import logging
import re

TOKEN_RE = re.compile(r"sw_[A-Za-z0-9_\-]{8,}")


def redact(text: str) -> str:
    return TOKEN_RE.sub(lambda m: m.group(0)[:6] + "…[redacted]", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "sw_" in message:
            record.msg = redact(message)
            record.args = None
        return True
