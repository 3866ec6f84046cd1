"""Test-time search benchmark: accuracy against budget per strategy, search throughput, and
best-of-N against majority voting and pass@N on real sampled MATH solutions.

1. Demo domain: the demo generator (through ``generation.backends``, as a search Run uses it)
   on fresh demo problems, with a PRM trained here on labeled demo solutions (the Stepwise
   trainer) and, as a reference, the domain's exact step checker standing in for a perfect
   PRM. Every strategy at N = 1, 2, 4, ... ``--max-budget``; answers graded by
   ``annotate.grading``. Beam search is also compared with majority voting at an equal
   generated-token budget (majority's accuracy interpolated on log tokens).
2. Throughput at a fixed budget: problems/minute of beam search and of best-of-N (sampling N
   solutions and scoring them, the baseline), interleaved on the same problems.
3. MATH: ``../shared/data/sampled`` (10 problems x 15 solutions from a real model, per file).
   A PRM trained on one file's Monte Carlo hard labels scores the other file's solutions.

    python bench/bench_search.py                # ~10 min on 2 busy cores
    python bench/bench_search.py --quick        # a smoke run
    python bench/bench_search.py --prm PATH     # use a trained PRM instead of training one

Runs unchanged on a GPU machine (generation and the PRM use CUDA when present).
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
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "stepwise.settings")
os.environ.setdefault("SECRET_KEY", "bench-only")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
# The generator is the checkout's test model: a folder the operator allows generators to load.
os.environ.setdefault("STEPWISE_MODEL_DIRS", str(Path(__file__).resolve().parent.parent / "data" / "test-models"))

import django  # noqa: E402

django.setup()

from bench_bases import resolve_base  # noqa: E402

from annotate.grading import grade_answer  # noqa: E402
from demo import domain  # noqa: E402
from demo.labeled import demo_solutions, first_error_labels  # noqa: E402
from demo.testing import build_test_model  # noqa: E402
from generation.backends import backend_for  # noqa: E402
from generation.config import GeneratorSettings  # noqa: E402
from search.strategies import (  # noqa: E402
    STRATEGIES,
    BeamConfig,
    SearchSettings,
    beam_search,
    best_of_n,
    budgets,
    majority,
    sample_solutions,
    score_paths,
    sweep,
    weighted_majority,
)
from search.strategies import Path as SearchPath  # noqa: E402
from training.evaluate import evaluate_examples, step_metrics  # noqa: E402
from training.scoring import PrmScorer  # noqa: E402
from training.trainer import TrainConfig, train  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "sampled"
MATH_FILES = ("qwen2.5-7b_math_n15_mc_labels.jsonl", "llama3-8b_math_n15_mc_labels.jsonl")


class CheckerScorer:
    """The demo domain's exact checker as a PRM: P(good) 0.95 while the path is right, 0.05
    from the first wrong step. Tokens are counted with a real PRM's tokenizer, so its
    compute reads like the trained PRM's."""

    def __init__(self, problems: dict[str, domain.ArithProblem], tokens_from: PrmScorer):
        self.problems, self.tokens_from = problems, tokens_from

    def score(self, items):
        out = []
        for statement, steps in items:
            ok = domain.prefix_labels(domain.check_steps(self.problems[statement], steps))
            out.append([0.95 if v else 0.05 for v in ok])
        return out

    def token_counts(self, items):
        return self.tokens_from.token_counts(items)


def train_demo_prm(args, tmp: Path) -> tuple[str, dict]:
    base = resolve_base(args.base, args.layers, tmp)
    examples = demo_solutions(args.train_problems, 2, seed=101)
    cfg = TrainConfig(epochs=args.epochs, learning_rate=args.lr, head_learning_rate=args.head_lr,
                      batch_size=32, max_length=128, early_stopping_patience=0, val_fraction=0.1)
    start = time.perf_counter()
    train(examples, base, tmp / "prm", cfg)
    scorer = PrmScorer(tmp / "prm", max_length=128)
    metrics = evaluate_examples(scorer, demo_solutions(100, 2, seed=202))
    return str(tmp / "prm"), {"auroc": metrics["step"]["auroc"], "solutions": len(examples),
                              "train_seconds": round(time.perf_counter() - start, 1)}


def equal_token_majority(points: dict, tokens: float) -> float:
    """Majority voting's accuracy at ``tokens`` generated tokens, interpolated on log tokens
    (clamped to its end points)."""
    line = sorted((p["tokens"], p["accuracy"]) for (s, _), p in points.items() if s == "majority")
    if tokens <= line[0][0]:
        return line[0][1]
    for (t0, a0), (t1, a1) in zip(line, line[1:]):
        if t0 <= tokens <= t1:
            w = (math.log(tokens) - math.log(t0)) / ((math.log(t1) - math.log(t0)) or 1.0)
            return a0 + w * (a1 - a0)
    return line[-1][1]


