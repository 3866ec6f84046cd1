"""Run kinds of generation, on the gpu queue (a solo worker, one model in memory)."""

from __future__ import annotations

from workers.runs import RunContext, run_task

from .autolabel import tasks as _autolabel_tasks  # noqa: F401  (registers "autolabel")
from .judging import tasks as _judging_tasks  # noqa: F401  (registers "judge")


def _settings(ctx: RunContext):
    from .config import GeneratorSettings

    return GeneratorSettings.from_dict(ctx.run.project.generator if ctx.run.project else {},
                                       project_id=ctx.run.project_id)


def _seed(ctx: RunContext, settings) -> int:
    # Fixed per run: a retry samples the same texts, which dedupe into the same nodes.
    return settings.seed if settings.seed is not None else ctx.run_id * 1000


@run_task("generate_solutions", queue="gpu", soft_time_limit=4 * 3600)
def generate_solutions_run(ctx: RunContext, problem_ids: list[int], n: int = 4) -> dict:
    from annotate.models import Problem

    from .generate import generate_solutions

    settings = _settings(ctx)
    by_id = Problem.objects.filter(project=ctx.run.project, pk__in=problem_ids).in_bulk()
    problems = [by_id[i] for i in problem_ids if i in by_id]
    ctx.progress(0, len(problems))
    ctx.log(f"sampling {n} solutions for {len(problems)} problems with {settings.model}")
    stats = generate_solutions(problems, settings, n=n, seed=_seed(ctx, settings),
                               run_id=ctx.run_id, on_batch=ctx.progress)
    ctx.log(f"{stats['new_solutions']} new solutions, {stats['correct']} correct")
    return stats


@run_task("generate_candidates", queue="gpu", soft_time_limit=600)
def generate_candidates_run(ctx: RunContext, problem_id: int, parent_id: int | None = None,
                            k: int = 3) -> dict:
    from annotate.models import Problem, StepNode

    from .generate import generate_candidates

    settings = _settings(ctx)
    problem = Problem.objects.get(pk=problem_id, project=ctx.run.project)
    parent = StepNode.objects.get(pk=parent_id, problem=problem) if parent_id else None
    ctx.progress(0, k)
    stats = generate_candidates(problem, parent, settings, k=k, seed=_seed(ctx, settings),
                                run_id=ctx.run_id)
    ctx.progress(stats["created"], k)
    ctx.log(f"{stats['created']} new candidates, {stats['duplicates_dropped']} duplicates dropped")
    return stats


@run_task("resegment", queue="gpu", soft_time_limit=6 * 3600)
def resegment_run(ctx: RunContext, solution_ids: list[int], strategy: str, options: dict,
                  generator: dict) -> dict:
    """Re-cut traces (``generation.resegmenting``): on the gpu queue, as ``llm`` needs a model."""
    from .resegmenting import resegment_solutions

    return resegment_solutions(ctx, solution_ids, strategy, options or {}, generator or {})
