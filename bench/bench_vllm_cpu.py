"""vLLM's CPU server against transformers in the process, on the demo generator.

1. Generation: the same prompts and budgets through the ``transformers`` backend in the
   process (batched, 16 sequences a call, as the worker does) and through the ``openai``
   backend against vLLM's CPU server (one request per prompt carrying ``n``); rounds
   alternate, medians after a warm-up; prints tokens/s of each and their ratio.
2. Monte Carlo rollouts from shared prefixes (every step prefix of a few solutions, ``n``
   rollouts each) against the server with prefix caching on, then against a second start
   with ``--no-enable-prefix-caching``; prints tokens/s, wall time and vLLM's own prefix
   cache hit rate (its /metrics).

    python bench/bench_vllm_cpu.py [--problems 24] [--n 4] [--rounds 3] [--rollout-problems 8]
        [--rollouts 8] [--block-size 32]   # needs .venv-vllm (scripts/setup_vllm_cpu.sh)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="default: the test demo model")
    parser.add_argument("--problems", type=int, default=24)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rollout-problems", type=int, default=8)
    parser.add_argument("--rollouts", type=int, default=8)
    parser.add_argument("--block-size", type=int, default=32, help="KV cache block (CPU default: 128)")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The servers this bench starts listen on loopback, which the outbound policy refuses
    # unless the operator lists it.
    os.environ.setdefault("STEPWISE_OUTBOUND_HOSTS", "127.0.0.1")
    import django

    django.setup()
    from django.conf import settings

    from annotate.grading import extract_final_answer, grade_answer
    from demo import domain
    from demo.testing import build_test_model
    from generation.backends import backend_for
    from generation.config import GeneratorSettings
    from generation.sampling import split_steps
    from tests.vllm_server import prefix_cache_counters, start_vllm_server, stop_server

    model = Path(args.model) if args.model else build_test_model()
    settings.STEPWISE_MODEL_DIRS = [*settings.STEPWISE_MODEL_DIRS, str(model.parent)]
    work = Path(tempfile.mkdtemp(prefix="bench-vllm-"))
    common = {"model": str(model), "delimiter": domain.STEP_DELIMITER, "temperature": 0.8,
              "top_p": 0.95, "max_new_tokens": args.max_new_tokens, "batch_size": 16}
    local = backend_for(GeneratorSettings.from_dict(common))
    rng = random.Random(0)
    problems = [domain.random_problem(rng) for _ in range(args.problems)]
    prompts = [local.prompt(p.statement) for p in problems]
    per_call = max(1, 16 // args.n)

    # Rollout prompts: every step prefix of one greedy solution per problem.
    rollout_problems = problems[:args.rollout_problems]
    greedy = local.complete([local.prompt(p.statement) for p in rollout_problems], n=1,
                            max_new_tokens=args.max_new_tokens, temperature=0, top_p=1.0)
    rollout_prompts = []
    for problem, (sample,) in zip(rollout_problems, greedy):
        steps, _ = split_steps(sample.text, domain.STEP_DELIMITER, max_steps=20)
        rollout_prompts += [local.prompt(problem.statement, steps[:k]) for k in range(len(steps))]

    def generate(backend, seed):
        tokens, right = 0, 0
        step = per_call if backend is local else len(prompts)
        started = time.perf_counter()
        for i in range(0, len(prompts), step):
            rows = backend.complete(prompts[i:i + step], n=args.n, max_new_tokens=args.max_new_tokens,
                                    temperature=0.8, top_p=0.95, seed=seed + i)
            for problem, row in zip(problems[i:], rows):
                for s in row:
                    tokens += s.tokens
                    right += grade_answer(extract_final_answer(s.text), str(problem.answer))
        return tokens / (time.perf_counter() - started), right / (len(prompts) * args.n)

    def rollouts(server, base_url, seed):
        hits0, queries0 = prefix_cache_counters(base_url)
        started = time.perf_counter()
        rows = server.complete(rollout_prompts, n=args.rollouts, max_new_tokens=args.max_new_tokens,
                               temperature=1.0, top_p=1.0, seed=seed)
        seconds = time.perf_counter() - started
        hits, queries = prefix_cache_counters(base_url)
        tokens = sum(s.tokens for row in rows for s in row)
        return tokens / seconds, seconds, (hits - hits0) / max(queries - queries0, 1)

    generation = {"transformers": [], "vllm": []}
    rollout_results, starts = {}, {}
    for caching in (True, False):
        started = time.perf_counter()
        proc, base_url = start_vllm_server(model, work / f"vllm-{caching}.log", prefix_caching=caching,
                                           block_size=args.block_size)
        starts[caching] = time.perf_counter() - started
        try:
            server = backend_for(GeneratorSettings.from_dict(
                {**common, "backend": "openai", "base_url": base_url, "concurrency": args.concurrency}))
            rollouts(server, base_url, 0)  # warm-up
            if caching:
                generate(local, 0), generate(server, 0)  # warm-up
                for r in range(args.rounds):
                    for name, backend in (("transformers", local), ("vllm", server)):
                        generation[name].append(generate(backend, 100 * (r + 1)))
            rollout_results[caching] = [rollouts(server, base_url, 100 * (r + 1)) for r in range(args.rounds)]
        finally:
            stop_server(proc)

    import torch

    print(f"model={model} torch={torch.__version__} cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f}")
    print(f"problems={args.problems} n={args.n} max_new_tokens={args.max_new_tokens} rounds={args.rounds} "
          f"concurrency={args.concurrency} block_size={args.block_size}; server starts {starts[True]:.0f}s / {starts[False]:.0f}s")
    medians = {}
    for name, rows in generation.items():
        medians[name] = statistics.median(t for t, _ in rows)
        print(f"generation {name:12s} {medians[name]:8.0f} tokens/s (median)  "
              f"right answers {statistics.mean(a for _, a in rows):.0%}")
    print(f"generation vLLM CPU server / transformers in-process: "
          f"{medians['vllm'] / medians['transformers']:.2f}x")
    print(f"rollouts: {len(rollout_prompts)} step prefixes of {len(rollout_problems)} solutions "
          f"x {args.rollouts} rollouts")
    for caching, rows in rollout_results.items():
        label = "prefix caching on " if caching else "prefix caching off"
        print(f"rollouts {label} {statistics.median(t for t, _, _ in rows):8.0f} tokens/s "
              f"{statistics.median(s for _, s, _ in rows):6.2f} s (medians)  "
              f"prefix cache hit rate {statistics.mean(h for _, _, h in rows):.0%}")
    on = statistics.median(t for t, _, _ in rollout_results[True])
    off = statistics.median(t for t, _, _ in rollout_results[False])
    print(f"rollouts prefix caching on / off: {on / off:.2f}x")


if __name__ == "__main__":
    main()