def on_policy_auroc(gen, scorer, problems, settings, n: int = 4) -> dict:
    """The PRM's step AUROC on the generator's own samples (what search ranks), labeled by
    the exact checker up to the first error and masked after it, as in training."""
    labels, scores = [], []
    for i, problem in enumerate(problems):
        paths = [p for p in sample_solutions(gen, problem.statement, n, settings, seed=7000 + i)
                 if p.steps]
        score_paths(scorer, problem.statement, paths)
        for path in paths:
            labels.append(first_error_labels(problem, path.steps))
            scores.append(path.scores)
    bad = sum(row.count(0) for row in labels)
    return {"auroc": round(step_metrics(labels, scores)["auroc"], 4), "paths": len(labels),
            "bad_steps": bad, "steps": sum(len([v for v in row if v is not None]) for row in labels)}


def demo_sweep(gen, scorer, problems, settings, max_budget: int) -> dict:
    hits, gen_tokens, prm_tokens = defaultdict(int), defaultdict(int), defaultdict(int)
    for i, problem in enumerate(problems):
        outcomes, _ = sweep(gen, scorer, problem.statement, settings, max_budget, seed=1000 + i)
        for o in outcomes:
            key = (o.strategy, o.budget)
            hits[key] += grade_answer(o.answer, str(problem.answer))
            gen_tokens[key] += o.generated_tokens
            prm_tokens[key] += o.prm_tokens
    n = len(problems)
    return {key: {"accuracy": hits[key] / n, "tokens": gen_tokens[key] / n,
                  "prm_tokens": prm_tokens[key] / n} for key in hits}


def print_sweep(title: str, points: dict) -> None:
    print(f"\n{title}")
    ns = sorted({b for _, b in points})
    print(f"{'strategy':<20}" + "".join(f"{'N=' + str(n):>16}" for n in ns))
    for strategy in STRATEGIES:
        cells = []
        for n in ns:
            p = points.get((strategy, n))
            cells.append(f"{p['accuracy']:.3f} ({p['tokens']:.0f}t)" if p else "")
        if any(cells):
            print(f"{strategy:<20}" + "".join(f"{c:>16}" for c in cells))
    print("beam vs majority at equal generated tokens:")
    for n in ns:
        p = points.get(("beam", n))
        if p:
            m = equal_token_majority(points, p["tokens"])
            print(f"  N={n}: beam {p['accuracy']:.3f} at {p['tokens']:.0f} tokens, majority "
                  f"{m:.3f} -> {100 * (p['accuracy'] - m):+.1f} points")
    over = [n for n in ns if n >= 4 and ("best_of_n_min", n) in points]
    margins = [points[("best_of_n_min", n)]["accuracy"] - points[("majority", n)]["accuracy"]
               for n in over]
    print("best-of-N (min) minus majority at N >= 4: " + ", ".join(
        f"N={n} {100 * m:+.1f}" for n, m in zip(over, margins)))


def throughput(gen, scorer, problems, settings, n: int) -> None:
    """Beam search and best-of-N at budget ``n``, interleaved problem by problem."""
    spent = {"best_of_n": 0.0, "beam": 0.0}
    for i, problem in enumerate(problems):
        t = time.perf_counter()
        paths = sample_solutions(gen, problem.statement, n, settings, seed=5000 + i)
        score_paths(scorer, problem.statement, paths)
        best_of_n(paths, n)
        spent["best_of_n"] += time.perf_counter() - t
        t = time.perf_counter()
        beam_search(gen, scorer, problem.statement, settings,
                    BeamConfig.for_budget(n, settings.max_steps), seed=5000 + i)
        spent["beam"] += time.perf_counter() - t
    rate = {k: 60 * len(problems) / v for k, v in spent.items()}
    print(f"\nthroughput at N={n} over {len(problems)} problems (load {os.getloadavg()[0]:.1f}): "
          f"best-of-N {rate['best_of_n']:.1f} problems/min, beam search {rate['beam']:.1f} "
          f"problems/min, beam / best-of-N = {rate['beam'] / rate['best_of_n']:.2f}x")


def math_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def math_steps(response: str) -> list[str]:
    return [s.strip() for s in response.split("ки") if s.strip()]


def math_prm(rows: list[dict], base: str, out: Path, epochs: int) -> PrmScorer:
    from training.data import StepExample

    examples = []
    for row in rows:
        for o in row["outputs"]:
            steps = math_steps(o["response"])
            labels = [int(v) for v in o["step_h_label"]][:len(steps)]
            labels += [None] * (len(steps) - len(labels))
            examples.append(StepExample(group=str(row["idx"]), prompt=row["question"],
                                        steps=steps, labels=labels))
    train(examples, base, out, TrainConfig(epochs=epochs, learning_rate=1e-4, head_learning_rate=1e-3,
                                           batch_size=8, max_length=512, val_fraction=0.2,
                                           early_stopping_patience=0))
    return PrmScorer(out, max_length=512)


