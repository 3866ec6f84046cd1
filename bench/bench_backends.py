"""Generation backends side by side on CPU: ``transformers`` in the worker's process against
``openai`` over a real ``transformers serve`` on the same model, same prompts and budgets.

Rounds alternate between the two (the machine is shared and noisy); prints tokens/s of
each, their ratio (the cost of going over HTTP to a server that does not batch), and the
share of right final answers, which says both sample the same model.

    python bench/bench_backends.py [--model PATH] [--problems 24] [--n 4] [--rounds 3]
        [--continuous-batching]   # start the server with its continuous batching on
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
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--continuous-batching", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The server this bench starts listens on loopback, which the outbound policy refuses
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
    from tests.inference_server import sampling_model_dir, start_transformers_serve

    model = Path(args.model) if args.model else build_test_model()
    work = Path(tempfile.mkdtemp(prefix="bench-backends-"))
    # The bench's own copy of the model: a folder the operator allows generators to load.
    settings.STEPWISE_MODEL_DIRS = [*settings.STEPWISE_MODEL_DIRS, str(work)]
    options = ["--continuous-batching"] if args.continuous_batching else []
    proc, base_url = start_transformers_serve(sampling_model_dir(model, work / "model"),
                                              work / "serve.log", *options)
    try:
        common = {"model": str(work / "model"), "delimiter": domain.STEP_DELIMITER,
                  "temperature": 0.8, "top_p": 0.95, "max_new_tokens": args.max_new_tokens,
                  "batch_size": 16}
        local = backend_for(GeneratorSettings.from_dict(common))
        server = backend_for(GeneratorSettings.from_dict(
            {**common, "backend": "openai", "base_url": base_url,
             "concurrency": args.concurrency}))
        rng = random.Random(0)
        problems = [domain.random_problem(rng) for _ in range(args.problems)]
        prompts = [local.prompt(p.statement) for p in problems]
        per_call = max(1, 16 // args.n)

        def run(backend, seed):
            tokens, right = 0, 0
            started = time.perf_counter()
            for i in range(0, len(prompts), per_call if backend is local else len(prompts)):
                chunk = prompts[i:i + (per_call if backend is local else len(prompts))]
                rows = backend.complete(chunk, n=args.n, max_new_tokens=args.max_new_tokens,
                                        temperature=0.8, top_p=0.95, seed=seed + i)
                for problem, row in zip(problems[i:], rows):
                    for s in row:
                        tokens += s.tokens
                        right += grade_answer(extract_final_answer(s.text), str(problem.answer))
            return tokens / (time.perf_counter() - started), right / (len(prompts) * args.n)

        run(local, 0), run(server, 0)  # warm-up: first calls load and compile
        results = {"transformers": [], "openai": []}
        for r in range(args.rounds):
            for name, backend in (("transformers", local), ("openai", server)):
                results[name].append(run(backend, 100 * (r + 1)))
        import torch

        print(f"model={model} torch={torch.__version__} threads={torch.get_num_threads()} "
              f"cpus={os.cpu_count()} continuous_batching={args.continuous_batching}")
        print(f"problems={args.problems} n={args.n} max_new_tokens={args.max_new_tokens} "
              f"rounds={args.rounds} concurrency={args.concurrency}")
        medians = {}
        for name, rows in results.items():
            medians[name] = statistics.median(t for t, _ in rows)
            accuracy = statistics.mean(a for _, a in rows)
            print(f"{name:12s} {medians[name]:8.0f} tokens/s (median)  right answers {accuracy:.0%}")
        print(f"openai over transformers serve / transformers in-process: "
              f"{medians['openai'] / medians['transformers']:.2f}x")
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
