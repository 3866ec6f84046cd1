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
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from bench_bases import resolve_base  # noqa: E402

from demo.labeled import demo_solutions  # noqa: E402
from training.data import apply_first_error, separator_id  # noqa: E402
from training.evaluate import step_metrics  # noqa: E402
from training.scoring import PrmScorer  # noqa: E402
from training.trainer import TrainConfig, load_base, train  # noqa: E402


def task_data(data: str, n: int) -> tuple[list, list]:
    """The benchmark's task: ``n`` training solutions of the ``rule`` or ``demo`` data (steps
    after the first error dropped, as TRL's PRMTrainer trains) and the held-out test set."""
    if data == "rule":
        from tests.prm_factories import rule_examples

        pool, test = rule_examples(max(90, n // 3 + 1), seed=1), rule_examples(60, 2, seed=99)
    else:
        pool, test = demo_solutions(max(250, n // 4 + 1), 4, seed=1), demo_solutions(60, 2, seed=99)
    order = list(range(len(pool)))
    random.Random(0).shuffle(order)
    return [apply_first_error(pool[i], "drop") for i in order[:n]], test


def task_config(epochs: int, learning_rate: float) -> dict:
    """The training settings both sides of the comparison use (TrainConfig's fields)."""
    return dict(epochs=epochs, learning_rate=learning_rate, batch_size=16, max_length=128,
                val_fraction=0.0, early_stopping_patience=0, after_first_error="drop",
                warmup_ratio=0.1)


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


def run_stepwise(chosen, base, cfg, out, test) -> tuple[float, dict]:
    summary = train(chosen, base, out, cfg)
    scores = PrmScorer(out, max_length=cfg.max_length).score([(e.prompt, e.steps) for e in test])
    return summary["samples_per_second"], step_metrics([e.labels for e in test], scores)


def run_trl(chosen, base, cfg, out, test) -> tuple[float, dict]:
    """TRL 1.13 PRMTrainer, same base, separator token, head initialisation and schedule."""
    import torch
    from datasets import Dataset
    from trl.experimental.prm import PRMConfig, PRMTrainer

    torch.manual_seed(cfg.seed)
    model, tokenizer = load_base(base, cfg.separator)
    separator_id(tokenizer, cfg.separator)
    data = Dataset.from_list([{"prompt": e.prompt, "completions": e.steps,
                               "labels": [bool(v) for v in e.labels]} for e in chosen])
    trl_args = PRMConfig(
        output_dir=str(out), per_device_train_batch_size=cfg.batch_size,
        num_train_epochs=cfg.epochs, learning_rate=cfg.learning_rate,
        warmup_steps=int(-(-len(chosen) // cfg.batch_size) * cfg.epochs * cfg.warmup_ratio),
        lr_scheduler_type="linear", max_grad_norm=1.0, weight_decay=0.0, seed=cfg.seed,
        max_length=cfg.max_length, step_separator=cfg.separator, disable_dropout=False,
        save_strategy="no", report_to=[], logging_steps=10 ** 6,
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0,
        # Stepwise trains in fp32 without activation checkpointing; TRL's defaults turn
        # both on (bf16, checkpointing), so they are switched off for a like-for-like run.
        bf16=False, activation_checkpointing=False,
    )
    trainer = PRMTrainer(model=model, args=trl_args, train_dataset=data, processing_class=tokenizer)
    t0 = time.perf_counter()
    result = trainer.train()
    rate = result.metrics.get("train_samples_per_second") or \
        len(chosen) * cfg.epochs / (time.perf_counter() - t0)
    scores = trl_scores(trainer.model, tokenizer, test, cfg.separator, cfg.max_length)
    return float(rate), step_metrics([e.labels for e in test], scores)


def main() -> None:
    import statistics
    import tempfile

    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=2, help="MiniLM layers kept (6 = all)")
    parser.add_argument("--base", default="",
                        help="a base path, or demo-encoder / demo-decoder; default: MiniLM")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--data", choices=("demo", "rule"), default="demo",
                        help="demo: the arithmetic demo domain (planted errors); rule: the test "
                             "suite's learnable rule (a step is bad when it says guess/wrong/oops), "
                             "which small bases learn within a CPU run")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each trainer (seed = run number), alternating which goes first")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench_trl_"))
    base = resolve_base(args.base, args.layers, tmp)
    chosen, test = task_data(args.data, args.n)
    cfg = TrainConfig(**task_config(args.epochs, args.lr))
    print(f"{args.data} data: {len(chosen)} training solutions ({sum(len(e.labels) for e in chosen)} step labels), "
          f"{args.epochs} epochs, lr {args.lr}, base {args.base or f'MiniLM {args.layers}/6 layers'}, "
          f"CPU threads {torch.get_num_threads()}, {args.repeat} runs each, alternating order")
    runners = {"Stepwise": run_stepwise, "TRL 1.13 PRMTrainer": run_trl}
    results: dict[str, list] = {name: [] for name in runners}
    for rep in range(args.repeat):
        names = list(runners) if rep % 2 == 0 else list(reversed(runners))
        # Run r uses seed r for both trainers (initialisation, order, dropout): the medians
        # then cover seed variance, not only timing noise.
        run_cfg = replace(cfg, seed=rep)
        for name in names:
            rate, metrics = runners[name](chosen, base, run_cfg, tmp / f"{name[:3]}{rep}", test)
            results[name].append((rate, metrics))
            print(f"  run {rep + 1} {name}: {rate:.2f} samples/s, AUROC {metrics['auroc']}", flush=True)
    print("| trainer | train samples/s (median) | held-out step AUROC (median) | AUPRC (bad) |")
    med = {}
    for name, runs in results.items():
        med[name] = (statistics.median(r for r, _ in runs),
                     statistics.median(m["auroc"] for _, m in runs),
                     statistics.median(m["auprc_bad"] for _, m in runs))
        print(f"| {name} | {med[name][0]:.2f} | {med[name][1]:.4f} | {med[name][2]:.4f} |")
    sw, trl = med["Stepwise"], med["TRL 1.13 PRMTrainer"]
    # Each run's two trainers ran back to back, so their ratio sees the same machine load.
    paired = [s / t for (s, _), (t, _) in zip(results["Stepwise"], results["TRL 1.13 PRMTrainer"])]
    print(f"throughput ratio Stepwise/TRL: {sw[0] / trl[0]:.2f}x of the medians, "
          f"{statistics.median(paired):.2f}x median of the per-run ratios "
          f"({', '.join(f'{r:.2f}' for r in paired)}); AUROC difference: {sw[1] - trl[1]:+.4f}")


if __name__ == "__main__":
    main()
