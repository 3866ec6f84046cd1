"""LoRA through peft: adapters on every linear layer of the body, the head and the separator
token's embedding trained in full, and the result merged into a plain token classifier.

The saved artefact is a ``save_pretrained`` directory that ``AutoModelForTokenClassification``
loads without peft; ``adapter/`` beside it keeps the adapter (a few MB). With
``lora_save="adapter"`` only the adapter is kept; ``load_trained`` then loads it onto its base.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .config import TrainConfig, resolved_checkpointing

ADAPTER = "adapter"
PRM_FILE = "prm_adapter.json"  # the separator and the base, which peft's files do not name


def add_lora(model, cfg: TrainConfig, sep_id: int):
    import torch
    from peft import LoraConfig, TaskType, get_peft_model, prepare_model_for_kbit_training

    if cfg.quantization == "4bit":
        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=resolved_checkpointing(cfg))
    config = LoraConfig(
        task_type=TaskType.TOKEN_CLS, r=cfg.lora_rank, lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout, target_modules=cfg.lora_target_modules,
        # Adapters go into the body only; the head outside it trains whole (modules_to_save).
        exclude_modules=[name for name, _ in model.named_children()
                         if name != model.base_model_prefix],
        # The separator is a new token: its embedding must learn, the rest stays frozen.
        trainable_token_indices=[sep_id],
    )
    model = get_peft_model(model, config)
    for param in model.parameters():  # the head copy keeps the base's dtype; train it in fp32
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
    if resolved_checkpointing(cfg):
        model.enable_input_require_grads()  # frozen embeddings feed checkpointed layers
    return model


def save_lora(trainer, tokenizer, out: Path, cfg: TrainConfig, base: str) -> None:
    """The adapter through the Trainer (which gathers FSDP/ZeRO shards), then on rank 0
    the merge onto a fresh copy of the base."""
    adapter = out / ADAPTER
    trainer.save_model(str(adapter))
    trainer.accelerator.wait_for_everyone()
    if not trainer.is_world_process_zero():
        return
    Path(adapter, PRM_FILE).write_text(json.dumps(
        {"step_separator": cfg.separator, "base_model": base,
         "long_inputs": cfg.long_input_policy.as_dict()}), encoding="utf-8")
    if cfg.lora_save == "adapter":
        for item in adapter.iterdir():
            shutil.move(str(item), str(out / item.name))
        adapter.rmdir()
        return
    model = load_adapter_model(adapter, tokenizer)
    merged = model.merge_and_unload()
    merged.config.step_separator = cfg.separator
    merged.config.long_inputs = cfg.long_input_policy.as_dict()
    merged.save_pretrained(out)
    tokenizer.save_pretrained(out)


def load_adapter_model(path: str | Path, tokenizer):
    """A saved adapter on its base, as trained: the 2-label head and the resized embeddings."""
    from peft import PeftModel
    from transformers import AutoModelForTokenClassification

    meta = json.loads(Path(path, PRM_FILE).read_text(encoding="utf-8"))
    model = AutoModelForTokenClassification.from_pretrained(
        meta["base_model"], num_labels=2, id2label={0: "bad", 1: "good"},
        label2id={"bad": 0, "good": 1})
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    model.config.step_separator = meta["step_separator"]
    if "long_inputs" in meta:
        model.config.long_inputs = meta["long_inputs"]
    return PeftModel.from_pretrained(model, str(path))
