"""WSGI middleware around Django (``stepwise/wsgi.py``): a body
over the upload limit gets a 413 with a short message, and no request leaves unread body
bytes on a keep-alive connection.

Why here and not in Django: gunicorn reads at most 64 KiB of a body the application left
unread before it reuses a keep-alive connection; with more left it closes the connection
after a response that said keep-alive (and it drops an application's ``Connection``
header), so the client's next request on it fails. Reading the rest here keeps the
connection usable. Plain WSGI, no Django import.
"""

from __future__ import annotations

import json

#: The most body bytes read off the connection for a request; a longer body ends the
#: connection instead (gunicorn.conf.py ``pre_request`` makes the response say so).
DRAIN_MAX = 64 * 1024 * 1024
CHUNK = 64 * 1024


def content_length(environ) -> int:
    raw = environ.get("CONTENT_LENGTH") or ""
    return int(raw) if raw.isdigit() else 0


def drain(stream, most: int) -> None:
    """Read and drop what is left of the body, at most ``most`` bytes."""
    while most > 0:
        data = stream.read(min(CHUNK, most))
        if not data:
            return
        most -= len(data)


class BodyLimit:
    """``limit``: Django's DATA_UPLOAD_MAX_MEMORY_SIZE (None: no limit). Multipart bodies
    pass, as in Django, where the limit leaves out files: an import upload has its own
    limit (IMPORT_MAX_UPLOAD_BYTES), checked by its view."""

    def __init__(self, app, limit: int | None, drain_max: int = DRAIN_MAX):
        self.app, self.limit, self.drain_max = app, limit, drain_max

    def __call__(self, environ, start_response):
        length = content_length(environ)
        if not length:
            return self.app(environ, start_response)
        stream = environ["wsgi.input"]
        multipart = (environ.get("CONTENT_TYPE") or "").lower().startswith("multipart/")
        if self.limit is not None and length > self.limit and not multipart:
            drain(stream, min(length, self.drain_max))
            return self.refuse(environ, start_response, length)
        response = self.app(environ, start_response)
        drain(stream, min(length, self.drain_max))  # what the application did not read
        return response

    def refuse(self, environ, start_response, length: int):
        message = (f"The request is {length:,} bytes; the limit is {self.limit:,} bytes. "
                   "Send less at once.")
        wants_json = "json" in (environ.get("CONTENT_TYPE") or "") + (environ.get("HTTP_ACCEPT") or "")
        if wants_json:
            body, kind = json.dumps({"detail": message}).encode(), "application/json"
        else:
            body, kind = message.encode(), "text/plain; charset=utf-8"
        start_response("413 Content Too Large", [("Content-Type", kind),
                                                 ("Content-Length", str(len(body)))])
        return [body]
