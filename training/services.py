"""Writes of the training app: start a training, start a scoring."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.text import slugify

from .data import AFTER_FIRST_ERROR
from .models import PrmModel
from .trainer import TrainConfig

HYPERPARAMETERS = ("learning_rate", "head_learning_rate", "epochs", "batch_size", "max_length",
                   "seed", "val_fraction", "early_stopping_patience", "weight_decay",
                   "warmup_ratio", "neutral", "after_first_error", "group_by_length",
                   "effective_batch_size", "precision", "activation_checkpointing", "attention",
                   "lora_rank", "lora_alpha", "lora_dropout", "quantization", "lora_save",
                   "processes", "strategy")


def form_defaults() -> dict:
    """The training form's defaults and choices. "auto" settings resolve on the worker that
    runs the training: bf16 on a GPU with it, fp16 on one without, fp32 on CPU; activation
    checkpointing on for GPUs, off on CPU."""
    from dataclasses import asdict

    from . import config

    return {"cfg": asdict(TrainConfig()), "precisions": config.PRECISIONS,
            "checkpointing": config.CHECKPOINTING, "attentions": config.ATTENTIONS,
            "strategies": config.STRATEGIES, "quantizations": config.QUANTIZATIONS,
            "lora_saves": config.LORA_SAVES}


class TrainingError(ValueError):
    """Bad training input, with a message fit for the user."""


def artifact_dir(model: PrmModel) -> Path:
    return Path(settings.MODELS_DIR) / "prm" / f"{model.project_id}-{model.pk}-{slugify(model.name)}"


def start_training(*, project, name: str, base_model: str = "", hyperparameters: dict | None = None,
                   snapshot_path: str = "", score_after: bool = False, user=None) -> PrmModel:
    """Validate, create the PrmModel and queue a ``train_prm`` run on the gpu queue."""
    from workers.runs import start_run

    for field, value in (("name", name), ("base_model", base_model), ("snapshot_path", snapshot_path)):
        if "\x00" in (value or ""):  # PostgreSQL text (and a path) cannot hold it
            raise TrainingError(f"'{field}' contains a NUL byte.")
    name = (name or "").strip()
    if not name:
        raise TrainingError("Give the model a name.")
    hp = {k: v for k, v in (hyperparameters or {}).items() if k in HYPERPARAMETERS}
    try:
        TrainConfig.from_dict(hp)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"Bad hyperparameters: {exc}") from None
    if hp.get("neutral", "good") not in ("good", "bad"):
        raise TrainingError("neutral must be 'good' or 'bad'.")
    if hp.get("after_first_error", "mask") not in AFTER_FIRST_ERROR:
        raise TrainingError(f"after_first_error must be one of {', '.join(AFTER_FIRST_ERROR)}.")
    if snapshot_path:
        path = Path(snapshot_path)
        allowed = [Path(settings.EXPORTS_DIR).resolve(), Path(settings.DATA_DIR).resolve()]
        if not any(path.resolve().is_relative_to(root) for root in allowed):
            raise TrainingError("The snapshot must be a file under the exports directory.")
        if not path.is_file():
            raise TrainingError(f"No snapshot file at {snapshot_path}.")
    if PrmModel.objects.filter(project=project, name=name).exists():
        raise TrainingError(f"A model named '{name}' already exists in this project.")
    source = {"kind": "snapshot", "path": str(snapshot_path)} if snapshot_path else {"kind": "project"}
    with transaction.atomic():
        model = PrmModel.objects.create(
            project=project, name=name, base_model=base_model.strip(), hyperparameters=hp,
            data_source=source, created_by=user if user and user.is_authenticated else None,
        )
        model.artifact_path = str(artifact_dir(model))
        run = start_run("train_prm", {"prm_model_id": model.pk, "score_after": bool(score_after)},
                        project=project, user=user)
        model.run = run
        model.save(update_fields=["artifact_path", "run"])
    return model


def register_model(*, project, name: str, path: str, scoring: dict | None = None,
                   user=None) -> PrmModel:
    """A PRM trained elsewhere, ready to score: a token classifier on a step separator (no
    ``scoring``), or a next-token "+"/"-" PRM (``scoring={"kind": "next_token", "format":
    "tag"|"chat", "step_tag": "ки", "good": "+", "bad": "-"}``). Loaded once here, so a
    model that cannot score is refused now, not at the first reward request."""
    from .families import StepTagScoring
    from .pipeline import project_step_delimiter
    from .scoring import load_scorer

    name = (name or "").strip()
    if not name or "\x00" in name + (path or ""):
        raise TrainingError("Give the model a name (and no NUL bytes).")
    folder = Path(path or "")
    if not folder.resolve().is_relative_to(Path(settings.MODELS_DIR).resolve()):
        raise TrainingError("The model must be a directory under the models directory.")
    if not (folder / "config.json").is_file():
        raise TrainingError(f"No model (config.json) at {path}.")
    if PrmModel.objects.filter(project=project, name=name).exists():
        raise TrainingError(f"A model named '{name}' already exists in this project.")
    try:
        spec = StepTagScoring.from_dict(scoring).as_dict() if scoring else None
        load_scorer(folder, spec).score([("1 + 1 = ?", ["1 + 1 = 2"])])
    except (OSError, ValueError, KeyError) as exc:
        raise TrainingError(f"This model cannot score steps: {exc}") from None
    card = {"name": name, "base_model": str(folder), "registered": True,
            "task": "process reward model: " + ("next-token '+'/'-' at a step"
                                                 if spec else "token classification"),
            "step_delimiter": project_step_delimiter(project)}
    if spec:
        card["scoring"] = spec
    return PrmModel.objects.create(
        project=project, name=name, base_model=str(folder), artifact_path=str(folder),
        status=PrmModel.Status.READY, model_card=card, data_source={"kind": "registered"},
        created_by=user if user and user.is_authenticated else None)


def start_scoring(*, prm_model: PrmModel, solution_ids: list[int] | None = None, user=None):
    """Queue a ``score_solutions`` run for a ready model."""
    from workers.runs import start_run

    if prm_model.status != PrmModel.Status.READY:
        raise TrainingError("Only a ready model can score solutions.")
    params = {"prm_model_id": prm_model.pk}
    if solution_ids is not None:
        params["solution_ids"] = [int(i) for i in solution_ids]
    return start_run("score_solutions", params, project=prm_model.project, user=user)


def current_model(project) -> PrmModel | None:
    """The project's newest ready PRM: what active learning ranks by."""
    return PrmModel.objects.filter(project=project, status=PrmModel.Status.READY).first()
