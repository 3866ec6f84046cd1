"""A loopback HTTP proxy that answers 500 to its first N completion requests, then forwards.

Usage: python flaky_proxy.py PORT UPSTREAM_BASE_URL N   (upstream like http://127.0.0.1:8000/v1)
"""

import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM, FAILURES = int(sys.argv[1]), sys.argv[2].rstrip("/"), int(sys.argv[3])
UPSTREAM_ROOT = UPSTREAM.rsplit("/v1", 1)[0]
lock = threading.Lock()
failed = 0


def log(status: int, path: str) -> None:
    """One whole line per request: print() from two threads at once can interleave a line's
    text with another's newline."""
    with lock:
        sys.stdout.write(f"{status} {path}\n")
        sys.stdout.flush()


class Proxy(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: bytes, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            return self._answer(200, b'{"status":"ok"}')
        self._forward(None)

    def do_POST(self):
        global failed
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with lock:
            fail = self.path.endswith("/completions") and failed < FAILURES
            failed += fail
        if fail:
            log(500, self.path)
            return self._answer(500, b'{"error":{"message":"injected failure","type":"server_error"}}')
        self._forward(body)

    def _forward(self, body):
        request = urllib.request.Request(UPSTREAM_ROOT + self.path, data=body, method=self.command,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=300) as answer:
                status, data = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        log(status, self.path)
        self._answer(status, data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
