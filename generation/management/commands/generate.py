"""Start generation, auto-label or re-segmentation runs by hand (a worker executes them)."""

import json

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = ("Queue model work for a project: --solutions N per problem, --candidates K after "
            "a step (--problem, --parent), --autolabel, or --resegment STRATEGY (llm too).")

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project slug.")
        parser.add_argument("--solutions", type=int, default=0, help="Solutions per problem.")
        parser.add_argument("--candidates", type=int, default=0, help="Alternative steps.")
        parser.add_argument("--problem", type=int, help="Problem id (for --candidates).")
        parser.add_argument("--parent", type=int, help="Parent step id (omit: first steps).")
        parser.add_argument("--autolabel", action="store_true", help="MC + binary-search labels.")
        parser.add_argument("--rollouts", type=int, default=8)
        parser.add_argument("--resegment", metavar="STRATEGY",
                            help="Re-cut the project's imported traces as a Run: a rule strategy "
                                 "or llm (the generation model cuts them; docs/importing.md).")
        parser.add_argument("--options", metavar="JSON", default="{}",
                            help="--resegment: the strategy's options.")
        parser.add_argument("--generator", metavar="JSON", default="{}",
                            help="--resegment llm: generator settings over the project's own.")

    def handle(self, *args, **opts):
        from annotate.models import Problem, Project, StepNode
        from generation.autolabel.services import request_autolabel
        from generation.resegmenting import start_resegment
        from generation.services import request_candidates, request_solutions

        project = Project.objects.filter(slug=opts["project"]).first()
        if project is None:
            raise CommandError(f"No project '{opts['project']}'.")
        runs = []
        if opts["resegment"]:
            try:
                options, generator = json.loads(opts["options"]), json.loads(opts["generator"])
            except ValueError as exc:
                raise CommandError(f"--options and --generator take JSON: {exc}") from exc
            try:
                runs.append(start_resegment(project=project, strategy=opts["resegment"],
                                            options=options, generator=generator or None))
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
        model_work = opts["solutions"] or opts["candidates"] or opts["autolabel"]
        if model_work and not (project.generator or {}).get("model"):
            raise CommandError("The project has no generator model (project.generator['model']).")
        try:
            if opts["solutions"]:
                runs.append(request_solutions(project=project, n=opts["solutions"]))
            if opts["candidates"]:
                problem = Problem.objects.filter(pk=opts["problem"], project=project).first()
                if problem is None:
                    raise CommandError("--candidates needs --problem, a problem of this project.")
                parent = None
                if opts["parent"]:
                    parent = StepNode.objects.filter(pk=opts["parent"], problem=problem).first()
                    if parent is None:
                        raise CommandError("--parent is not a step of that problem.")
                runs.append(request_candidates(project=project, problem=problem, parent=parent,
                                               k=opts["candidates"]))
            if opts["autolabel"]:
                runs.append(request_autolabel(project=project, rollouts=opts["rollouts"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not runs:
            raise CommandError("Nothing to do: pass --solutions, --candidates, --autolabel or "
                               "--resegment.")
        for run in runs:
            self.stdout.write(f"queued {run.kind} run {run.pk}")
