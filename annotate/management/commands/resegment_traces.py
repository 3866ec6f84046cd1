"""python manage.py resegment_traces --project SLUG --strategy NAME [--options JSON] [--solution ID ...]:
re-cut imported traces in this process by a rule strategy and print what each re-cut carried
and dropped. The llm strategy needs a model, so it runs in a worker:
``manage.py generate --project SLUG --resegment llm``."""

import json

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project, Solution
from annotate.segmentation import STRATEGIES
from annotate.services.resegment import ResegmentError, resegment


class Command(BaseCommand):
    help = "Re-cut imported long traces with another segmentation strategy (labels carried where spans match)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--strategy", required=True, choices=STRATEGIES,
                            help="A rule strategy; for llm use `manage.py generate --resegment llm`.")
        parser.add_argument("--options", metavar="JSON", default="{}",
                            help='The strategy\'s options, e.g. {"markers": ["Wait"], "max_steps": 500}.')
        parser.add_argument("--solution", type=int, action="append", default=[],
                            help="Only this solution (repeatable); default every traced solution.")

    def handle(self, *args, project, strategy, options, solution, **rest):
        proj = Project.objects.filter(slug=project).first()
        if proj is None:
            raise CommandError(f"No project '{project}'.")
        try:
            opts = json.loads(options)
        except ValueError as exc:
            raise CommandError(f"--options is no JSON: {exc}") from exc
        if not isinstance(opts, dict):
            raise CommandError("--options must be a JSON object.")
        solutions = Solution.objects.filter(project=proj, trace__isnull=False).order_by("pk")
        if solution:
            solutions = solutions.filter(pk__in=solution)
        failed = 0
        for sol in solutions:
            try:
                self.stdout.write(resegment(sol, strategy=strategy, options=opts).summary())
            except ResegmentError as exc:
                failed += 1
                self.stderr.write(f"solution {sol.pk}: {exc}")
        if failed:
            raise CommandError(f"{failed} trace(s) not re-cut.")
