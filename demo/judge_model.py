"""The offline demo judge: a tiny GPT-2 that reads a demo solution and writes a verdict and a
short reason for every step, trained from the exact checker.

It answers the compact ``demo_steps`` judge template (``generation/judging/templates.py``)
as a conversation, one line per step, in the form the judge parser reads::

    Step 1: correct - 12 + 5 = 17
    Step 2: incorrect - 17 - 3 = 15 is wrong: 17 - 3 = 14
    Step 3: correct - the answer is 15

A wrong step's reason is the step the checker expected from the value the previous step
stated. The conversation is rendered by a chat template saved in the tokenizer, so the
in-process backend, ``transformers serve`` and vLLM all build the same prompt. It is trained
on a small budget (about 6 minutes of one core): at the default build it writes the format and
copies each step into its reason, but calls nearly every step correct (docs/labels.md, "The
demo judge"; more steps are what it lacks). Training solutions are the domain's own: right ones, ones with a planted error carried
forward, and ones with scattered slips (wrong results, operands, operators, answers).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import domain
from .model import _encode, build_tokenizer

TEMPLATE_KEY = "demo_steps@1"
MARKER = "stepwise_demo_judge.json"
# Jinja for every chat frontend: messages' text, then the cue the judge was trained after.
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['content'] | trim }}\n{% endfor %}"
                 "{% if add_generation_prompt %}Verdicts:\n{% endif %}")


@dataclass
class JudgeBuildConfig:
    steps: int = 2000
    layers: int = 2
    width: int = 128
    heads: int = 4
    batch_size: int = 8
    lr: float = 3e-3
    seed: int = 0
    train_solutions: int = 12000


QUICK = JudgeBuildConfig(steps=60, layers=2, width=64, train_solutions=1500)


def step_reasons(problem: domain.ArithProblem, steps: list[str]) -> list[tuple[bool, str]]:
    """The exact checker's verdict on every step and the reason the judge learns to write."""
    labels = domain.check_steps(problem, steps)
    out, value = [], problem.start
    for i, (text, ok) in enumerate(zip(steps, labels)):
        answer = domain.parse_answer(text)
        if answer is not None:
            reason = f"the answer is {value}" if ok else \
                f"the answer {answer} is wrong: the last value is {value}"
        else:
            match = domain._STEP_RE.match(text)
            if i < len(problem.ops) and value is not None:
                op, n = problem.ops[i]
                expected = domain.format_step(value, op, n, domain.apply(value, op, n))
                reason = text.strip() if ok else f"{text.strip()} is wrong: {expected}"
            else:
                reason = f"{text.strip()} is wrong"
            value = int(match[4]) if match else None
        out.append((ok, reason))
    return out


def judge_answer(problem: domain.ArithProblem, steps: list[str]) -> str:
    return "\n".join(f"Step {k}: {'correct' if ok else 'incorrect'} - {reason}"
                     for k, (ok, reason) in enumerate(step_reasons(problem, steps), 1))


def _slip(value: int, op: str, n: int, rng: random.Random) -> tuple[str, int, int]:
    kind = rng.choice(["result", "result", "result", "operand", "operator"])
    if kind == "operand":
        n = max(1, n + rng.choice([-2, -1, 1, 2]))
    elif kind == "operator" and value - n >= 0:
        op = "-" if op == "+" else "+"
    new = domain.apply(value, op, n)
    if kind != "operand" or rng.random() < 0.3:
        new += rng.choice([-2, -1, 1, 2])
    return op, n, max(new, 0)


def training_solution(problem: domain.ArithProblem, rng: random.Random) -> list[str]:
    """Right (30%), one planted error (35%) or scattered slips (35%), the answer sometimes off."""
    roll = rng.random()
    if roll < 0.3:
        steps = domain.correct_steps(problem)
    elif roll < 0.65:
        steps = domain.flawed_steps(problem, rng)[0]
    else:
        steps, value = [], problem.start
        for op, n in problem.ops:
            if rng.random() < 0.3:
                op, n, new = _slip(value, op, n, rng)
            else:
                new = domain.apply(value, op, n)
            steps.append(domain.format_step(value, op, n, new))
            value = new
        steps.append(domain.format_answer(value))
    if rng.random() < 0.1:
        last = domain.parse_answer(steps[-1])
        steps[-1] = domain.format_answer(max(0, last + rng.choice([-2, -1, 1, 2])))
    return steps


def judge_messages(statement: str, steps: list[str]) -> list[dict]:
    from generation.judging.templates import template

    return template(TEMPLATE_KEY).messages(statement, steps)


