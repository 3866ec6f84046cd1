"""Import a file by format name: the one entry point for the command, the UI and the worker.

The path may be JSONL, gzip'd JSONL, Parquet, a Hugging Face ``save_to_disk`` folder or a
folder of data files (``sources.py``); problems files ending in .csv are read as CSV.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from . import (
    deltabench,
    machine_labels,
    math_shepherd,
    prm800k,
    prmbench,
    problems,
    solutions,
    traces,
    trajectory,
)
from .limits import Budget
from .problems import csv_file_rows
from .rows import ImportReport, run_plans
from .sources import count_rows, read_records, source_kind

FORMATS = ("prm800k", "problems", "solutions", "math_shepherd", "prmbench", "agent_trajectory",
           "machine_labels", "trace", "deltabench")
#: Options each format accepts (anything else is refused, so typos do not pass silently).
OPTIONS = {
    "prm800k": {"grade_answers"},
    "problems": {"field_map"},
    "solutions": {"field_map", "delimiter", "regex"},
    "math_shepherd": set(),
    "prmbench": set(),
    "agent_trajectory": {"field_map"},
    "machine_labels": {"source", "kind", "step_key", "version"},
    "trace": {"field_map", "segmentation"},
    "deltabench": set(),
}


def check_options(fmt: str, options: dict | None) -> dict:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown import format '{fmt}'; expected one of {', '.join(FORMATS)}.")
    options = dict(options or {})
    unknown = set(options) - OPTIONS[fmt]
    if unknown:
        raise ValueError(f"Format '{fmt}' takes no option(s) {', '.join(sorted(unknown))}.")
    if fmt == "machine_labels":
        options = machine_labels.check_label_options(options)
    if fmt == "trace":
        options["segmentation"] = traces.check_segmentation(options.get("segmentation"))
    return options


PLANNERS = {"prm800k": prm800k.planner, "problems": problems.planner,
            "solutions": solutions.planner, "math_shepherd": math_shepherd.planner,
            "prmbench": prmbench.planner, "agent_trajectory": trajectory.planner,
            "trace": traces.planner, "deltabench": deltabench.planner}


def count_lines(path: Path, check=None) -> int:
    """The rows a source numbers (its lines for JSONL), for the progress bar; counting stops
    at the import's byte limit and honours ``check`` (a cancel) as the import does."""
    return count_rows(Path(path), Budget(check=check))


def import_file(project, path, fmt: str, options: dict | None = None, *, source_name: str | None = None,
                progress=None, check=None, report: ImportReport | None = None) -> ImportReport:
    """Stream ``path`` into ``project``. Problems files ending in .csv are read as CSV.

    ``check()`` is called every few megabytes read (a cancel raised there stops the import
    between reads); ``report``, when given, is filled as batches commit, so it tells what
    was written when the import stops on a limit (``ImportLimitExceeded``) or an error.
    """
    options = check_options(fmt, options)
    path = Path(path)
    source_name = source_name or path.name
    budget = Budget(check=check)
    csv = fmt == "problems" and path.suffix.lower() == ".csv"
    if report is None:
        report = ImportReport(source_name=source_name, fmt="problems_csv" if csv else fmt)
    if fmt == "machine_labels":
        return machine_labels.import_label_records(
            project, read_records(path, budget), source_name=source_name, progress=progress,
            report=report, **options)
    plan = PLANNERS[fmt](source_name, **options)
    if csv:
        with open(path, "rb") as fh:
            return run_plans(csv_file_rows(fh, budget), plan, project=project, source_name=source_name,
                             fmt=report.fmt, progress=progress, report=report,
                             max_rows=budget.limits.max_rows)
    return run_plans(read_records(path, budget), plan, project=project, source_name=source_name,
                     fmt=fmt, progress=progress, report=report, max_rows=budget.limits.max_rows)


def start_import_run(*, project, path, fmt: str, options: dict | None = None, user=None,
                     source_name: str | None = None):
    """Queue an ``import`` Run that streams ``path`` (readable by the worker) into ``project``.

    ``source_name`` (default: the file name) names the file in the report, e.g. an upload's
    original name."""
    from workers.runs import start_run

    options = check_options(fmt, options)
    path = Path(path)
    if not path.exists():
        raise ValueError(f"No such file: {path}")
    source_kind(path)  # a folder that is no data set is refused before queuing
    return start_run("import", {"path": run_path(path), "fmt": fmt, "options": options,
                                "project_id": project.pk, "source_name": source_name or path.name},
                     project=project, user=user)


def run_path(path: Path) -> str:
    """The path a Run's params keep: relative to ``STEPWISE_DATA_DIR`` for a file under it
    (an upload), so the Run shows no absolute server path; absolute otherwise."""
    data_dir = Path(settings.DATA_DIR).resolve()
    resolved = path.resolve()
    return str(resolved.relative_to(data_dir)) if resolved.is_relative_to(data_dir) else str(resolved)


def worker_path(path: str) -> Path:
    """A Run's path as the worker reads it (a relative one is under ``STEPWISE_DATA_DIR``)."""
    return Path(settings.DATA_DIR) / path
