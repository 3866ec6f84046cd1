"""The offline demo judge: a tiny GPT-2 that reads a demo solution and writes a verdict and a
short reason for every step, trained from the exact checker.

It answers the compact ``demo_steps`` judge template (``generation/judging/templates.py``)
as a conversation, two lines per step: a scratchpad ``Check k:`` line that computes what the
step should say (the problem's operation applied to the value the previous step stated, as the
demo generator computes a step), then the verdict line the judge parser reads::

    Check 1: 12 + 5 = 17
    Step 1: correct - 12 + 5 = 17
    Check 2: 17 - 3 = 14
    Step 2: incorrect - 17 - 3 = 15 is wrong: 17 - 3 = 14
    Check 3: the last value is 15
    Step 3: correct - the answer is 15

Computing first leaves the verdict a comparison of the step with its check; a judge that had
to write the verdict before the computation learned the prior (most steps are right) and called
every step correct. A check line never matches the parser's ``Step k:`` pattern, so the parser
reads the verdicts only. A wrong step's reason is its check. The conversation is rendered by a
chat template saved in the tokenizer, so the in-process backend, ``transformers serve`` and
vLLM all build the same prompt. Training solutions are the domain's own: right ones, ones with
a planted error carried forward, and ones with scattered slips (wrong results, operands,
operators, answers), oversampling wrong steps (``TRAIN_MIX``); the budget is about 6 minutes of
one core (docs/labels.md, "The demo judge").
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
    steps: int = 1500
    layers: int = 2
    width: int = 128
    heads: int = 4
    batch_size: int = 8
    lr: float = 5e-3
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


def check_lines(problem: domain.ArithProblem, steps: list[str]) -> list[str]:
    """The scratchpad line before each verdict: what the step should say, computed first.

    An operation step's check is the problem's operation applied to the value the previous
    step stated (``Check 2: 17 - 3 = 14``), an answer's the last stated value; the verdict
    after it is then a comparison of the step with its check. No check line matches the
    verdict parser's ``Step k:`` pattern, so the parser reads the verdict lines only."""
    out, value = [], problem.start
    for i, text in enumerate(steps, 1):
        if domain.parse_answer(text) is not None:
            out.append(f"Check {i}: the last value is {value}")
            continue
        match = domain._STEP_RE.match(text)
        if i <= len(problem.ops) and value is not None:
            op, n = problem.ops[i - 1]
            out.append(f"Check {i}: {domain.format_step(value, op, n, domain.apply(value, op, n))}")
        else:
            out.append(f"Check {i}: no such step")
        value = int(match[4]) if match else None
    return out


def judge_answer(problem: domain.ArithProblem, steps: list[str]) -> str:
    verdicts = step_reasons(problem, steps)
    return "\n".join(f"{check}\nStep {k}: {'correct' if ok else 'incorrect'} - {reason}"
                      for k, (check, (ok, reason)) in
                      enumerate(zip(check_lines(problem, steps), verdicts), 1))


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


def training_solution(problem: domain.ArithProblem, rng: random.Random, *, right: float = 0.3,
                      planted: float = 0.35, slip_rate: float = 0.3) -> list[str]:
    """Right (30%), one planted error (35%) or scattered slips (35%, each step slipping with
    ``slip_rate``), the answer sometimes off: the evaluation's mix (about 21% wrong steps)."""
    roll = rng.random()
    if roll < right:
        steps = domain.correct_steps(problem)
    elif roll < right + planted:
        steps = domain.flawed_steps(problem, rng)[0]
    else:
        steps, value = [], problem.start
        for op, n in problem.ops:
            if rng.random() < slip_rate:
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


# Training oversamples wrong steps (about 45% of steps, against 21% in the evaluation's mix):
# on the evaluation's own mix the judge learns the prior and calls every step correct.
TRAIN_MIX = {"right": 0.05, "planted": 0.15, "slip_rate": 0.7}


def training_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        problem = domain.random_problem(rng)
        steps = training_solution(problem, rng, **TRAIN_MIX)
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
    extra = [f"Check {k}: no such step\nStep {k}: correct incorrect - the answer is wrong: "
             "the last value is" for k in range(1, 10)]
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
    outs = sample(model, tokenizer, prompts, n=1, max_new_tokens=192, temperature=0.0, seed=seed)
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
