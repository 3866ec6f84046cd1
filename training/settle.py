"""Settling a model whose train_prm Run ended without finishing it (workers.runs.on_settle)."""


def settle_training(run_id: int, status: str) -> None:
    """A train_prm Run that ended failed or cancelled fails its model, also when no worker
    was left to do it: cancelled while queued, or swept after its worker died."""
    from .models import PrmModel

    PrmModel.objects.filter(run_id=run_id, status__in=[
        PrmModel.Status.QUEUED, PrmModel.Status.TRAINING]).update(status=PrmModel.Status.FAILED)
