"""Auto-label accuracy against the demo domain's exact labels, by rollout count, and the
rollouts OmegaPRM-style binary search saves against per-step Monte Carlo.

One pass of ``--max-rollouts`` rollouts per step prefix; smaller counts reuse the first
n outcomes of each prefix, so every row is measured on the same samples. Runs
unchanged on CUDA.

    python bench/bench_autolabel.py [--model PATH] [--solutions 60] [--max-rollouts 16]
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


def rates(pairs):
    """(share of good steps labeled good, share of bad steps labeled bad)."""
    good = [p for p, t in pairs if t]
    bad = [not p for p, t in pairs if not t]
    return sum(good) / max(len(good), 1), sum(bad) / max(len(bad), 1)


def balanced(pairs):
    good = [p for p, t in pairs if t]
    bad = [not p for p, t in pairs if not t]
    return (sum(good) / max(len(good), 1) + sum(bad) / max(len(bad), 1)) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    models = Path(os.environ.get("STEPWISE_MODELS_DIR", REPO / "data" / "models"))
    parser.add_argument("--model", default=str(models / "demo-arith"))
    parser.add_argument("--solutions", type=int, default=60)
    parser.add_argument("--max-rollouts", type=int, default=16)
    parser.add_argument("--error-rate", type=float, default=0.6)
    parser.add_argument("--temperature", type=float, default=1.0)
    args = parser.parse_args()
    if not Path(args.model).exists():
        sys.exit(f"No model at {args.model}: run `python manage.py build_demo_model` or pass --model.")
    # Generators load only models of the folders the operator allows: this one's.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ["STEPWISE_MODEL_DIRS"] = str(Path(args.model).resolve().parent)
    import django

    django.setup()  # generation.loader imports the Run model

    from demo import domain
    from generation.autolabel.estimators import binary_search_first_error
    from generation.autolabel.rollouts import ModelRoller
    from generation.config import GeneratorSettings
    from generation.loader import pick_device

    settings = GeneratorSettings.from_dict({
        "model": str(Path(args.model).resolve()), "delimiter": domain.STEP_DELIMITER, "max_new_tokens": 48,
        "temperature": args.temperature, "top_p": 1.0, "batch_size": 64})
    rng = random.Random(0)
    items = []  # (problem, steps, exact prefix labels, per-prefix outcomes)
    started = time.perf_counter()
    rollouts_done = 0
    for i in range(args.solutions):
        problem = domain.random_problem(rng)  # the distribution the demo model was trained on
        if rng.random() < args.error_rate:
            steps, _ = domain.flawed_steps(problem, rng)
        else:
            steps = domain.correct_steps(problem)
        truth = domain.prefix_labels(domain.check_steps(problem, steps))
        roller = ModelRoller(settings, problem.statement, str(problem.answer), seed=1000 * i)
        # Prefixes ending at each operation step; the answer step is graded, not rolled out.
        outcomes = roller.outcomes([steps[:k + 1] for k in range(len(steps) - 1)], args.max_rollouts)
        rollouts_done += roller.rollouts
        items.append((problem, steps, truth, outcomes))
    elapsed = time.perf_counter() - started

    print(f"device={pick_device()} model={args.model} solutions={len(items)} "
          f"wrong={sum(not t[-1] for _p, _s, t, _o in items)} "
          f"rollouts={rollouts_done} in {elapsed:.1f}s")
    print("| rollouts/step | MC hard acc | MC hard good/bad recall | MC hard bal. acc | "
          "MC soft>=0.5 bal. acc | search acc (labeled steps) | search bal. acc | "
          "MC rollouts | search rollouts | saved |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    n = 1
    while n <= args.max_rollouts:
        hard, soft, search = [], [], []
        mc_cost = search_cost = 0
        for _problem, steps, truth, outcomes in items:
            counts = [sum(o[:n]) for o in outcomes]
            for k, c in enumerate(counts):
                hard.append((c > 0, truth[k]))
                soft.append((c / n >= 0.5, truth[k]))
            mc_cost += n * len(counts)
            # Binary search over the same cached outcomes; the full path is graded.
            answer_ok = domain.parse_answer(steps[-1]) == _problem.answer
            cache = {k + 1: c for k, c in enumerate(counts)}
            cache[len(steps)] = n if answer_ok else 0
            result = binary_search_first_error(
                steps, n, lambda prefixes, m, cache=cache: [cache[len(p)] for p in prefixes],
                solution_correct=answer_ok)
            search_cost += result.rollouts
            first = result.first_error
            for k in range(len(steps) - 1):
                if first is None or k <= first:
                    search.append((first is None or k < first, truth[k]))
        acc = sum(p == t for p, t in hard) / len(hard)
        sacc = sum(p == t for p, t in search) / len(search)
        tpr, tnr = rates(hard)
        print(f"| {n} | {acc:.3f} | {tpr:.2f}/{tnr:.2f} | {balanced(hard):.3f} | {balanced(soft):.3f} | {sacc:.3f} | "
              f"{balanced(search):.3f} | {mc_cost} | {search_cost} | "
              f"{1 - search_cost / mc_cost:.0%} |")
        n *= 2


if __name__ == "__main__":
    main()
