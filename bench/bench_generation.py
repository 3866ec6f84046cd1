"""Generation throughput: batched ``generate`` vs a naive one-sequence-at-a-time loop.

Same model, same prompts, same budgets, same process. Prints tokens/s for both and
their ratio. Runs unchanged on CUDA (the loader picks the device).

    python bench/bench_generation.py [--model PATH] [--problems 32] [--n 4]

The default model is the demo model (``python manage.py build_demo_model``); any
local causal LM path works (``--delimiter`` and the prompt format adapt to it).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def default_model() -> str:
    models = Path(os.environ.get("STEPWISE_MODELS_DIR", REPO / "data" / "models"))
    return str(models / "demo-arith")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=default_model())
    parser.add_argument("--problems", type=int, default=32)
    parser.add_argument("--n", type=int, default=4, help="solutions per problem")
    parser.add_argument("--batch", type=int, default=128, help="sequences per generate call")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--temperature", type=float, default=0.8)
    args = parser.parse_args()
    if not Path(args.model).exists():
        sys.exit(f"No model at {args.model}: run `python manage.py build_demo_model` or pass --model.")

    import torch

    from demo import domain
    from generation.loader import load_model, pick_device
    from generation.prompts import build_prompt
    from generation.sampling import sample

    model, tokenizer = load_model(args.model)
    rng = random.Random(0)
    prompts = [build_prompt(tokenizer, domain.random_problem(rng).statement, (), "\n")
               for _ in range(args.problems)]
    common = dict(max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_p=0.95)

    def sync():
        if torch.cuda.is_available():
            torch.cuda.synchronize()

    sample(model, tokenizer, prompts[:2], n=2, seed=0, **common)  # warm-up

    per_call = max(1, args.batch // args.n)
    sync()
    t0 = time.perf_counter()
    batched_tokens = 0
    for i in range(0, len(prompts), per_call):
        for row in sample(model, tokenizer, prompts[i:i + per_call], n=args.n, seed=i, **common):
            batched_tokens += sum(s.tokens for s in row)
    sync()
    batched_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    naive_tokens = 0
    for i, prompt in enumerate(prompts):
        for j in range(args.n):
            (row,) = sample(model, tokenizer, [prompt], n=1, seed=i * 100 + j, **common)
            naive_tokens += row[0].tokens
    sync()
    naive_s = time.perf_counter() - t0

    batched_tps = batched_tokens / batched_s
    naive_tps = naive_tokens / naive_s
    params = sum(p.numel() for p in model.parameters())
    print(f"device={pick_device()} model={args.model} params={params} torch={torch.__version__} "
          f"threads={torch.get_num_threads()}")
    print(f"sequences={len(prompts) * args.n} max_new_tokens={args.max_new_tokens} "
          f"batch={per_call}x{args.n}")
    print(f"batched: {batched_tokens} tokens in {batched_s:.2f}s = {batched_tps:.0f} tokens/s")
    print(f"naive:   {naive_tokens} tokens in {naive_s:.2f}s = {naive_tps:.0f} tokens/s")
    print(f"speedup: {batched_tps / naive_tps:.1f}x")


if __name__ == "__main__":
    main()
