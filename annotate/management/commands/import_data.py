"""python manage.py import_data --project SLUG --format FMT FILE [...]: import and print the report."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from annotate.services.imports import FORMATS, import_file
from annotate.services.imports.limits import ImportLimitExceeded
from annotate.services.imports.rows import ImportReport


class Command(BaseCommand):
    help = ("Import a PRM800K, problems (JSONL/CSV), solutions, Math-Shepherd, PRMBench, agent "
            "trajectory, machine labels, long trace or DeltaBench file.")

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--format", required=True, choices=FORMATS, dest="fmt")
        parser.add_argument("--field", action="append", default=[], metavar="FIELD=COLUMN",
                            help="Map a Stepwise field to a source column (problems, solutions).")
        parser.add_argument("--delimiter", help='Step delimiter for solutions text (default "\\n\\n"; '
                                                "backslash escapes like \\n are understood).")
        parser.add_argument("--regex", action="store_true", help="The delimiter is a regex.")
        parser.add_argument("--segmentation", metavar="STRATEGY|JSON",
                            help='trace: how to cut the text into steps, a strategy name or e.g. '
                                 '{"strategy": "markers", "markers": ["Wait"], "max_steps": 500}.')
        parser.add_argument("--create-project", action="store_true",
                            help="Create the project if it does not exist.")
        parser.add_argument("--no-grade", action="store_true",
                            help="PRM800K: do not grade final answers against the ground truth.")
        parser.add_argument("--source", help="machine_labels: the label source's name.")
        parser.add_argument("--kind", choices=("imported", "judge"),
                            help="machine_labels: an imported machine label (default) or a judge.")
        parser.add_argument("--step-key", choices=("position", "message_index"),
                            help="machine_labels: step keys are positions (default) or an agent "
                                 "trajectory's message indexes.")
        parser.add_argument("--label-version", dest="label_version", metavar="JSON",
                            help='machine_labels: e.g. {"model": "gpt-5.2", "prompt_version": "v1"}.')

    def handle(self, *args, file, project, fmt, field, delimiter, regex, create_project, no_grade,
               source=None, kind=None, step_key=None, label_version=None, segmentation=None,
               **options):
        proj = Project.objects.filter(slug=project).first()
        if proj is None:
            if not create_project:
                raise CommandError(f"No project '{project}' (use --create-project to create it).")
            proj = Project.objects.create(slug=project, name=project)
            self.stdout.write(f"Created project {project}.")
        opts = {}
        if field:
            if fmt not in ("problems", "solutions", "agent_trajectory", "trace"):
                raise CommandError("--field applies to the problems, solutions, "
                                   "agent_trajectory and trace formats.")
            opts["field_map"] = dict(self._pair(item) for item in field)
        if delimiter is not None or regex:
            if fmt != "solutions":
                raise CommandError("--delimiter and --regex apply to the solutions format.")
            if delimiter is not None:
                opts["delimiter"] = delimiter if regex else delimiter.encode().decode("unicode_escape")
            opts["regex"] = regex
        if no_grade:
            if fmt != "prm800k":
                raise CommandError("--no-grade applies to the prm800k format.")
            opts["grade_answers"] = False
        if segmentation is not None:
            if fmt != "trace":
                raise CommandError("--segmentation applies to the trace format.")
            opts["segmentation"] = self._segmentation(segmentation)
        labels = {"source": source, "kind": kind, "step_key": step_key, "version": label_version}
        if any(v is not None for v in labels.values()):
            if fmt != "machine_labels":
                raise CommandError("--source, --kind, --step-key and --label-version apply to the "
                                   "machine_labels format.")
            if label_version is not None:
                import json
                try:
                    labels["version"] = json.loads(label_version)
                except ValueError as exc:
                    raise CommandError(f"--label-version is no JSON: {exc}") from exc
            opts.update({k: v for k, v in labels.items() if v is not None})
        report = ImportReport(source_name=Path(file).name, fmt=fmt)
        try:
            import_file(proj, file, fmt, opts, report=report)
        except ImportLimitExceeded as exc:
            self._print(report)  # the rows written before the limit stay written
            raise CommandError(f"{file}: import stopped: {exc}") from exc
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise CommandError(f"{file}: {exc}") from exc
        self._print(report)

    def _print(self, report: ImportReport) -> None:
        self.stdout.write(report.summary())
        for message in report.messages():
            self.stderr.write(message)

    @staticmethod
    def _pair(item: str) -> tuple[str, str]:
        name, sep, column = item.partition("=")
        if not sep or not name or not column:
            raise CommandError(f"--field takes FIELD=COLUMN, got {item!r}.")
        return name.strip(), column.strip()

    @staticmethod
    def _segmentation(value: str):
        if not value.lstrip().startswith("{"):
            return value.strip()
        import json
        try:
            return json.loads(value)
        except ValueError as exc:
            raise CommandError(f"--segmentation is no JSON object: {exc}") from exc
