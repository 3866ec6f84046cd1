"""Celery tasks of the workers app. Each module that defines runs is imported here
so that ``autodiscover_tasks`` registers them in the worker."""

from .autolabel import tasks as _autolabel_tasks  # noqa: F401  (registers "autolabel")
from .generation import tasks as _generation_tasks  # noqa: F401  (registers generate_*)
from .runs import RunContext, run_task


@run_task("healthcheck")
def healthcheck(ctx: RunContext, message: str = "ping", steps: int = 3) -> dict:
    """A small run that proves the worker, the broker and the database are wired up."""
    from annotate.models import Project

    for i in range(steps):
        ctx.progress(i + 1, steps)
    ctx.log(f"echo: {message}")
    return {"message": message, "projects": Project.objects.count()}
