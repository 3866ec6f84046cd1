"""The PRM trainer on transformers' Trainer against the plain PyTorch loop it replaced, on
bench_trl.py's tasks: same data, base, seed, schedule and batch, run back to back.

The baseline loop is read from git (``--baseline-rev``, the last commit with the hand-written
loop) and run as it was; nothing of it stays in ``training/``. Throughput is examples x epochs
over the wall time of the whole ``train()`` call (loading, checkpoints and saving included, the
same for both); AUROC is on the same held-out whole solutions, scored by ``PrmScorer``.

    python bench/bench_trainer.py --data rule --n 300 --epochs 5 --repeat 3
    python bench/bench_trainer.py --n 160 --epochs 5 --layers 2 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_bases import resolve_base  # noqa: E402
from bench_trl import task_config, task_data  # noqa: E402  (the same tasks as against TRL)

from training.evaluate import step_metrics  # noqa: E402
from training.scoring import PrmScorer  # noqa: E402
from training.trainer import TrainConfig, train  # noqa: E402

BASELINE_REV = "967216b"  # the hand-written fp32 loop


def baseline_module(rev: str) -> types.ModuleType:
    source = subprocess.run(["git", "show", f"{rev}:training/trainer.py"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout
    module = types.ModuleType("baseline_trainer")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source.replace("from .data import", "from training.data import"),
                 f"{rev}:training/trainer.py", "exec"), module.__dict__)
    return module


def run(train_fn, config, chosen, base, out, test, epochs) -> tuple[float, dict]:
    t0 = time.perf_counter()
    summary = train_fn(chosen, base, out, config)
    rate = len(chosen) * epochs / (time.perf_counter() - t0)
    scores = PrmScorer(out, max_length=config.max_length).score([(e.prompt, e.steps) for e in test])
    metrics = step_metrics([e.labels for e in test], scores)
    # Each trainer's own figure: the old loop timed its batches only, the Trainer its whole
    # train() loop (epoch-end checkpoints included).
    metrics["own_rate"] = summary["samples_per_second"]
    return rate, metrics


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=160)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--base", default="")
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--data", choices=("demo", "rule"), default="demo")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-rev", default=BASELINE_REV)
    args = parser.parse_args()

    old = baseline_module(args.baseline_rev)
    tmp = Path(tempfile.mkdtemp(prefix="bench_trainer_"))
    base = resolve_base(args.base, args.layers, tmp)
    chosen, test = task_data(args.data, args.n)
    values = task_config(args.epochs, args.lr)
    print(f"{args.data} data: {len(chosen)} solutions, {args.epochs} epochs, lr {args.lr}, base "
          f"{args.base or f'MiniLM {args.layers}/6 layers'}, CPU threads {torch.get_num_threads()}, "
          f"baseline {args.baseline_rev}, {args.repeat} runs each, alternating order")
    runners = {"Trainer": (train, TrainConfig(**values)),
               "old loop": (old.train, old.TrainConfig(**values))}
    results: dict[str, list] = {name: [] for name in runners}
    for rep in range(args.repeat):
        names = list(runners) if rep % 2 == 0 else list(reversed(runners))
        for name in names:
            fn, config = runners[name]
            rate, metrics = run(fn, replace(config, seed=rep), chosen, base,
                                tmp / f"{name[:3]}{rep}", test, args.epochs)
            results[name].append((rate, metrics))
            print(f"  run {rep + 1} {name}: {rate:.2f} samples/s (its own figure "
                  f"{metrics['own_rate']}), AUROC {metrics['auroc']}", flush=True)
    print("| trainer | samples/s (median) | held-out step AUROC (median) |")
    med = {}
    for name, runs in results.items():
        med[name] = (statistics.median(r for r, _ in runs),
                     statistics.median(m["auroc"] for _, m in runs))
        print(f"| {name} | {med[name][0]:.2f} | {med[name][1]:.4f} |")
    paired = [a / b for (a, _), (b, _) in zip(results["Trainer"], results["old loop"])]
    print(f"throughput ratio Trainer/old loop: {med['Trainer'][0] / med['old loop'][0]:.2f}x of "
          f"the medians, {statistics.median(paired):.2f}x median per-run "
          f"({', '.join(f'{r:.2f}' for r in paired)}); AUROC difference "
          f"{med['Trainer'][1] - med['old loop'][1]:+.4f}")


if __name__ == "__main__":
    main()
