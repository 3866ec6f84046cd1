"""Writes of the training app: start a training, start a scoring."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from .data import AFTER_FIRST_ERROR
from .errors import TrainingError
from .locations import resolve_model
from .models import PrmModel
from .snapshots import problem_groups, snapshot_source
from .trainer import TrainConfig

__all__ = ["TrainingError", "start_training", "register_model", "start_scoring", "current_model",
           "form_defaults", "check_hyperparameters", "validation_warning"]

HYPERPARAMETERS = ("learning_rate", "head_learning_rate", "epochs", "batch_size", "max_length",
                   "seed", "val_fraction", "early_stopping_patience", "weight_decay",
                   "warmup_ratio", "neutral", "after_first_error", "group_by_length",
                   "effective_batch_size", "precision", "activation_checkpointing", "attention",
                   "lora_rank", "lora_alpha", "lora_dropout", "quantization", "lora_save",
                   "processes", "strategy", "long_inputs", "window_context_steps")


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


def artifact_dir(model: PrmModel) -> Path:
    return Path(settings.MODELS_DIR) / "prm" / f"{model.project_id}-{model.pk}-{slugify(model.name)}"


NAME_LIMIT = PrmModel._meta.get_field("name").max_length


def _check_name(name: str, project) -> str:
    name = (name or "").strip()
    if not name:
        raise TrainingError("Give the model a name.")
    if len(name) > NAME_LIMIT:
        raise TrainingError(f"The name is {len(name)} characters long; the limit is {NAME_LIMIT}.")
    if PrmModel.objects.filter(project=project, name=name).exists():
        raise TrainingError(_taken(name))
    return name


def _taken(name: str) -> str:
    return f"A model named '{name}' already exists in this project."


def _create(name: str, start=None, **fields) -> PrmModel:
    """Insert (and queue ``start(model)``'s run); a concurrent request that took the name
    first gets the same 400 as a later one, not a 500."""
    try:
        with transaction.atomic():
            model = PrmModel.objects.create(name=name, **fields)
            if start is not None:
                model.artifact_path = str(artifact_dir(model))
                model.run = start(model)
                model.save(update_fields=["artifact_path", "run"])
            return model
    except IntegrityError:
        raise TrainingError(_taken(name)) from None


def validation_warning(project, source: dict, cfg: TrainConfig) -> str:
    """Why the held-out metrics will be empty, said before the run starts ("" when not)."""
    from annotate.models import Assignment, Problem

    if cfg.val_fraction == 0:
        return "No validation split (val_fraction is 0): the held-out metrics will be empty."
    if source.get("kind") == "snapshot":
        groups = problem_groups(source["path"])
    elif source.get("labels"):
        groups = Problem.objects.filter(project=project, solutions__isnull=False).distinct(
        ).values("pk")[:2].count()
    else:
        groups = Problem.objects.filter(
            project=project, solutions__assignments__status=Assignment.Status.SUBMITTED,
        ).distinct().values("pk")[:2].count()
    if groups < 2:
        return (f"No validation split: the data has {groups} problem{'s' if groups != 1 else ''} "
                "and validation holds out whole problems, so the held-out metrics will be empty. "
                "Label more problems.")
    return ""


def check_hyperparameters(hyperparameters: dict | None) -> tuple[dict, TrainConfig]:
    if hyperparameters is not None and not isinstance(hyperparameters, dict):
        raise TrainingError("hyperparameters must be an object.")
    hp = {k: v for k, v in (hyperparameters or {}).items() if k in HYPERPARAMETERS}
    try:
        cfg = TrainConfig.from_dict(hp)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"Bad hyperparameters: {exc}") from None
    if hp.get("neutral", "good") not in ("good", "bad"):
        raise TrainingError("neutral must be 'good' or 'bad'.")
    if hp.get("after_first_error", "mask") not in AFTER_FIRST_ERROR:
        raise TrainingError(f"after_first_error must be one of {', '.join(AFTER_FIRST_ERROR)}.")
    return hp, cfg


def check_label_rule(labels, project) -> dict:
    """The normalized label rule, or TrainingError with the rule's own message."""
    from quality.label_rules import RuleError, check_sources, parse_rule

    try:
        rule = parse_rule(labels)
        check_sources(rule, [project.pk])
    except RuleError as exc:
        raise TrainingError(f"labels: {exc}") from None
    return rule.as_dict()


def start_training(*, project, name: str, base_model: str = "", hyperparameters: dict | None = None,
                   snapshot_id: int | None = None, snapshot_split: str | None = None,
                   labels: dict | None = None, score_after: bool = False,
                   user=None) -> PrmModel:
    """Validate, create the PrmModel and queue a ``train_prm`` run on the gpu queue.

    ``base_model``: "" (the bundled MiniLM), or a model the project may name
    (``training.locations``). The data: the project's consensus labels, or ``snapshot_id``
    (and ``snapshot_split``) of one of its export snapshots, or ``labels``: a label rule
    over label sources (``quality.label_rules``, docs/labels.md "Rules"). The returned model's
    ``warning`` says when there will be no validation split."""
    from workers.runs import start_run

    for field, value in (("name", name), ("base_model", base_model),
                         ("snapshot_split", snapshot_split)):
        if "\x00" in (value or ""):  # PostgreSQL text (and a path) cannot hold it
            raise TrainingError(f"'{field}' contains a NUL byte.")
    name = _check_name(name, project)
    hp, cfg = check_hyperparameters(hyperparameters)
    base = resolve_model(project, base_model, what="base model") if (base_model or "").strip() else ""
    if snapshot_split is not None and snapshot_id is None:
        raise TrainingError("snapshot_split names a split of the snapshot given by snapshot_id.")
    source = snapshot_source(project, snapshot_id, snapshot_split) if snapshot_id is not None \
        else {"kind": "project"}
    if labels is not None:
        if snapshot_id is not None:
            raise TrainingError("A snapshot's rows carry their own labels: give snapshot_id or "
                                "a label rule (labels), not both.")
        source["labels"] = check_label_rule(labels, project)
    warning = validation_warning(project, source, cfg)
    if warning:
        source["warning"] = warning

    def start(model):
        return start_run("train_prm", {"prm_model_id": model.pk, "score_after": bool(score_after)},
                         project=project, user=user)

    model = _create(name, project=project, base_model=base, hyperparameters=hp, data_source=source,
                    created_by=user if user and user.is_authenticated else None, start=start)
    model.warning = warning
    return model


def register_model(*, project, name: str, path: str, scoring: dict | None = None,
                   user=None) -> PrmModel:
    """A PRM trained elsewhere, ready to score: a token classifier on a step separator (no
    ``scoring``), or a next-token "+"/"-" PRM (``scoring={"kind": "next_token", "format":
    "tag"|"chat", "step_tag": "ки", "good": "+", "bad": "-"}``). ``path`` names a model the
    project may use (``training.locations``). Loaded once here, so a model that cannot
    score is refused now, not at the first reward request."""
    from .families import StepTagScoring
    from .pipeline import project_step_delimiter
    from .scoring import load_scorer

    if "\x00" in (name or "") + (path or ""):
        raise TrainingError("Give the model a name (and no NUL bytes).")
    name = _check_name(name, project)
    location = resolve_model(project, path, what="model")
    if not os.path.isabs(location):
        raise TrainingError("A registered PRM must be a model folder on this server.")
    folder = Path(location)
    try:
        spec = StepTagScoring.from_dict(scoring).as_dict() if scoring else None
        load_scorer(folder, spec).score([("1 + 1 = ?", ["1 + 1 = 2"])])
    except (OSError, ValueError, KeyError) as exc:
        message = str(exc).replace(str(folder), folder.name)  # no server paths in messages
        raise TrainingError(f"This model cannot score steps: {message}") from None
    card = {"name": name, "base_model": str(folder), "registered": True,
            "task": "process reward model: " + ("next-token '+'/'-' at a step"
                                                 if spec else "token classification"),
            "step_delimiter": project_step_delimiter(project)}
    if spec:
        card["scoring"] = spec
    else:
        from .serving import pooling_spec

        card["serving"] = pooling_spec(folder)  # None unless vLLM's pooling runner serves it
    return _create(name, project=project, base_model=str(folder), artifact_path=str(folder),
                   status=PrmModel.Status.READY, model_card=card,
                   data_source={"kind": "registered", "file": folder.name},
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
