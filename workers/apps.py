from django.apps import AppConfig


class WorkersConfig(AppConfig):
    """The Run framework: the Run model and how a Celery worker executes one."""

    name = "workers"
    verbose_name = "Worker runs"

    def ready(self):
        from celery.signals import worker_ready, worker_shutdown

        from .dispatch import start_dispatcher, stop_dispatcher

        # Every worker process runs the dispatcher (outbox and dead-worker sweep).
        worker_ready.connect(start_dispatcher, weak=False)
        worker_shutdown.connect(stop_dispatcher, weak=False)
