"""GRPO on the demo domain: outcome reward only against process reward plus outcome.

TRL's ``GRPOTrainer`` trains the demo generator for a fixed number of steps, twice from the
same weights with the same seeds: (a) the reward is the grader's verdict on the final answer
(1 or 0); (b) the reward adds a Stepwise PRM's score of the completion (its weakest step, in
[0, 1]). Held-out accuracy (greedy, and sampled at temperature 0.8) is measured before and
after each. The PRM is trained here on labeled demo solutions unless ``--prm`` names one.

    python bench/bench_rl.py              # ~10 min on 2 busy cores
    python bench/bench_rl.py --quick      # a smoke run
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

from annotate.grading import extract_final_answer, grade_answer  # noqa: E402
from demo import domain  # noqa: E402
from demo.labeled import demo_solutions  # noqa: E402
from demo.testing import build_test_model  # noqa: E402
from generation.prompts import build_prompt  # noqa: E402
from generation.sampling import sample, split_steps  # noqa: E402
from training.evaluate import evaluate_examples  # noqa: E402
from training.scoring import PrmScorer, aggregate  # noqa: E402
from training.trainer import TrainConfig, train  # noqa: E402


def completion_answer(text: str) -> tuple[list[str], str | None]:
    steps, _ = split_steps(text, domain.STEP_DELIMITER, max_steps=8)
    return steps, extract_final_answer("\n\n".join(steps))


def outcome_reward(prompts=None, completions=None, answer=None, **kwargs) -> list[float]:
    return [float(grade_answer(completion_answer(c)[1], a)) for c, a in zip(completions, answer)]


def process_reward_for(scorer: PrmScorer):
    def process_reward(prompts=None, completions=None, statement=None, **kwargs) -> list[float]:
        steps = [completion_answer(c)[0] for c in completions]
        items = [(s, st) for s, st in zip(statement, steps)]
        scores = scorer.score([it for it in items if it[1]]) if any(st for st in steps) else []
        it = iter(scores)
        return [aggregate(next(it), "min") or 0.0 if st else 0.0 for st in steps]
    return process_reward


def held_out_accuracy(model, tokenizer, problems) -> dict:
    prompts = [build_prompt(tokenizer, p.statement, (), domain.STEP_DELIMITER) for p in problems]
    model.eval()
    out = {}
    for name, temperature, n in (("greedy", 0.0, 1), ("sampled", 0.8, 4)):
        rows = sample(model, tokenizer, prompts, n=n, max_new_tokens=64, temperature=temperature,
                      top_p=0.95, seed=7)
        hits = sum(grade_answer(completion_answer(s.text)[1], str(p.answer))
                   for p, row in zip(problems, rows) for s in row)
        out[name] = round(hits / (len(problems) * n), 3)
    return out


def grpo(policy_path: str, rewards: list, train_set, args, out: Path) -> tuple:
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(policy_path)
    policy = AutoModelForCausalLM.from_pretrained(policy_path)
    config = GRPOConfig(
        output_dir=str(out), max_steps=args.steps, per_device_train_batch_size=args.batch,
        num_generations=args.generations, max_completion_length=64, learning_rate=args.lr,
        temperature=0.8, logging_steps=max(1, args.steps // 8), report_to=[], use_cpu=True,
        seed=args.seed, data_seed=args.seed, save_strategy="no", bf16=False,
    )
    trainer = GRPOTrainer(model=policy, reward_funcs=rewards, args=config, train_dataset=train_set,
                          processing_class=tokenizer)
    start = time.perf_counter()
    trainer.train()
    log = [h for h in trainer.state.log_history if "rewards/outcome_reward/mean" in h]
    return trainer.model, tokenizer, time.perf_counter() - start, log


def main() -> None:
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32, help="completions per step")
    parser.add_argument("--generations", type=int, default=8, help="completions per prompt")
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", type=int, default=100)
    parser.add_argument("--prm", default="")
    parser.add_argument("--train-problems", type=int, default=400)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.batch, args.generations, args.held_out, args.train_problems = 2, 8, 4, 10, 40

    policy_path = str(build_test_model())
    rng = random.Random(31)
    train_problems = [domain.random_problem(rng) for _ in range(args.steps * args.batch // args.generations)]
    held_out = [domain.random_problem(random.Random(10_000 + i)) for i in range(args.held_out)]
    tokenizer = AutoTokenizer.from_pretrained(policy_path)
    train_set = Dataset.from_dict({
        "prompt": [build_prompt(tokenizer, p.statement, (), domain.STEP_DELIMITER) for p in train_problems],
        "statement": [p.statement for p in train_problems],
        "answer": [str(p.answer) for p in train_problems]})

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        prm_path = args.prm
        if not prm_path:
            prm_path = str(tmp / "prm")
            train(demo_solutions(args.train_problems, 2, seed=101), resolve_base("", 2, tmp), prm_path,
                  TrainConfig(epochs=2, learning_rate=2e-4, head_learning_rate=2e-3, batch_size=32,
                              max_length=128, early_stopping_patience=0, val_fraction=0.1))
        scorer = PrmScorer(prm_path, max_length=128)
        auroc = evaluate_examples(scorer, demo_solutions(100, 2, seed=202))["step"]["auroc"]
        print(f"PRM {prm_path}: held-out step AUROC {auroc}")
        before = held_out_accuracy(AutoModelForCausalLM.from_pretrained(policy_path), tokenizer, held_out)
        print(f"policy before: {before} on {len(held_out)} held-out problems")
        runs = {"outcome only": [outcome_reward],
                "process + outcome": [outcome_reward, process_reward_for(scorer)]}
        for name, rewards in runs.items():
            model, tok, seconds, log = grpo(policy_path, rewards, train_set, args, tmp / name.replace(" ", "-"))
            after = held_out_accuracy(model, tok, held_out)
            curve = ", ".join(f"{float(h['rewards/outcome_reward/mean']):.2f}" for h in log)
            print(f"{name}: {args.steps} steps in {seconds:.0f} s (load {os.getloadavg()[0]:.1f}); "
                  f"after {after}; outcome reward (share correct) per logged step: {curve}")


if __name__ == "__main__":
    main()
