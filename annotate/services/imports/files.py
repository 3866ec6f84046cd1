"""Import a file by format name: the one entry point for the command, the UI and the worker."""

from __future__ import annotations

from pathlib import Path

from .math_shepherd import import_math_shepherd
from .prm800k import import_prm800k
from .prmbench import import_prmbench
from .problems import import_problems, import_problems_csv
from .rows import ImportReport
from .solutions import import_solutions

FORMATS = ("prm800k", "problems", "solutions", "math_shepherd", "prmbench")
#: Options each format accepts (anything else is refused, so typos do not pass silently).
OPTIONS = {
    "prm800k": {"grade_answers"},
    "problems": {"field_map"},
    "solutions": {"field_map", "delimiter", "regex"},
    "math_shepherd": set(),
    "prmbench": set(),
}


def check_options(fmt: str, options: dict | None) -> dict:
    if fmt not in FORMATS:
        raise ValueError(f"Unknown import format '{fmt}'; expected one of {', '.join(FORMATS)}.")
    options = dict(options or {})
    unknown = set(options) - OPTIONS[fmt]
    if unknown:
        raise ValueError(f"Format '{fmt}' takes no option(s) {', '.join(sorted(unknown))}.")
    return options


def count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))


def import_file(project, path, fmt: str, options: dict | None = None, *, source_name: str | None = None,
                progress=None) -> ImportReport:
    """Stream ``path`` into ``project``. Problems files ending in .csv are read as CSV."""
    options = check_options(fmt, options)
    path = Path(path)
    source_name = source_name or path.name
    kwargs = {"source_name": source_name, "progress": progress, **options}
    if fmt == "problems" and path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8-sig", newline="") as fh:
            return import_problems_csv(project, fh, **kwargs)
    # Bytes: each line is decoded on its own, so one bad byte rejects one line, not the file.
    with open(path, "rb") as fh:
        handler = {"prm800k": import_prm800k, "problems": import_problems,
                   "solutions": import_solutions, "math_shepherd": import_math_shepherd,
                   "prmbench": import_prmbench}[fmt]
        return handler(project, fh, **kwargs)


def start_import_run(*, project, path, fmt: str, options: dict | None = None, user=None,
                     source_name: str | None = None):
    """Queue an ``import`` Run that streams ``path`` (readable by the worker) into ``project``.

    ``source_name`` (default: the file name) names the file in the report, e.g. an upload's
    original name."""
    from workers.runs import start_run

    options = check_options(fmt, options)
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"No such file: {path}")
    return start_run("import", {"path": str(path), "fmt": fmt, "options": options,
                                "project_id": project.pk, "source_name": source_name or path.name},
                     project=project, user=user)
