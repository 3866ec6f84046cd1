"""The Celery app. Work goes to the ``default`` queue unless its task name starts
with ``gpu.``, which routes it to the ``gpu`` queue (a solo-pool worker)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")

app = Celery("stepwise")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_default_queue="default",
    task_routes={"gpu.*": {"queue": "gpu"}},
    # Long jobs: a task is acknowledged only when done, and a worker takes one at a time,
    # so a worker that dies hands its task back rather than losing it.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_ignore_result=True,
    task_track_started=False,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)
app.autodiscover_tasks()
