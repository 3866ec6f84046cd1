"""The ``search`` Run kind, on the gpu queue (it generates and runs the PRM)."""

from __future__ import annotations

from workers.runs import RunContext, RunFailure, run_task


@run_task("search", queue="gpu", soft_time_limit=12 * 3600)
def search_run(ctx: RunContext, prm_model_id: int, problem_ids: list[int], max_budget: int = 8,
               aggregate: str = "min") -> dict:
    from annotate.models import Problem
    from generation.config import GeneratorSettings
    from training.models import PrmModel

    from .selectors import scaling_points
    from .sweep import search_problems

    prm = PrmModel.objects.select_related("project").get(pk=prm_model_id)
    try:
        settings = GeneratorSettings.from_dict(prm.project.generator, project_id=prm.project_id)
    except ValueError as exc:
        raise RunFailure(str(exc), reason="The project's generator is not set up.") from None
    by_id = Problem.objects.filter(project=prm.project, pk__in=problem_ids).in_bulk()
    problems = [by_id[i] for i in problem_ids if i in by_id]
    seed = settings.seed if settings.seed is not None else ctx.run_id * 1000
    ctx.progress(0, len(problems))
    ctx.log(f"searching {len(problems)} problems, budgets up to {max_budget}, with "
            f"{settings.backend}: {settings.model} and the PRM {prm.name}")
    stats = search_problems(prm, problems, settings, max_budget=max_budget, aggregate=aggregate,
                            seed=seed, run=ctx.run, on_problem=ctx.progress)
    points = scaling_points(prm, run_id=ctx.run_id)["points"]
    best = max(points, key=lambda p: p["accuracy"], default=None)
    if best:
        ctx.log(f"best: {best['strategy']} at N={best['budget']}, accuracy {best['accuracy']:.3f}")
    return {**stats, "points": len(points)}
