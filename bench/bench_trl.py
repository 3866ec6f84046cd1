"""Stepwise's PRM trainer against TRL 1.13's PRMTrainer: same data, base, settings, run.

Needs the bench-only environment (``bench/setup_trl_venv.sh``), then
    /tmp/stepwise-venv-bench/bin/python bench/bench_trl.py [--n 160 --epochs 5 --layers 2]

Both train the same MiniLM-based token classifier (same separator token, same seed and
head initialisation) on the same demo-domain solutions, cut after the first error (TRL
cannot take unlabeled steps), with the same LR schedule, batch and epochs; each is
then scored in its own input format on the same held-out whole solutions.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

import bench_prm  # noqa: E402  (sets up Django, offline hub)
from bench_prm import demo_solutions, truncated_base  # noqa: E402

from training.data import apply_first_error, separator_id  # noqa: E402
from training.evaluate import step_metrics  # noqa: E402
from training.scoring import PrmScorer  # noqa: E402
from training.trainer import TrainConfig, load_base, train  # noqa: E402


def trl_scores(model, tokenizer, examples, separator: str, max_length: int) -> list[list[float]]:
    """Score in TRL's own format: prompt ids, then each step's ids + the separator ids."""
    import torch

    sep = tokenizer.encode(separator, add_special_tokens=False)
    model.eval()
    out = []
    with torch.inference_mode():
        for ex in examples:
            ids = tokenizer(ex.prompt, add_special_tokens=False)["input_ids"]
            positions = []
            for step in ex.steps:
                ids = ids + tokenizer(step, add_special_tokens=False)["input_ids"] + sep
                positions.append(len(ids) - 1)
            ids, kept = ids[:max_length], [p for p in positions if p < max_length]
            probs = model(input_ids=torch.tensor([ids])).logits.softmax(-1)[0, :, 1]
            scores = [float(probs[p]) for p in kept]
            out.append(scores + [None] * (len(ex.steps) - len(scores)))
    return out


def main() -> None:
    import torch
    from datasets import Dataset
    from trl.experimental.prm import PRMConfig, PRMTrainer

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=2e-4)
    args = parser.parse_args()

    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="bench_trl_"))
    base = truncated_base(args.layers, tmp / "base")
    pool = demo_solutions(250, 4, seed=1)
    order = list(range(len(pool)))
    random.Random(0).shuffle(order)
    chosen = [apply_first_error(pool[i], "drop") for i in order[: args.n]]
    test = demo_solutions(60, 2, seed=99)
    cfg = TrainConfig(epochs=args.epochs, learning_rate=args.lr, batch_size=16, max_length=128,
                      val_fraction=0.0, early_stopping_patience=0, after_first_error="drop",
                      warmup_ratio=0.1)
    n_samples = len(chosen) * args.epochs
    print(f"{len(chosen)} training solutions ({sum(len(e.labels) for e in chosen)} step labels), "
          f"{args.epochs} epochs, lr {args.lr}, MiniLM {args.layers}/6 layers, CPU threads "
          f"{torch.get_num_threads()}")

    # Stepwise
    t0 = time.perf_counter()
    summary = train(chosen, base, tmp / "stepwise", cfg)
    sw_wall = time.perf_counter() - t0
    sw = step_metrics([e.labels for e in test],
                      PrmScorer(tmp / "stepwise", max_length=128).score(
                          [(e.prompt, e.steps) for e in test]))

    # TRL 1.13 PRMTrainer, same base, separator token and head initialisation
    torch.manual_seed(cfg.seed)
    model, tokenizer = load_base(base, cfg.separator)
    separator_id(tokenizer, cfg.separator)
    data = Dataset.from_list([{"prompt": e.prompt, "completions": e.steps,
                               "labels": [bool(v) for v in e.labels]} for e in chosen])
    trl_args = PRMConfig(
        output_dir=str(tmp / "trl"), per_device_train_batch_size=16,
        num_train_epochs=args.epochs, learning_rate=args.lr,
        warmup_steps=int(-(-len(chosen) // 16) * args.epochs * cfg.warmup_ratio),
        lr_scheduler_type="linear", max_grad_norm=1.0, weight_decay=0.0, seed=cfg.seed,
        max_length=128, step_separator=cfg.separator, disable_dropout=False,
        save_strategy="no", report_to=[], logging_steps=10, use_cpu=not torch.cuda.is_available(),
        dataloader_num_workers=0,
        # Stepwise trains in fp32 without activation checkpointing; TRL's defaults turn
        # both on (bf16, checkpointing), so they are switched off for a like-for-like run.
        bf16=False, activation_checkpointing=False,
    )
    trainer = PRMTrainer(model=model, args=trl_args, train_dataset=data, processing_class=tokenizer)
    t0 = time.perf_counter()
    result = trainer.train()
    trl_wall = time.perf_counter() - t0
    trl = step_metrics([e.labels for e in test],
                       trl_scores(trainer.model, tokenizer, test, cfg.separator, 128))

    sw_rate = summary["samples_per_second"]
    trl_rate = result.metrics.get("train_samples_per_second") or n_samples / trl_wall
    print("| trainer | train samples/s (loop) | wall s (incl. setup) | held-out step AUROC | AUPRC (bad) |")
    print(f"| Stepwise | {sw_rate:.2f} | {sw_wall:.0f} | {sw['auroc']} | {sw['auprc_bad']} |")
    print(f"| TRL 1.13 PRMTrainer | {trl_rate:.2f} | {trl_wall:.0f} | {trl['auroc']} | {trl['auprc_bad']} |")
    print(f"throughput ratio Stepwise/TRL: {sw_rate / trl_rate:.2f}x; "
          f"AUROC difference: {sw['auroc'] - trl['auroc']:+.4f}")


if __name__ == "__main__":
    main()
