"""A loopback HTTP proxy that forwards everything and logs each completions request.

Usage: python counting_proxy.py PORT UPSTREAM_BASE_URL LOG   (upstream like http://127.0.0.1:8000/v1)
Each line of LOG is one request, as JSON: its status, the ``n``, ``seed``, ``stop`` and
``prompt`` it asked with, and how many choices came back: the tests see whether a server
honoured ``n`` in one request or the backend had to ask again.
"""

import json
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM, LOG = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
UPSTREAM_ROOT = UPSTREAM.rsplit("/v1", 1)[0]
lock = threading.Lock()


class Proxy(BaseHTTPRequestHandler):
    def _answer(self, status: int, body: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            return self._answer(200, b'{"status":"ok"}')
        self._forward(None)

    def do_POST(self):
        self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

    def _forward(self, body):
        request = urllib.request.Request(UPSTREAM_ROOT + self.path, data=body, method=self.command,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=600) as answer:
                status, data = answer.status, answer.read()
        except urllib.error.HTTPError as exc:
            status, data = exc.code, exc.read()
        if self.path.endswith("/completions"):
            asked = json.loads(body or b"{}")
            try:
                choices = len(json.loads(data)["choices"])
            except (ValueError, KeyError, TypeError):
                choices = None
            line = {"status": status, "n": asked.get("n", 1), "seed": asked.get("seed"),
                    "stop": asked.get("stop"), "prompt": asked.get("prompt"), "choices": choices}
            with lock, open(LOG, "a") as log:
                log.write(json.dumps(line) + "\n")
        self._answer(status, data)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
