"""One PRM training end to end: data, training, evaluation, model card, status."""

from __future__ import annotations

import hashlib
import json
import os

from django.utils import timezone

from .config import resolve_processes
from .data import examples_from_project, examples_from_rule, examples_from_snapshot
from .serving import pooling_spec
from .trainer import Hooks, TrainConfig, default_base_model, train, write_model_card


def build_examples(prm_model, cfg: TrainConfig):
    """The examples, and what the model card records of a label rule (None without one)."""
    source = prm_model.data_source or {"kind": "project"}
    if source.get("kind") == "snapshot":
        return examples_from_snapshot(source["path"], after_first_error=cfg.after_first_error), None
    if source.get("labels"):
        from quality.label_rules import parse_rule, rule_metadata, source_versions

        rule = parse_rule(source["labels"])
        examples, tally = examples_from_rule(prm_model.project, rule, neutral=cfg.neutral,
                                             after_first_error=cfg.after_first_error)
        return examples, rule_metadata(rule, tally, source_versions([prm_model.project]))
    return examples_from_project(prm_model.project, neutral=cfg.neutral,
                                 after_first_error=cfg.after_first_error), None


def project_step_delimiter(project) -> str:
    from .models import DEFAULT_STEP_DELIMITER

    generator = project.generator if isinstance(project.generator, dict) else {}
    value = generator.get("delimiter", generator.get("step_delimiter"))
    return value if isinstance(value, str) and value else DEFAULT_STEP_DELIMITER


def data_fingerprint(examples) -> str:
    """A stable hash of the training data, so a model card names its snapshot."""
    digest = hashlib.sha256()
    for ex in sorted(examples, key=lambda e: (e.group, e.prompt, e.steps)):
        digest.update(json.dumps([ex.group, ex.prompt, ex.steps, ex.labels]).encode())
    return digest.hexdigest()[:16]


def train_and_evaluate(prm_model, hooks: Hooks | None = None, check_cancelled=None) -> dict:
    from .evaluate import evaluate_examples, project_best_of_n
    from .models import PrmModel
    from .scoring import PrmScorer

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = resolve_processes(TrainConfig.from_dict(prm_model.hyperparameters or {}))
    base = prm_model.base_model or default_base_model()
    examples, rule = build_examples(prm_model, cfg)
    if not examples:
        if rule is not None:
            raise ValueError(f"The label rule {rule['name']} keeps no step of this project's "
                             f"solutions ({rule['candidates']} candidates).")
        raise ValueError("No labeled solutions to train on: label some, or pick a snapshot.")
    if cfg.processes > 1:  # torchrun over the worker's devices, rank 0 relayed into the Run
        from .launch import train_launched

        summary = train_launched(examples, base, prm_model.artifact_path, cfg, hooks or Hooks(),
                                 check_cancelled)
    else:
        summary = train(examples, base, prm_model.artifact_path, cfg, hooks, check_cancelled)

    val_groups = set(summary["val_groups"])
    val_examples = [ex for ex in examples if ex.group in val_groups]
    scorer = PrmScorer(prm_model.artifact_path, max_length=cfg.max_length)
    metrics = evaluate_examples(scorer, val_examples)
    if (prm_model.data_source or {}).get("kind") != "snapshot":
        metrics["best_of_n"] = project_best_of_n(scorer, prm_model.project, val_groups)
    metrics["training"] = {k: summary[k] for k in (
        "epochs_run", "steps", "best_val_loss", "stopped_early", "train_examples",
        "val_examples", "samples_per_second", "resumed", "precision",
        "activation_checkpointing", "processes")}
    card = {
        "name": prm_model.name,
        "base_model": base,
        "task": "process reward model: token classification, label on the step separator",
        "labels": {"0": "bad", "1": "good"},
        "step_separator": cfg.separator,
        # How an input longer than max_length is trained and scored (docs/training.md).
        "long_inputs": {**cfg.long_input_policy.as_dict(), "max_length": cfg.max_length},
        # How the project's solution text is split into steps (its generator's setting).
        "step_delimiter": project_step_delimiter(prm_model.project),
        "data": {
            "source": prm_model.data_source, "project": prm_model.project.slug,
            "examples": len(examples), "fingerprint": data_fingerprint(examples),
            "train_problems": len(summary["train_groups"]), "val_problems": len(val_groups),
            "labeled_steps": sum(v is not None for ex in examples for v in ex.labels),
            # The label rule, each source's version and the fraction of steps it kept.
            **({"labels": rule} if rule is not None else {}),
        },
        "hyperparameters": summary["config"],
        "memory_plan": summary["memory_plan"],
        "metrics": metrics,
        "curve": summary["curve"],
        "created": timezone.now().isoformat(),
        "usage": "AutoModelForTokenClassification.from_pretrained(dir); score = softmax(logits)"
                 "[..., 1] at each step-separator token",
        # How vLLM's pooling runner serves it (training/serving.py; GET /api/models/<id>/).
        "serving": pooling_spec(prm_model.artifact_path),
    }
    write_model_card(prm_model.artifact_path, card)
    PrmModel.objects.filter(pk=prm_model.pk).update(
        status=PrmModel.Status.READY, metrics=metrics, model_card=card, curve=summary["curve"],
        base_model=base,
    )
    return {"prm_model": prm_model.pk, "metrics": metrics, "artifact_path": prm_model.artifact_path}
