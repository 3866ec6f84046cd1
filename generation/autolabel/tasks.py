"""The ``autolabel`` run kind: Monte Carlo and binary-search labels for solutions."""

from __future__ import annotations

from workers.runs import RunContext, run_task


@run_task("autolabel", queue="gpu", soft_time_limit=4 * 3600)
def autolabel_run(ctx: RunContext, solution_ids: list[int], methods: list[str] | None = None,
                  rollouts: int = 8) -> dict:
    from annotate.models import Solution
    from generation.config import GeneratorSettings

    from .services import METHODS, autolabel_solutions

    settings = GeneratorSettings.from_dict(ctx.run.project.generator if ctx.run.project else {},
                                         project_id=ctx.run.project_id)
    by_id = Solution.objects.filter(project=ctx.run.project, pk__in=solution_ids) \
        .select_related("problem", "last_step").in_bulk()
    solutions = [by_id[i] for i in solution_ids if i in by_id]
    ctx.progress(0, len(solutions))
    seed = settings.seed if settings.seed is not None else ctx.run_id * 1000
    result = autolabel_solutions(solutions, settings, methods=tuple(methods or METHODS),
                                 rollouts=rollouts, seed=seed, run_id=ctx.run_id,
                                 on_progress=ctx.progress)
    ctx.log(f"labeled {len(solutions)} solutions; rollouts {result['rollouts']}")
    return result
