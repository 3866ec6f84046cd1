"""Train the demo domain's PRM past its plateau with the Stepwise trainer, for the search and
RL benchmarks (``bench_search.py --prm PATH``, ``bench_rl.py --prm PATH``).

The recipe is the one docs/performance.md, "PRM on a GPU", found to reach held-out step
AUROC 0.9998: the demo encoder pre-trained for 4,000 LM steps, 64,000 labeled solutions,
batch 128, LR 5e-4 for the body and 2e-3 for the head, 20 epochs (about 10,000 optimizer
steps). On a GPU that is minutes; on one CPU core about an hour and a half. The output is a
plain ``save_pretrained`` PRM with a model card, cached under data/bench-models/ and
resumed from its last epoch checkpoint if the run is stopped.

    python bench/train_demo_prm.py                 # prints the PRM's path last
    python bench/train_demo_prm.py --quick         # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from bench_bases import resolve_base  # noqa: E402

from demo.labeled import demo_solutions, training_set  # noqa: E402
from training.evaluate import evaluate_examples  # noqa: E402
from training.scoring import PrmScorer  # noqa: E402
from training.trainer import Hooks, TrainConfig, train, write_model_card  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TEST_SEED = 202  # bench_search's held-out demo solutions


class PrintHooks(Hooks):
    def __init__(self):
        self.started = time.perf_counter()

    def log(self, message: str) -> None:
        print(f"  [{time.perf_counter() - self.started:6.0f}s] {message}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="demo-encoder",
                        help="demo-encoder, demo-decoder, or a path (a PRM to train further)")
    parser.add_argument("--pretrain-steps", type=int, default=4000)
    parser.add_argument("--n", type=int, default=64000, help="labeled training solutions")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--out", default="", help="default: data/bench-models/demo-prm-<recipe>")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.pretrain_steps, args.n, args.epochs = 20, 400, 1

    base_name = args.base + str(args.pretrain_steps) if args.base in ("demo-encoder", "demo-decoder") \
        else Path(args.base).name
    recipe = f"{base_name}-n{args.n}-e{args.epochs}-b{args.batch_size}-lr{args.lr:g}-{args.head_lr:g}" \
             + (f"-wd{args.weight_decay:g}" if args.weight_decay else "")
    out = Path(args.out or ROOT / "data" / "bench-models" / f"demo-prm-{recipe}")
    if (out / "model.safetensors").exists() and (out / "model_card.json").exists():
        print(f"already trained: {out}")
        print(out)
        return

    base = resolve_base(args.base, 0, out.parent, args.pretrain_steps)
    examples = training_set(args.n)
    cfg = TrainConfig(epochs=args.epochs, learning_rate=args.lr, head_learning_rate=args.head_lr,
                      batch_size=args.batch_size, max_length=128, early_stopping_patience=0,
                      val_fraction=0.05, warmup_ratio=0.05, weight_decay=args.weight_decay)
    print(f"training {recipe}: {len(examples)} solutions on {base}", flush=True)
    started = time.perf_counter()
    summary = train(examples, base, out, cfg, hooks=PrintHooks())
    seconds = time.perf_counter() - started
    metrics = evaluate_examples(PrmScorer(out, max_length=128), demo_solutions(100, 2, seed=TEST_SEED))
    card = {"base_model": base, "recipe": recipe, "train_seconds": round(seconds, 1),
            "steps": summary["steps"], "held_out_step_auroc": round(metrics["step"]["auroc"], 4),
            "config": summary["config"]}
    write_model_card(out, card)
    print(json.dumps({k: v for k, v in card.items() if k != "config"}), flush=True)
    print(out)


if __name__ == "__main__":
    main()