def training_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        problem = domain.random_problem(rng)
        steps = training_solution(problem, rng)
        pairs.append((render(judge_messages(problem.statement, steps)), judge_answer(problem, steps)))
    return pairs


def render(messages: list[dict]) -> str:
    """The chat template's text, without Jinja (training must agree with it exactly)."""
    return "".join(m["content"].strip() + "\n" for m in messages) + "Verdicts:\n"


def train_demo_judge(out_dir: Path, config: JudgeBuildConfig = JudgeBuildConfig(),
                     log=print) -> dict:
    """Train and save the judge + tokenizer (with its chat template) to ``out_dir``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, int(os.environ.get("STEPWISE_TORCH_THREADS", "1"))))
    pairs = training_pairs(config.train_solutions, config.seed)
    extra = [f"Step {k}: correct incorrect - the answer is wrong: the last value is"
             for k in range(1, 10)]
    tokenizer = build_tokenizer([a + b for a, b in pairs] + extra)
    tokenizer.chat_template = CHAT_TEMPLATE
    input_ids, attention, labels = _encode(tokenizer, pairs)
    tokenizer.model_max_length = max(256, input_ids.shape[1] + 64)
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_positions=tokenizer.model_max_length,
        n_embd=config.width, n_layer=config.layers, n_head=config.heads,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    ))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps,
                                                pct_start=0.1)
    model.train()
    started = time.monotonic()
    for step in range(config.steps):
        idx = torch.randint(0, input_ids.shape[0], (config.batch_size,))
        width = int(attention[idx].sum(1).max())
        out = model(input_ids=input_ids[idx, :width], attention_mask=attention[idx, :width],
                    labels=labels[idx, :width])
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == config.steps - 1:
            log(f"step {step + 1}/{config.steps} loss {out.loss.item():.3f}")
    model.eval()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"train_seconds": round(time.monotonic() - started, 1),
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tokenizer), "context": tokenizer.model_max_length,
            "template": TEMPLATE_KEY, "config": asdict(config)}


def evaluate_demo_judge(path: Path, n_solutions: int = 64, seed: int = 1) -> dict:
    """Greedy verdicts on fresh solutions, against the exact checker (in process)."""
    from generation.judging.parsing import parse
    from generation.loader import load_model
    from generation.sampling import sample

    model, tokenizer = load_model(str(path))
    rng = random.Random(20_000 + seed)
    cases = []
    for _ in range(n_solutions):
        problem = domain.random_problem(rng)
        cases.append((problem, training_solution(problem, rng)))
    prompts = [tokenizer.apply_chat_template(judge_messages(p.statement, s), tokenize=False,
                                             add_generation_prompt=True) for p, s in cases]
    outs = sample(model, tokenizer, prompts, n=1, max_new_tokens=160, temperature=0.0, seed=seed)
    return score_answers([(p, s, o[0].text) for (p, s), o in zip(cases, outs)], parse)


def score_answers(items, parse) -> dict:
    """Step accuracy, balanced accuracy and readability of judge answers against the checker."""
    hit = {True: [0, 0], False: [0, 0]}  # truth -> [right, total]
    unread = reasons_ok = 0
    for problem, steps, text in items:
        truth = domain.check_steps(problem, steps)
        expected = step_reasons(problem, steps)
        for verdict, ok, (_, reason) in zip(parse("step_verdicts", text, len(steps)), truth, expected):
            hit[ok][1] += 1
            if verdict.rating is None:
                unread += 1
                continue
            hit[ok][0] += (verdict.rating > 0) == ok
            reasons_ok += verdict.reason == reason
    total = hit[True][1] + hit[False][1]
    recall = {k: v[0] / max(v[1], 1) for k, v in hit.items()}
    return {"steps": total, "accuracy": round((hit[True][0] + hit[False][0]) / max(total, 1), 4),
            "balanced_accuracy": round((recall[True] + recall[False]) / 2, 4),
            "unreadable": round(unread / max(total, 1), 4),
            "reasons_exact": round(reasons_ok / max(total, 1), 4)}


def ensure_demo_judge(out_dir: Path, config: JudgeBuildConfig = JudgeBuildConfig(), *,
                      force: bool = False, evaluate: bool = True, log=print) -> dict:
    """Build the judge unless a complete one is already at ``out_dir`` (marker written last)."""
    out_dir = Path(out_dir)
    marker = out_dir / MARKER
    if marker.exists() and not force:
        return {"cached": True, **json.loads(marker.read_text())}
    stats = train_demo_judge(out_dir, config, log=log)
    if evaluate:
        stats["eval"] = evaluate_demo_judge(out_dir)
    marker.write_text(json.dumps(stats, indent=2))
    return {"cached": False, **stats}
