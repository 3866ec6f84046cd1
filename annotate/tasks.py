"""Run kinds of the annotate app (autodiscovered by the worker)."""

from workers.runs import RunContext, run_task


@run_task("import")
def import_run(ctx: RunContext, *, path: str, fmt: str, project_id: int, options: dict | None = None,
               source_name: str | None = None) -> dict:
    """Stream a file into a project, reporting rows done; the report becomes ``run.result``."""
    from annotate.models import Project
    from annotate.services.imports.files import count_lines, import_file

    project = Project.objects.get(pk=project_id)
    total = count_lines(path)
    ctx.progress(0, total)
    ctx.log(f"importing {source_name or path} ({fmt}, {total} lines) into {project.slug}")
    report = import_file(project, path, fmt, options, source_name=source_name,
                         progress=lambda done: ctx.progress(min(done, total), total))
    ctx.progress(total, total)
    ctx.log(report.summary())
    for message in report.messages()[:50]:
        ctx.log(message)
    return report.to_dict()


@run_task("healthcheck")
def healthcheck(ctx: RunContext, message: str = "ping", steps: int = 3, pause: float = 0.0) -> dict:
    """A small run that proves the worker, the broker and the database are wired up;
    ``pause`` seconds between steps make it long enough to watch (or to kill its worker)."""
    import time

    from annotate.models import Project

    for i in range(steps):
        time.sleep(min(max(float(pause), 0.0), 10.0))
        ctx.progress(i + 1, steps)
    ctx.log(f"echo: {message}")
    return {"message": message, "projects": Project.objects.count()}
