from django.apps import AppConfig


class WorkersConfig(AppConfig):
    """The Run framework: the Run model and how a Celery worker executes one."""

    name = "workers"
    verbose_name = "Worker runs"
