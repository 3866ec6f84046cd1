"""The memory a training needs per device, estimated before any weight is loaded.

Parameters are counted exactly on the meta device from the base's config; the bytes per
parameter follow what the Trainer keeps (fp32 master weights under mixed precision, AdamW's
two fp32 moments, fp32 gradients); activations follow Korthikanti et al. 2022 ("Reducing
Activation Recomputation in Large Transformer Models"): 34·s·b·h bytes per layer in 16 bits,
the attention score term left out because SDPA and flash attention never store it; with
checkpointing, one layer's worth plus each layer's 16-bit input. Sharding divides by the
number of processes: ZeRO-2 the gradients and optimizer state, FSDP and ZeRO-3 the weights
as well. A plan that does not fit is refused with the changes that would make it fit.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace

from .config import TrainConfig, resolved_checkpointing, resolved_precision

GIB = 1024 ** 3
#: CUDA context, allocator fragmentation, kernels' workspaces.
OVERHEAD_BYTES = int(1.5 * GIB)
#: The share of a device's memory a plan may fill.
USABLE = 0.92


class MemoryPlanError(ValueError):
    """A training that cannot fit the worker's devices, with what would."""


@dataclass
class ModelShape:
    parameters: int
    layers: int
    hidden: int
    lora_parameters: int  # trainable parameters of LoRA adapters at rank 1 (scale by rank)
    head_parameters: int


@dataclass
class MemoryPlan:
    weights: int
    gradients: int
    optimizer: int
    activations: int
    overhead: int
    capacity: int | None  # bytes per device; None = not known (no check)
    devices: int
    strategy: str

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.overhead

    @property
    def fits(self) -> bool:
        return self.capacity is None or self.total <= self.capacity * USABLE

    def summary(self) -> str:
        parts = ", ".join(f"{k} {getattr(self, k) / GIB:.2f}" for k in
                          ("weights", "gradients", "optimizer", "activations", "overhead"))
        cap = "unknown" if self.capacity is None else f"{self.capacity / GIB:.1f} GiB"
        return (f"memory plan per device ({self.strategy}, {self.devices} device(s)): "
                f"{self.total / GIB:.2f} GiB ({parts}) of {cap}")

    def as_dict(self) -> dict:
        return {**asdict(self), "total": self.total}


def model_shape(base: str) -> ModelShape:
    """Count a base's parameters on the meta device: no weights are read."""
    import torch
    from transformers import AutoConfig, AutoModelForTokenClassification

    config = AutoConfig.from_pretrained(base, num_labels=2)
    with torch.device("meta"):
        model = AutoModelForTokenClassification.from_config(config)
    body = getattr(model, model.base_model_prefix)
    lora = sum(m.in_features + m.out_features for m in body.modules()
               if isinstance(m, torch.nn.Linear))
    total = sum(p.numel() for p in model.parameters())
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = getattr(text, "num_hidden_layers", None) or getattr(text, "n_layer", 1)
    hidden = getattr(text, "hidden_size", None) or getattr(text, "n_embd", 1)
    return ModelShape(parameters=total, layers=layers, hidden=hidden, lora_parameters=lora,
                      head_parameters=total - sum(p.numel() for p in body.parameters()))


