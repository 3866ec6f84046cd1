"""Scoring a long trace under the window policy (training/windows.py) on CPU: steps scored per
second for one 362-step trace, against the same number of steps in short solutions that each
fit the context, in-process (``PrmScorer``), rounds interleaved (the machine is shared).

The PRM is the demo test model (141 positions) as a token classifier with the separator added
and the policy in its config; its head is untrained, which costs the same forward passes as a
trained one. Also printed: the windows and tokens each side feeds the model, the time to cut
the trace into windows alone (tokenizing), and what ``truncate`` scores of the trace.

    python bench/bench_long_inputs.py [--steps 362] [--short-steps 6] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def trace(rng: random.Random, n: int) -> list[str]:
    total, steps = rng.randint(1, 9), []
    for _ in range(n):
        add = rng.randint(1, 9)
        steps.append(f"{total} + {add} = {total + add}")
        total += add
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=362)
    parser.add_argument("--short-steps", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    import torch

    from demo.testing import build_test_model
    from training.scoring import PrmScorer
    from training.trainer import load_base
    from training.windows import TRUNCATE, LongInputPolicy

    torch.set_num_threads(1)
    rng = random.Random(0)
    prompt = "problem 7 solve ?"
    long_item = [(prompt, trace(rng, args.steps))]
    n_short = -(-args.steps // args.short_steps)
    short_items = [(prompt, trace(rng, args.short_steps)) for _ in range(n_short)]
    with tempfile.TemporaryDirectory() as tmp:
        model, tokenizer = load_base(str(build_test_model()))
        model.config.long_inputs = LongInputPolicy().as_dict()
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        scorer = PrmScorer(tmp)
        windows = scorer._encode(*long_item[0])
        short_windows = sum(len(scorer._encode(p, s)) for p, s in short_items)
        print(f"model context {scorer.max_length} tokens; policy {scorer.policy.as_dict()}")
        print(f"long trace: {args.steps} steps, {len(windows)} windows, "
              f"{scorer.token_counts(long_item)[0]} tokens fed")
        print(f"short solutions: {n_short} x {args.short_steps} steps, {short_windows} windows, "
              f"{sum(scorer.token_counts(short_items))} tokens fed")
        scorer.score(short_items)  # warm up
        times: dict[str, list[float]] = {"long": [], "short": [], "cut": []}
        for _ in range(args.rounds):
            for name, items in (("long", long_item), ("short", short_items)):
                start = time.perf_counter()
                scores = scorer.score(items)
                times[name].append(time.perf_counter() - start)
                assert all(None not in row for row in scores)
            start = time.perf_counter()
            scorer._encode(*long_item[0])
            times["cut"].append(time.perf_counter() - start)
        scorer.policy = TRUNCATE
        truncated = scorer.score(long_item)[0]
    long_rate = args.steps / statistics.median(times["long"])
    short_rate = n_short * args.short_steps / statistics.median(times["short"])
    print(f"long trace (window):  {long_rate:8.1f} steps/s  median of {args.rounds}")
    print(f"short solutions:      {short_rate:8.1f} steps/s")
    print(f"ratio long/short:     {long_rate / short_rate:8.2f}")
    print(f"cutting into windows: {statistics.median(times['cut']) * 1000:8.1f} ms per trace")
    print(f"truncate scores {sum(v is not None for v in truncated)} of {args.steps} steps")


if __name__ == "__main__":
    main()
