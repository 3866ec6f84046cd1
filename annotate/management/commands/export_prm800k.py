"""python manage.py export_prm800k --project SLUG OUT: submitted assignments as PRM800K JSONL."""

import json

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Assignment, Project
from annotate.services.exports.prm800k import prm800k_records


class Command(BaseCommand):
    help = "Export a project's submitted assignments as PRM800K JSONL ('-' writes to stdout)."

    def add_arguments(self, parser):
        parser.add_argument("out")
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--source", choices=[c.value for c in Assignment.Source],
                            help="Only imported or only Stepwise-labeled assignments.")
        parser.add_argument("--no-stepwise-keys", action="store_true",
                            help="Leave out the extra 'stepwise' key (ids and provenance).")

    def handle(self, *args, out, project, source, no_stepwise_keys, **options):
        proj = Project.objects.filter(slug=project).first()
        if proj is None:
            raise CommandError(f"No project '{project}'.")
        qs = Assignment.objects.filter(project=proj, status=Assignment.Status.SUBMITTED)
        if source:
            qs = qs.filter(source=source)
        count = 0
        fh = self.stdout if out == "-" else open(out, "w", encoding="utf-8")
        try:
            for record in prm800k_records(qs):
                if no_stepwise_keys:
                    record.pop("stepwise", None)
                line = json.dumps(record, ensure_ascii=False)
                # The command's stdout wrapper adds the newline itself.
                fh.write(line) if fh is self.stdout else fh.write(line + "\n")
                count += 1
        finally:
            if fh is not self.stdout:
                fh.close()
        if out != "-":
            self.stdout.write(f"Wrote {count} records to {out}.")
