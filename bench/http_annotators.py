"""HTTP annotators for the benchmarks: a keep-alive client that logs in and sends the CSRF
token, and threads that label a first-error project through the real pages, counting every
response by status and latency."""

from __future__ import annotations

import http.client
import json
import random
import re
import statistics
import threading
import time
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit

HOST = "127.0.0.1"
PASSWORD = "faults-bench-pw"
STEPS = 4  # steps per seeded solution


class Stats:
    """Every request of a scenario: when it began, what, status (None: the connection failed),
    latency."""

    def __init__(self):
        self.lock = threading.Lock()
        self.calls: list[tuple[float, str, int | None, float, str]] = []

    def add(self, method: str, path: str, status: int | None, ms: float, detail: str = "") -> None:
        route = re.sub(r"/\d+/", "/<id>/", path)
        with self.lock:
            self.calls.append((time.monotonic() - ms / 1000, f"{method} {route}", status, ms, detail))

    def count(self, test) -> int:
        with self.lock:
            return sum(1 for c in self.calls if test(c))


class Response:
    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def text(self) -> str:
        return self.body.decode(errors="replace")


class Client:
    """One browser: its own keep-alive connection and cookie jar."""

    def __init__(self, port: int, stats: Stats, headers: dict | None = None):
        self.port, self.stats = port, stats
        self.cookies: dict[str, str] = {}
        self.headers = headers or {}
        self.conn: http.client.HTTPConnection | None = None

    def _send(self, method, path, body, headers):
        if self.conn is None:
            self.conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        return resp, resp.read()

    def call(self, method: str, path: str, fields: dict | None = None, json_body=None,
             hx: bool = False, tag: str = "", raw: tuple[bytes, str] | None = None) -> Response | None:
        """``raw``: a body sent as it is, with its content type (bad-input benchmarks)."""
        headers = dict(self.headers)
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
        if hx:
            headers["HX-Request"] = "true"
        body = None
        if raw is not None:
            body = raw[0]
            if raw[1]:
                headers["Content-Type"] = raw[1]
        elif json_body is not None:
            body, headers["Content-Type"] = json.dumps(json_body), "application/json"
        elif fields is not None:
            body = urlencode(fields)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        t0 = time.perf_counter()
        reused = self.conn is not None
        try:
            try:
                resp, data = self._send(method, path, body, headers)
            except (ConnectionError, http.client.RemoteDisconnected, http.client.BadStatusLine):
                if not reused:
                    raise
                # A keep-alive connection the server had closed: one fresh try.
                self.close()
                t0 = time.perf_counter()
                resp, data = self._send(method, path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            self.stats.add(method, path + tag, None, (time.perf_counter() - t0) * 1000,
                           f"{type(exc).__name__}: {exc}")
            return None
        ms = (time.perf_counter() - t0) * 1000
        for header in resp.msg.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        self.stats.add(method, path + tag, resp.status, ms,
                       data[:200].decode(errors="replace") if resp.status >= 500 else "")
        return Response(resp.status, resp.msg, data)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def login(self, username: str) -> bool:
        if self.call("GET", "/login/") is None or "csrftoken" not in self.cookies:
            return False
        resp = self.call("POST", "/login/", {"username": username, "password": PASSWORD,
                                              "csrfmiddlewaretoken": self.cookies["csrftoken"]})
        return resp is not None and resp.status == 302 and "sessionid" in self.cookies


def panel_attr(html: str, name: str) -> str:
    m = re.search(rf'<section id="task"[^>]*?\s{name}="([^"]*)"', html, re.S)
    return m.group(1) if m else ""


def annotate(client: Client, slug: str, stop_at: float, think: float, p_bad: float,
             rng: random.Random, counts: dict) -> None:
    """Next task, rate the focused step until the walk is done, finish; until stop_at."""

    def pause(seconds: float) -> None:
        time.sleep(max(0.0, min(seconds, stop_at - time.monotonic())))

    for _ in range(10_000):
        if time.monotonic() >= stop_at:
            return
        resp = client.call("POST", f"/p/{slug}/next/", {}, hx=True)
        if resp is None or resp.status >= 400:
            pause(0.3)
            continue
        if resp.status != 204:  # the "no tasks left" page
            counts["out_of_tasks"] += 1
            return
        task_url = urlsplit(resp.headers.get("HX-Redirect", "")).path
        resp = client.call("GET", task_url, hx=True)
        if resp is None or resp.status != 200:
            pause(0.3)
            continue
        html = resp.text()
        for _ in range(4 * STEPS):
            if panel_attr(html, "data-walk-done") == "1" or time.monotonic() >= stop_at:
                break
            node = panel_attr(html, "data-focus")
            if not node:
                break
            pause(rng.uniform(0, 2 * think))
            rating = -1 if rng.random() < p_bad else 1
            resp = client.call("POST", panel_attr(html, "data-rate-url"),
                               {"node": node, "rating": rating, "ms": 900}, hx=True,
                               tag=" (Bad)" if rating == -1 else "")
            if resp is None or resp.status != 200:
                break
            counts["bad" if rating == -1 else "good"] += 1
            html = resp.text()
        if panel_attr(html, "data-walk-done") == "1" and time.monotonic() < stop_at:
            resp = client.call("POST", panel_attr(html, "data-finish-url"),
                               {"reason": panel_attr(html, "data-reason")}, hx=True)
            if resp is not None and resp.status == 204:
                counts["finished"] += 1


class Annotators:
    """N logged-in HTTP annotators in threads, from start() until stop_at."""

    def __init__(self, n: int, port: int, slug: str, stats: Stats, think: float, p_bad: float):
        self.n, self.port, self.slug, self.stats = n, port, slug, stats
        self.think, self.p_bad = think, p_bad
        self.counts = {"good": 0, "bad": 0, "finished": 0, "out_of_tasks": 0, "no_login": 0}
        self.threads: list[threading.Thread] = []
        self.ready = threading.Barrier(n + 1)
        self.go = threading.Event()
        self.stop_at = 0.0

    def _run(self, i: int) -> None:
        client = Client(self.port, self.stats)
        ok = client.login(f"faults-annotator{i}")
        try:
            self.ready.wait(timeout=120)
        except threading.BrokenBarrierError:
            return
        self.go.wait(timeout=120)  # stop_at is set by then
        if not ok:
            with self.stats.lock:
                self.counts["no_login"] += 1
            return
        counts = dict.fromkeys(self.counts, 0)
        try:
            annotate(client, self.slug, self.stop_at, self.think, self.p_bad, random.Random(i), counts)
        finally:
            client.close()
            with self.stats.lock:
                for k, v in counts.items():
                    self.counts[k] += v

    def start(self, seconds: float) -> float:
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(self.n)]
        for t in self.threads:
            t.start()
        self.ready.wait(timeout=120)  # everyone logged in
        began = time.monotonic()
        self.stop_at = began + seconds
        self.go.set()
        return began

    def join(self) -> None:
        for t in self.threads:
            t.join(timeout=max(1.0, self.stop_at - time.monotonic() + 40))


# --- Scenarios ------------------------------------------------------------------------------

def latency_line(stats: Stats, began: float, fault: float, back: float) -> str:
    parts = []
    for label, lo, hi in (("before", began, fault), ("during", fault, back), ("after", back, 1e18)):
        ms = [c[3] for c in stats.calls if lo <= c[0] < hi and c[2] is not None]
        if ms:
            ms.sort()
            parts.append(f"{label} p50 {statistics.median(ms):.0f} ms p99 "
                         f"{ms[min(len(ms) - 1, int(0.99 * len(ms)))]:.0f} ms (n={len(ms)})")
    return "latency " + "; ".join(parts)
