"""Learning-curve probe for the demo domain: fine-tune a base as a token-classification PRM
on N labeled solutions and print the training loss and held-out step AUROC after every epoch.

A research probe beside the Stepwise trainer (training/trainer.py): its own short loop, so
that it can evaluate on the held-out set after every epoch; the optimizer's parameter groups
(``head_learning_rate``) are the trainer's.
Same data, encoding and metrics as bench/bench_prm.py; results in docs/performance.md.
It needs only torch and transformers (no Django), and uses a GPU when there is one.

    python bench/prm_learning_curve.py --base demo-encoder --n 16000 --epochs 6 \\
        --lr 3e-4 --head-lr 1e-3 --batch-size 32
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from bench_bases import resolve_base  # noqa: E402

from demo.labeled import demo_solutions, training_set  # noqa: E402
from training.data import DEFAULT_SEPARATOR, collate, encode, separator_id  # noqa: E402
from training.evaluate import step_metrics  # noqa: E402
from training.trainer import TrainConfig, load_base, parameter_groups, predicts_left_to_right  # noqa: E402


def held_out_auroc(model, tokenizer, encoded, test) -> float:
    import torch

    model.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(encoded), 64):
            batch = encoded[start:start + 64]
            inputs = collate(batch, tokenizer.pad_token_id)
            probs = model(input_ids=inputs["input_ids"].to(model.device),
                          attention_mask=inputs["attention_mask"].to(model.device)
                          ).logits.float().softmax(-1)[..., 1].cpu()
            for row, item in enumerate(batch):
                kept = [float(probs[row, pos]) for pos in item["positions"]]
                scores.append(kept + [None] * (len(test[start + row].steps) - len(kept)))
    model.train()
    return step_metrics([e.labels for e in test], scores)["auroc"]


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="", help="a path, demo-encoder or demo-decoder; default MiniLM")
    parser.add_argument("--layers", type=int, default=2, help="MiniLM layers kept (6 = all)")
    parser.add_argument("--n", type=int, default=1600, help="labeled training solutions")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-4, help="learning rate of the base")
    parser.add_argument("--head-lr", type=float, default=None, help="of the new head (default: --lr)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--pretrain-steps", type=int, default=None,
                        help="LM pre-training steps of a demo base (default: the standard build)")
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop after the epoch that passes this much training time")
    parser.add_argument("--json", default="", help="also write the per-epoch results here")
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    base = resolve_base(args.base, args.layers, Path(tempfile.mkdtemp(prefix="prm_curve_")),
                        args.pretrain_steps)
    torch.manual_seed(0)
    train, test = training_set(args.n), demo_solutions(100, 2, seed=99)
    model, tokenizer = load_base(base, DEFAULT_SEPARATOR)
    model.to(device)
    sep = separator_id(tokenizer, DEFAULT_SEPARATOR)
    keep_tail = not predicts_left_to_right(model)  # as the trainer does

    def enc(ex):
        return encode(tokenizer, ex.prompt, ex.steps, ex.labels, separator=DEFAULT_SEPARATOR,
                      sep_id=sep, max_length=128, keep_tail=keep_tail)

    train_enc, test_enc = [enc(e) for e in train], [enc(e) for e in test]
    groups = parameter_groups(model, TrainConfig(learning_rate=args.lr,
                                                 head_learning_rate=args.head_lr))
    optimizer = torch.optim.AdamW(groups, fused=device == "cuda")
    total = math.ceil(len(train_enc) / args.batch_size) * args.epochs
    warmup = max(1, int(0.05 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, s / warmup) * max(0.0, 1 - s / total))
    print(f"base {args.base or 'MiniLM'} ({base}), {args.n} solutions, {args.epochs} epochs "
          f"({total} steps), batch {args.batch_size}, lr {args.lr}, head lr "
          f"{args.head_lr or args.lr}, on {device}", flush=True)
    results = {"args": vars(args), "base": base, "device": device, "epochs": []}
    model.train()
    started = time.perf_counter()
    for epoch in range(args.epochs):
        order = list(range(len(train_enc)))
        random.Random(epoch).shuffle(order)
        running, batches = 0.0, 0
        for i in range(0, len(order), args.batch_size):
            inputs = collate([train_enc[k] for k in order[i:i + args.batch_size]], tokenizer.pad_token_id)
            loss = model(**{k: v.to(device) for k, v in inputs.items()}).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running, batches = running + float(loss.detach()), batches + 1
        auroc = held_out_auroc(model, tokenizer, test_enc, test)
        elapsed = time.perf_counter() - started
        print(f"epoch {epoch + 1}: train loss {running / batches:.4f}, held-out step AUROC "
              f"{auroc:.4f} ({elapsed:.0f}s)", flush=True)
        results["epochs"].append({"epoch": epoch + 1, "train_loss": round(running / batches, 4),
                                  "auroc": round(auroc, 4), "seconds": round(elapsed, 1)})
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=1))
        if args.max_minutes and elapsed > 60 * args.max_minutes:
            print(f"stopping: past {args.max_minutes} minutes", flush=True)
            break


if __name__ == "__main__":
    main()
