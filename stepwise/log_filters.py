"""Routine client errors log one line: a 403 or 404 is an answer, not a fault, so
Django's request logger keeps its warning but drops the traceback it attaches."""

import logging


class NoTracebackForClientErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