def math_best_of_n(args, tmp: Path) -> None:
    from training.trainer import default_base_model

    if not all((SHARED / f).exists() for f in MATH_FILES):
        print(f"\nMATH: {SHARED} not found; skipped")
        return
    base = default_base_model()
    for held_out, trained_on in (MATH_FILES, MATH_FILES[::-1]):
        scorer = math_prm(math_rows(SHARED / trained_on), base, tmp / f"math-{trained_on}", args.math_epochs)
        rows = math_rows(SHARED / held_out)
        ns = [1, 2, 4, 8, 15]
        acc = defaultdict(int)
        for row in rows:
            paths = [SearchPath(steps=math_steps(o["response"]), finished=True) for o in row["outputs"]]
            score_paths(scorer, row["question"], paths)
            truth = row["ground_truth"]
            for n in ns:
                acc["majority", n] += grade_answer(majority(paths, n).answer, truth)
                for how in ("min", "product", "last"):
                    acc[f"best_of_n_{how}", n] += grade_answer(best_of_n(paths, n, how).answer, truth)
                acc["weighted_majority", n] += grade_answer(weighted_majority(paths, n).answer, truth)
                acc["pass_at_n", n] += any(grade_answer(p.answer, truth) for p in paths[:n])
        print(f"\nMATH, {held_out} ({len(rows)} problems), PRM trained on {trained_on} "
              f"(MiniLM, Monte Carlo hard labels):")
        print(f"{'strategy':<20}" + "".join(f"{'N=' + str(n):>8}" for n in ns))
        for name in ("majority", "best_of_n_min", "best_of_n_product", "best_of_n_last",
                     "weighted_majority", "pass_at_n"):
            print(f"{name:<20}" + "".join(f"{acc[name, n] / len(rows):>8.2f}" for n in ns))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--max-budget", type=int, default=16)
    parser.add_argument("--throughput-budget", type=int, default=4)
    parser.add_argument("--throughput-problems", type=int, default=10)
    parser.add_argument("--prm", default="", help="a trained PRM's directory (else one is trained)")
    parser.add_argument("--base", default="", help="'' (MiniLM), demo-encoder, demo-decoder or a path")
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--train-problems", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--head-lr", type=float, default=2e-3)
    parser.add_argument("--math-epochs", type=int, default=2)
    parser.add_argument("--skip-math", action="store_true")
    parser.add_argument("--skip-checker", action="store_true",
                        help="no sweep with the exact checker as the PRM (it does not depend on --prm)")
    args = parser.parse_args()
    if args.quick:
        args.problems, args.max_budget, args.train_problems, args.epochs = 6, 4, 60, 1
        args.throughput_problems, args.math_epochs = 2, 1

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.prm:
            prm_path, info = args.prm, {"given": args.prm}
        else:
            prm_path, info = train_demo_prm(args, tmp)
        print(f"PRM: {prm_path} {info}")
        scorer = PrmScorer(prm_path, max_length=128)
        model = str(build_test_model())
        gen_settings = GeneratorSettings.from_dict({
            "model": model, "delimiter": domain.STEP_DELIMITER, "max_new_tokens": 64,
            "max_step_tokens": 16, "max_steps": 8, "temperature": 0.8, "top_p": 0.95})
        gen = backend_for(gen_settings)
        settings = SearchSettings.from_generator(gen_settings, "min")
        rng = random.Random(2026)
        problems = [domain.random_problem(rng) for _ in range(args.problems)]
        print(f"generator: {gen.describe()}; {len(problems)} fresh demo problems; budgets "
              f"{budgets(args.max_budget)}")
        print(f"PRM on the generator's own samples (4 per problem): "
              f"{on_policy_auroc(gen, scorer, problems, settings)}")

        t = time.perf_counter()
        trained = demo_sweep(gen, scorer, problems, settings, args.max_budget)
        print_sweep(f"demo domain, trained PRM ({time.perf_counter() - t:.0f} s)", trained)
        if not args.skip_checker:
            checker = CheckerScorer({p.statement: p for p in problems}, scorer)
            t = time.perf_counter()
            exact = demo_sweep(gen, checker, problems, settings, args.max_budget)
            print_sweep(f"demo domain, the exact checker as the PRM ({time.perf_counter() - t:.0f} s)",
                        exact)

        throughput(gen, scorer, problems[:args.throughput_problems], settings, args.throughput_budget)
        if not args.skip_math:
            math_best_of_n(args, tmp)


if __name__ == "__main__":
    main()
