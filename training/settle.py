"""Settling a model whose train_prm Run ended without finishing it (workers.runs.on_settle)."""

import shutil
from pathlib import Path

from django.conf import settings
from django.db import transaction


def settle_training(run_id: int, status: str) -> None:
    """A train_prm Run that ended failed or cancelled fails its model, also when no worker
    was left to do it: cancelled while queued, or swept after its worker died. What it had
    written (checkpoints, a half-saved model) goes too: nothing resumes a settled Run, and
    after a full disk the files would keep the disk full."""
    from .models import PrmModel

    with transaction.atomic():
        unfinished = list(PrmModel.objects.select_for_update().filter(
            run_id=run_id, status__in=[PrmModel.Status.QUEUED, PrmModel.Status.TRAINING]))
        PrmModel.objects.filter(pk__in=[m.pk for m in unfinished]).update(
            status=PrmModel.Status.FAILED)
    for model in unfinished:
        discard_training_output(model.artifact_path)


def discard_training_output(path: str) -> None:
    """Delete a training's own output folder; only folders directly under MODELS_DIR/prm
    (``training.services.artifact_dir``) are ever removed, never a registered model's."""
    if not path:
        return
    root = (Path(settings.MODELS_DIR) / "prm").resolve()
    target = Path(path).resolve()
    if target.parent == root:
        shutil.rmtree(target, ignore_errors=True)
