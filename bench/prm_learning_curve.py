"""Learning-curve probe for the demo domain: fine-tune a base as a token-classification PRM
on N labeled solutions and print the training loss and held-out step AUROC after every epoch.

A research probe, not the Stepwise trainer (training/trainer.py): it has its own short loop
so that it can evaluate per epoch and give the new classifier head its own learning rate.
Same data, encoding and metrics as bench/bench_prm.py; results in docs/performance.md.

    python bench/prm_learning_curve.py --base demo-encoder --n 16000 --epochs 6 \\
        --lr 3e-4 --head-lr 1e-3 --batch-size 32
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_prm import demo_solutions, resolve_base  # noqa: E402  (sets up Django, offline hub)

from training.data import DEFAULT_SEPARATOR, collate, encode, separator_id  # noqa: E402
from training.evaluate import step_metrics  # noqa: E402
from training.trainer import load_base  # noqa: E402


def held_out_auroc(model, tokenizer, encoded, test) -> float:
    import torch

    model.eval()
    scores = []
    with torch.no_grad():
        for start in range(0, len(encoded), 64):
            batch = encoded[start:start + 64]
            inputs = collate(batch, tokenizer.pad_token_id)
            probs = model(input_ids=inputs["input_ids"],
                          attention_mask=inputs["attention_mask"]).logits.softmax(-1)[..., 1]
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
    args = parser.parse_args()

    torch.manual_seed(0)
    base = resolve_base(args.base, args.layers, Path(tempfile.mkdtemp(prefix="prm_curve_")))
    pool = demo_solutions(max(250, args.n // 4 + 1), 4, seed=1)
    random.Random(0).shuffle(pool)
    train, test = pool[:args.n], demo_solutions(100, 2, seed=99)
    model, tokenizer = load_base(base, DEFAULT_SEPARATOR)
    sep = separator_id(tokenizer, DEFAULT_SEPARATOR)

    def enc(ex):
        return encode(tokenizer, ex.prompt, ex.steps, ex.labels, separator=DEFAULT_SEPARATOR,
                      sep_id=sep, max_length=128)

    train_enc, test_enc = [enc(e) for e in train], [enc(e) for e in test]
    head = [p for name, p in model.named_parameters() if name.startswith("classifier")]
    body = [p for name, p in model.named_parameters() if not name.startswith("classifier")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": args.lr},
                                   {"params": head, "lr": args.head_lr or args.lr}])
    total = math.ceil(len(train_enc) / args.batch_size) * args.epochs
    warmup = max(1, int(0.05 * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, s / warmup) * max(0.0, 1 - s / total))
    print(f"base {args.base or 'MiniLM'}, {args.n} solutions, {args.epochs} epochs ({total} steps), "
          f"lr {args.lr}, head lr {args.head_lr or args.lr}", flush=True)
    model.train()
    started = time.perf_counter()
    for epoch in range(args.epochs):
        order = list(range(len(train_enc)))
        random.Random(epoch).shuffle(order)
        running, batches = 0.0, 0
        for i in range(0, len(order), args.batch_size):
            inputs = collate([train_enc[k] for k in order[i:i + args.batch_size]], tokenizer.pad_token_id)
            loss = model(**inputs).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            running, batches = running + float(loss.detach()), batches + 1
        auroc = held_out_auroc(model, tokenizer, test_enc, test)
        print(f"epoch {epoch + 1}: train loss {running / batches:.4f}, held-out step AUROC "
              f"{auroc:.4f} ({time.perf_counter() - started:.0f}s)", flush=True)


if __name__ == "__main__":
    main()
