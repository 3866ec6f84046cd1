"""Run kinds of the training app, on the gpu queue: ``train_prm`` and ``score_solutions``."""

from __future__ import annotations

from workers.runs import RunContext, run_task


class _RunHooks:
    def __init__(self, ctx: RunContext, prm_model_id: int):
        self.ctx, self.prm_model_id = ctx, prm_model_id

    def progress(self, done: int, total: int) -> None:
        self.ctx.progress(done, total)

    def log(self, message: str) -> None:
        self.ctx.log(message)

    def curve(self, points: list[dict]) -> None:
        from .models import PrmModel

        PrmModel.objects.filter(pk=self.prm_model_id).update(curve=points)


@run_task("train_prm", queue="gpu", soft_time_limit=6 * 3600)
def train_prm(ctx: RunContext, prm_model_id: int, score_after: bool = False) -> dict:
    from .models import PrmModel
    from .pipeline import train_and_evaluate

    model = PrmModel.objects.select_related("project").get(pk=prm_model_id)
    PrmModel.objects.filter(pk=model.pk).update(status=PrmModel.Status.TRAINING)
    try:
        summary = train_and_evaluate(model, hooks=_RunHooks(ctx, model.pk),
                                     check_cancelled=ctx.check_cancelled)
    except BaseException:
        # Left "training" on a worker crash so a redelivery resumes; failed otherwise.
        PrmModel.objects.filter(pk=model.pk).update(status=PrmModel.Status.FAILED)
        raise
    if score_after:
        from .scoring import score_project_solutions

        model.refresh_from_db()
        ctx.log("scoring the project's solutions with the new model")
        summary["scored"] = score_project_solutions(model, run=ctx.run)
    return summary


@run_task("score_solutions", queue="gpu", soft_time_limit=6 * 3600)
def score_solutions(ctx: RunContext, prm_model_id: int, solution_ids: list[int] | None = None
                    ) -> dict:
    from .models import PrmModel
    from .scoring import score_project_solutions

    model = PrmModel.objects.select_related("project").get(pk=prm_model_id)
    n = score_project_solutions(model, solution_ids, run=ctx.run, progress=ctx.progress)
    ctx.log(f"scored {n} solutions with {model.name}")
    return {"scored": n, "prm_model": model.pk}