def plan_memory(shape: ModelShape, cfg: TrainConfig, devices: int, capacity: int | None,
                precision: str, checkpointing: bool) -> MemoryPlan:
    n = max(1, devices)
    strategy = "single" if n == 1 else cfg.strategy
    half = precision in ("bf16", "fp16")
    if cfg.lora_rank:
        trainable = shape.lora_parameters * cfg.lora_rank + shape.head_parameters
        frozen_bytes = 0.5 if cfg.quantization == "4bit" else (2 if half else 4)
        weights = shape.parameters * frozen_bytes + trainable * 4
    else:
        trainable = shape.parameters
        weights = shape.parameters * 4  # fp32 master weights; autocast computes in 16 bits
    gradients, optimizer = trainable * 4, trainable * 8
    if strategy in ("zero2", "zero3", "fsdp"):
        gradients, optimizer = gradients / n, optimizer / n
    if strategy in ("zero3", "fsdp"):
        weights = weights / n
    act_bytes = 1 if half else 2  # the 34·s·b·h formula counts 16-bit values
    tokens = cfg.batch_size * cfg.max_length
    per_layer = 34 * tokens * shape.hidden * act_bytes
    if checkpointing:
        activations = per_layer + shape.layers * 2 * tokens * shape.hidden * act_bytes
    else:
        activations = per_layer * shape.layers
    return MemoryPlan(weights=int(weights), gradients=int(gradients), optimizer=int(optimizer),
                      activations=int(activations), overhead=OVERHEAD_BYTES if capacity else 0,
                      capacity=capacity, devices=n, strategy=strategy)


def device_capacity(cfg: TrainConfig) -> int | None:
    """Bytes per device: the smallest GPU's memory, or the machine's RAM shared by the
    processes on CPU. ``STEPWISE_TRAIN_DEVICE_MEMORY_GB`` overrides it (a GPU shared with
    other work)."""
    override = os.environ.get("STEPWISE_TRAIN_DEVICE_MEMORY_GB", "").strip()
    if override:
        return int(float(override) * GIB)
    import torch

    if torch.cuda.is_available():
        return min(torch.cuda.get_device_properties(i).total_memory
                   for i in range(torch.cuda.device_count()))
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None
    return ram // max(1, cfg.processes)


def _alternatives(shape: ModelShape, cfg: TrainConfig, capacity: int, precision: str,
                  checkpointing: bool) -> list[str]:
    """Changes, cheapest first, that fit."""
    tries: list[tuple[str, TrainConfig, bool]] = []
    if not checkpointing:
        tries.append(("activation_checkpointing on", cfg, True))
    batch = cfg.batch_size
    while batch > 1:
        batch //= 2
        tries.append((f"batch_size {batch} (effective_batch_size keeps the optimizer batch)",
                      replace(cfg, batch_size=batch, effective_batch_size=None), checkpointing))
    if cfg.processes > 1 and cfg.strategy not in ("fsdp", "zero3"):
        tries.append(("strategy fsdp (or zero3)", replace(cfg, strategy="fsdp"), checkpointing))
    if not cfg.lora_rank:
        tries.append(("LoRA (lora_rank 16) with activation checkpointing",
                      replace(cfg, lora_rank=16), True))
    if cfg.quantization == "none":
        tries.append(("4-bit QLoRA (lora_rank 16, quantization 4bit) with checkpointing",
                      replace(cfg, lora_rank=cfg.lora_rank or 16, quantization="4bit"), True))
    found = []
    for label, option, ckpt in tries:
        plan = plan_memory(shape, option, cfg.processes, capacity, precision, ckpt)
        if plan.fits:
            found.append(f"{label}: {plan.total / GIB:.1f} GiB")
    return found


def check_plan(base: str, cfg: TrainConfig, capacity: int | None = None) -> MemoryPlan:
    """The plan for this machine; ``MemoryPlanError`` if it cannot fit, naming what would."""
    precision, checkpointing = resolved_precision(cfg), resolved_checkpointing(cfg)
    shape = model_shape(base)
    capacity = capacity if capacity is not None else device_capacity(cfg)
    plan = plan_memory(shape, cfg, cfg.processes, capacity, precision, checkpointing)
    if plan.fits:
        return plan
    options = _alternatives(shape, cfg, capacity, precision, checkpointing)
    advice = ("Would fit: " + "; ".join(options) + ".") if options else (
        "Nothing tried fits one device of this size: use more or larger devices.")
    raise MemoryPlanError(
        f"This training needs about {plan.total / GIB:.1f} GiB per device, more than the "
        f"{capacity * USABLE / GIB:.1f} GiB usable of {capacity / GIB:.1f} GiB "
        f"({shape.parameters / 1e9:.2f}B parameters; {plan.summary()}). {advice}")
