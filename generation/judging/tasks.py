"""The ``judge`` Run kind, on the gpu queue like the rest of generation."""

from __future__ import annotations

from workers.runs import RunContext, run_task


@run_task("judge", queue="gpu", soft_time_limit=6 * 3600)
def judge_run(ctx: RunContext, solution_ids: list[int], judge: dict) -> dict:
    from annotate.selectors.solutions import solutions_for_batch

    from .services import JudgeSpec, judge_settings, judge_solutions

    judge = dict(judge)
    overrides = judge.pop("generator", None) or {}
    spec = JudgeSpec.from_dict(judge)
    settings = judge_settings(ctx.run.project.generator if ctx.run.project else {}, overrides,
                              ctx.run.project_id)
    by_id = solutions_for_batch(project=ctx.run.project, pk__in=solution_ids).in_bulk()
    solutions = [by_id[i] for i in solution_ids if i in by_id]
    ctx.progress(0, len(solutions))
    ctx.log(f"judging {len(solutions)} solutions with {settings.model_name} "
            f"({spec.template}, {spec.samples} sample(s)) as judge:{spec.source}")
    # Fixed per Run: a retry asks the judge for the same answers and rewrites the same rows.
    seed = settings.seed if settings.seed is not None else ctx.run_id * 1000
    stats = judge_solutions(solutions, settings, spec, seed=seed, run=ctx.run,
                            on_batch=ctx.progress)
    ctx.log(f"{stats['verdicts']} verdicts, {stats['unparsed']} steps unreadable, "
            f"{stats['generated_tokens']} tokens")
    return stats
