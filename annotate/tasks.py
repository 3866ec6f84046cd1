"""Run kinds of the annotate app (autodiscovered by the worker)."""

from workers.runs import RunContext, RunFailure, run_task

#: SQLSTATE classes an import stops on at once (insufficient resources such as a full disk,
#: operator intervention, system error such as an I/O error), keeping its report.
RESOURCE_CLASSES = ("53", "57", "58")


@run_task("import")
def import_run(ctx: RunContext, *, path: str, fmt: str, project_id: int, options: dict | None = None,
               source_name: str | None = None) -> dict:
    """Stream a file into a project, reporting rows done; the report becomes ``run.result``,
    also when the import stops on a limit, an error or a cancel (what was written by then)."""
    from django.db import DatabaseError

    from annotate.models import Project
    from annotate.services.imports.files import count_lines, import_file, worker_path
    from annotate.services.imports.limits import ImportLimitExceeded
    from annotate.services.imports.rows import ImportReport

    project = Project.objects.get(pk=project_id)
    path = worker_path(path)
    name = source_name or path.name  # never the worker's absolute path
    report = ImportReport(source_name=name, fmt=fmt)
    try:
        total = count_lines(path, check=ctx.check_cancelled)
        ctx.progress(0, total)
        ctx.log(f"importing {name} ({fmt}, {total} lines) into {project.slug}")
        import_file(project, path, fmt, options, source_name=name, report=report,
                    check=ctx.check_cancelled,
                    progress=lambda done: ctx.progress(min(done, total), total))
    except ImportLimitExceeded as exc:
        _keep_report(ctx, report)
        raise RunFailure(f"import stopped: {exc}", reason=f"Import stopped: {exc}.") from exc
    except DatabaseError as exc:
        state = getattr(exc.__cause__, "sqlstate", None) or ""
        if state[:2] in RESOURCE_CLASSES:  # a full disk: retrying would fail the same way
            report.stopped = f"the database failed: {str(exc).strip().splitlines()[0]}"
            _keep_report(ctx, report)
            raise RunFailure(f"import stopped: {exc}", reason=f"Import stopped: {report.stopped}.") from exc
        _keep_report(ctx, report)
        raise  # a lost connection: the run framework hands the Run back to the queue
    except BaseException:
        _keep_report(ctx, report)
        raise
    ctx.progress(total, total)
    ctx.log(report.summary())
    for message in report.messages()[:50]:
        ctx.log(message)
    return report.to_dict()


def _keep_report(ctx: RunContext, report) -> None:
    """Store what the import wrote before it stopped, as the Run's result, and log it."""
    from django.db import DatabaseError

    from workers.models import Run

    try:
        Run.objects.filter(pk=ctx.run_id).update(result=report.to_dict())
        ctx.log(report.summary() + (f"; stopped: {report.stopped}" if report.stopped else ""))
        for message in report.messages()[:50]:
            ctx.log(message)
    except DatabaseError:  # the database that stopped the import may refuse this too
        pass


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
