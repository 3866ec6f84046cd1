"""What a PRM training is asked to do, checked, and resolved for the device it runs on.

No torch import at module level: the web process validates the form with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .data import DEFAULT_SEPARATOR
from .windows import LongInputPolicy

PRECISIONS = ("auto", "bf16", "fp16", "fp32")
ATTENTIONS = ("sdpa", "eager", "flash_attention_2")
CHECKPOINTING = ("auto", "on", "off")
STRATEGIES = ("ddp", "fsdp", "zero2", "zero3")
QUANTIZATIONS = ("none", "4bit")
LORA_SAVES = ("merged", "adapter")


#: Every numeric setting is bounded, so a typo (epochs=10**12) is a 400, not a week-long run.
#: name -> (type, lowest, highest); None: an open interval, checked with its own message below.
BOUNDS: dict[str, tuple[type, float | None, float | None]] = {
    "learning_rate": (float, None, None), "head_learning_rate": (float, None, None),
    "epochs": (int, 1, 1000), "batch_size": (int, 1, 4096),
    "effective_batch_size": (int, 1, 1_048_576), "max_length": (int, 16, 131_072),
    "seed": (int, 0, 2**32 - 1), "val_fraction": (float, None, None),
    "early_stopping_patience": (int, 0, 1000), "weight_decay": (float, 0, 1),
    "warmup_ratio": (float, 0, 1), "lora_rank": (int, 0, 4096), "lora_alpha": (int, 1, 65_536),
    "lora_dropout": (float, None, None), "processes": (int, 0, 1024),
}
OPTIONAL = ("head_learning_rate", "effective_batch_size")


@dataclass
class TrainConfig:
    learning_rate: float = 5e-5
    # The new classifier head starts from random weights; a higher LR for it than for the
    # pretrained body shortens the plateau (docs/performance.md, "On a GPU"). None = same.
    head_learning_rate: float | None = None
    epochs: int = 3
    batch_size: int = 8  # per device and forward pass
    # Examples per optimizer step over all devices; None = batch_size x devices (no
    # accumulation). Must be a multiple of batch_size x devices.
    effective_batch_size: int | None = None
    max_length: int = 256
    seed: int = 0
    val_fraction: float = 0.2
    early_stopping_patience: int = 2  # epochs without a better validation loss; 0 = off
    weight_decay: float = 0.0
    warmup_ratio: float = 0.1
    neutral: str = "good"
    after_first_error: str = "mask"  # see data.rating_labels: "drop" lets encoders cheat
    # Off by default: where steps are dropped after the first error, length says whether a
    # solution has a bad step, and length-sorted batches are then label-sorted too
    # (docs/performance.md measured -0.11 AUROC against TRL from that).
    group_by_length: bool = False
    separator: str = DEFAULT_SEPARATOR
    # Inputs longer than max_length (training/windows.py, docs/training.md "Long inputs"):
    # "window" gives every step a window of the problem and up to window_context_steps
    # preceding steps; "truncate" leaves the steps past max_length unlabeled and unscored.
    # Saved with the model (config.json ``long_inputs``, the model card), so scoring agrees.
    long_inputs: str = "window"
    window_context_steps: int = 2
    # Precision and memory. "auto": bf16 on a GPU that has it, fp16 on one that does not,
    # fp32 on CPU; checkpointing on for GPUs, off on CPU.
    precision: str = "auto"
    activation_checkpointing: str = "auto"
    attention: str = "sdpa"
    # LoRA (peft): rank 0 trains every weight. "4bit" is QLoRA (bitsandbytes, CUDA only).
    lora_rank: int = 0
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | str = "all-linear"
    quantization: str = "none"
    lora_save: str = "merged"  # "merged": a plain token-classification model; "adapter"
    # Processes through torchrun: 1 trains in the worker's process; more start a launcher
    # over that many devices (GPUs, or CPU processes with gloo); 0 = one per GPU the worker
    # owns (CUDA_VISIBLE_DEVICES), 1 on CPU.
    processes: int = 1
    strategy: str = "ddp"

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        cfg = cls(**known)
        cfg.check()
        return cfg

    def check(self) -> None:
        for name, (kind, low, high) in BOUNDS.items():
            value = getattr(self, name)
            if value is None and name in OPTIONAL:
                continue
            if isinstance(value, bool) or not isinstance(value, int if kind is int else (int, float)):
                raise ValueError(f"{name} must be {'a whole number' if kind is int else 'a number'}")
            if low is not None and not low <= value <= high:  # NaN fails here too
                raise ValueError(f"{name} must be between {low} and {high}")
        if not 0 < self.learning_rate < 1:
            raise ValueError("learning_rate must be in (0, 1)")
        if self.head_learning_rate is not None and not 0 < self.head_learning_rate < 1:
            raise ValueError("head_learning_rate must be in (0, 1), or empty for learning_rate")
        if not 0 <= self.val_fraction < 1:
            raise ValueError("val_fraction must be in [0, 1)")
        if not isinstance(self.group_by_length, bool):
            raise ValueError("group_by_length must be true or false")
        for name, allowed in (("precision", PRECISIONS), ("attention", ATTENTIONS),
                              ("activation_checkpointing", CHECKPOINTING),
                              ("strategy", STRATEGIES), ("quantization", QUANTIZATIONS),
                              ("lora_save", LORA_SAVES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}")
        self.long_input_policy.check()
        if not 0 <= self.lora_dropout < 1:
            raise ValueError("lora_dropout must be in [0, 1)")
        if self.quantization != "none" and not self.lora_rank:
            raise ValueError("4-bit quantization trains LoRA adapters only: set lora_rank")
        if self.effective_batch_size is not None and self.processes:
            per_step = self.batch_size * self.processes
            if self.effective_batch_size < per_step or self.effective_batch_size % per_step:
                raise ValueError(
                    f"effective_batch_size must be a multiple of batch_size x processes "
                    f"({per_step})")

    @property
    def long_input_policy(self) -> LongInputPolicy:
        return LongInputPolicy(policy=self.long_inputs, context_steps=self.window_context_steps)

    @property
    def accumulation_steps(self) -> int:
        if self.effective_batch_size is None:
            return 1
        return self.effective_batch_size // (self.batch_size * max(1, self.processes))


def resolve_processes(cfg: TrainConfig) -> TrainConfig:
    """``processes=0`` becomes the worker's GPU count (1 without one), checked again."""
    from dataclasses import replace

    if cfg.processes:
        return cfg
    import torch

    resolved = replace(cfg, processes=max(1, torch.cuda.device_count()))
    resolved.check()
    return resolved


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolved_precision(cfg: TrainConfig) -> str:
    """bf16 / fp16 / fp32 for this machine; a request the device cannot do is an error."""
    import torch

    on_gpu = cuda_available()
    if cfg.precision == "auto":
        if not on_gpu:
            return "fp32"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if cfg.precision == "fp16" and not on_gpu:
        raise ValueError("fp16 mixed precision needs a GPU; use bf16 or fp32 on CPU")
    if cfg.precision == "bf16" and on_gpu and not torch.cuda.is_bf16_supported():
        raise ValueError("This GPU has no bf16; use precision fp16 (or auto)")
    return cfg.precision


def resolved_checkpointing(cfg: TrainConfig) -> bool:
    if cfg.activation_checkpointing == "auto":
        return cuda_available()
    return cfg.activation_checkpointing == "on"


def check_attention(cfg: TrainConfig) -> None:
    """flash attention only where flash-attn is installed and a GPU can run it."""
    import importlib.util

    if cfg.attention != "flash_attention_2":
        return
    if importlib.util.find_spec("flash_attn") is None:
        raise ValueError("attention flash_attention_2 needs the flash-attn package "
                         "(requirements-gpu.txt); use sdpa")
    if not cuda_available():
        raise ValueError("attention flash_attention_2 needs a CUDA GPU; use sdpa")


def check_quantization(cfg: TrainConfig) -> None:
    import importlib.util

    if cfg.quantization == "none":
        return
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError("4-bit QLoRA needs the bitsandbytes package (requirements-gpu.txt)")
    if not cuda_available():
        raise ValueError("4-bit QLoRA needs a CUDA GPU")
