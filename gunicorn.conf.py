"""gunicorn settings for the web process; gunicorn reads this file from the working directory.

A labeling request is CPU-bound Python, so the threads of one process queue on its GIL and
stretch the latency tail, while too many processes fight over the cores and the database.
On 2 cores, one process per core plus one, with 2 threads each, gave the lowest label-save
p99 (bench/bench_labeling.py; docs/performance.md has the measurements).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# The CPUs this container may use (not the host's): one process per core plus one.
workers = int(os.environ.get("WEB_CONCURRENCY", min(len(os.sched_getaffinity(0)) + 1, 17)))
threads = int(os.environ.get("GUNICORN_THREADS", "2"))
worker_class = "gthread"
keepalive = 30
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
logger_class = "stepwise.access_log.RedactingLogger"  # reward-URL secrets stay out of it


def post_worker_init(worker):
    """Import every view, then freeze what is loaded out of the garbage collector's sight.

    A worker holds ~100k long-lived objects (Django, the URL conf, numpy); a full collection
    walks them all, a ~45 ms pause that lands on whichever request triggered it and made the
    label-save p99. Frozen, a full collection takes under 1 ms (docs/performance.md).
    """
    import gc

    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports the views now, not in a request
    gc.freeze()


def pre_request(worker, req):
    """A body longer than stepwise/body_limit.py reads off ends the connection: say so in the
    response (gunicorn ignores a Connection header from the application)."""
    from stepwise.body_limit import DRAIN_MAX

    worker.log.debug("%s %s", req.method, req.path)  # what gunicorn's own hook does
    for name, value in req.headers:
        if name == "CONTENT-LENGTH" and value.isdigit() and int(value) > DRAIN_MAX:
            req.force_close()
