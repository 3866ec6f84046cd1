"""Starting generation runs: the entry points the labeling flow and admins call."""

from __future__ import annotations

from annotate.models import Problem, Project, StepNode
from generation.selection import project_ids
from workers.models import Run
from workers.runs import start_run

from .config import GeneratorSettings

MAX_K = 64
MAX_SOLUTIONS_PER_PROBLEM = 64


def generator_configured(project: Project) -> bool:
    return bool((project.generator or {}).get("model"))


def request_candidates(*, project: Project, problem: Problem, parent: StepNode | None, k: int,
                       requested_by=None) -> Run | None:
    """Start a run that adds ``k`` alternative steps after ``parent`` (None: first steps).

    None when the project has no generator. A request for a position that already has
    a queued or running candidate run returns that run instead of starting another.
    """
    if not generator_configured(project):
        return None
    GeneratorSettings.from_dict(project.generator)  # refuse bad settings before queueing
    if problem.project_id != project.pk:
        raise ValueError("The problem is not in this project.")
    if parent is not None and parent.problem_id != problem.pk:
        raise ValueError("The parent step belongs to another problem.")
    if not 1 <= int(k) <= MAX_K:
        raise ValueError(f"k must be between 1 and {MAX_K}.")
    parent_id = parent.pk if parent is not None else None
    pending = Run.objects.filter(
        kind="generate_candidates", project=project,
        status__in=[Run.Status.QUEUED, Run.Status.RUNNING], cancel_requested=False,
        params__problem_id=problem.pk, params__parent_id=parent_id,
    ).first()
    if pending is not None:
        return pending
    return start_run("generate_candidates",
                     {"problem_id": problem.pk, "parent_id": parent_id, "k": int(k)},
                     project=project, user=requested_by)


def request_solutions(*, project: Project, problems=None, n: int = 4, requested_by=None) -> Run | None:
    """Start a run that samples ``n`` solutions for each problem (default: all of the project's)."""
    if not generator_configured(project):
        return None
    GeneratorSettings.from_dict(project.generator)
    if not 1 <= int(n) <= MAX_SOLUTIONS_PER_PROBLEM:
        raise ValueError(f"n must be between 1 and {MAX_SOLUTIONS_PER_PROBLEM}.")
    ids = project_ids(Problem.objects.filter(project=project), problems,
                      foreign="Some problems are not in this project.",
                      empty="The project has no problems to generate for.")
    return start_run("generate_solutions", {"problem_ids": ids, "n": int(n)},
                     project=project, user=requested_by)


def update_generator(project: Project, values: dict) -> Project:
    """Validate and save a project's generator settings (all of them: they replace the old
    ones); an empty model means no generator. Raises ValueError with the setting's problem.
    """
    if not str(values.get("model") or "").strip():
        project.generator = {}
    else:
        settings = GeneratorSettings.from_dict(values)
        project.generator = {**values, "model": settings.model}
    project.save(update_fields=["generator", "updated"])
    return project
