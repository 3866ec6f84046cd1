"""The offline demo judge: a tiny decoder (Llama's layout) that reads a demo solution and
writes, for every step, a check line and then a verdict with a short reason, trained from the
exact checker.

It answers the compact ``demo_steps`` judge template (``generation/judging/templates.py``)
as a conversation. Before each verdict it writes a scratchpad line the judge parser ignores:
the step as written beside the step the checker expects from the value the previous step
stated (for the answer, the written answer beside the last stated value). The verdict lines
are in the form the parser reads::

    Check 1: 12 + 5 = 17 ; 12 + 5 = 17
    Step 1: correct - 12 + 5 = 17
    Check 2: 17 - 3 = 15 ; 17 - 3 = 14
    Step 2: incorrect - 17 - 3 = 15 is wrong: 17 - 3 = 14
    Check 3: 15 ; 15
    Step 3: correct - the answer is 15

Whole numbers are single tokens (the domain's numbers stay under 100), so the expected result
is a lookup rather than digit-level carry logic. Training solutions are the domain's own,
with errors oversampled (about half of the operation steps wrong: planted errors carried
forward and scattered slips in results, operands, operators and answers), and the verdict
words and each check line's expected half weigh 3x in the loss, so that copying the written
step does not win over computing. The conversation is rendered by a chat template saved in
the tokenizer, so the in-process backend, ``transformers serve`` and vLLM build the same
prompt. At the default build (three layers, 4,000 steps, about 9 minutes of one core) it
calls 89% of the wrong steps and nearly every right one correctly (balanced accuracy 0.94 on
fresh solutions; docs/labels.md, "The demo judge", and docs/performance.md for the builds
tried): the comparison forms late in training, and with two layers it formed on one machine's
arithmetic and not on another's.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import domain
from .model import EOS, PAD, UNK, _encode

TEMPLATE_KEY = "demo_steps@1"
MARKER = "stepwise_demo_judge.json"
# Jinja for every chat frontend: messages' text, then the cue the judge was trained after.
CHAT_TEMPLATE = ("{% for m in messages %}{{ m['content'] | trim }}\n{% endfor %}"
                 "{% if add_generation_prompt %}Verdicts:\n{% endif %}")


@dataclass
class JudgeBuildConfig:
    steps: int = 4000
    layers: int = 3
    width: int = 128
    heads: int = 4
    batch_size: int = 8
    lr: float = 3e-3
    seed: int = 0
    train_solutions: int = 12000
    # Share of scattered slips per operation step in training (the evaluation's mix has 0.3).
    slip_rate: float = 0.7
    # Share of training solutions with every step right (the evaluation's mix has 0.3).
    right_share: float = 0.05
    # The verdict word's loss, and the expected half of each check line's, weigh this many
    # times another token's.
    verdict_weight: float = 3.0
    check_weight: float = 3.0
    arch: str = "llama"  # or "gpt2"


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
    """The scratchpad line written before each verdict (the parser ignores it): the step as
    written beside the step the checker expects from the value the previous step stated,
    ``Check 2: 17 - 3 = 15 ; 17 - 3 = 14``, or for the answer the written answer beside the
    last stated value, ``Check 4: 15 ; 14``. Numbers are single tokens, so the expected result
    is a lookup and the verdict compares tokens a fixed distance apart."""
    out, value = [], problem.start
    for i, text in enumerate(steps):
        answer = domain.parse_answer(text)
        match = domain._STEP_RE.match(text)
        if answer is not None:
            out.append(f"Check {i + 1}: {answer} ; {value}")
        elif match and i < len(problem.ops) and value is not None:
            op, n = problem.ops[i]
            expected = domain.format_step(value, op, n, domain.apply(value, op, n))
            out.append(f"Check {i + 1}: {text.strip()} ; {expected}")
        else:
            out.append(f"Check {i + 1}: none")
        value = int(match[4]) if match else None
    return out


def judge_answer(problem: domain.ArithProblem, steps: list[str]) -> str:
    checks = check_lines(problem, steps)
    return "\n".join(f"{check}\nStep {k}: {'correct' if ok else 'incorrect'} - {reason}"
                      for k, (check, (ok, reason)) in
                      enumerate(zip(checks, step_reasons(problem, steps)), 1))


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


def training_solution(problem: domain.ArithProblem, rng: random.Random,
                      slip_rate: float = 0.3, right_share: float = 0.3) -> list[str]:
    """Right (30%), one planted error (35%) or scattered slips (35%), the answer sometimes off."""
    roll = rng.random()
    if roll < right_share:
        steps = domain.correct_steps(problem)
    elif roll < right_share + (1 - right_share) / 2:
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


def training_pairs(n: int, seed: int, slip_rate: float = 0.3,
                   right_share: float = 0.3) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        problem = domain.random_problem(rng)
        steps = training_solution(problem, rng, slip_rate, right_share)
        pairs.append((render(judge_messages(problem.statement, steps)), judge_answer(problem, steps)))
    return pairs


def render(messages: list[dict]) -> str:
    """The chat template's text, without Jinja (training must agree with it exactly)."""
    return "".join(m["content"].strip() + "\n" for m in messages) + "Verdicts:\n"


def build_judge_tokenizer(texts: list[str]):
    """Byte-level words with whole numbers as single tokens (`` 17`` is one token, unlike the
    demo generator's digit by digit): the domain's numbers stay under 100, so checking
    ``17 - 3 = 14`` is a lookup the model can learn, not carry logic."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    numbers = [" ".join(str(i) for i in range(200)), "".join(f"\n{i}" for i in range(200))]
    tok.train_from_iterator(texts + numbers,
                            trainers.WordLevelTrainer(special_tokens=[PAD, EOS, UNK]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, model_max_length=256)


def new_model(config: JudgeBuildConfig, tokenizer):
    """A tiny decoder: Llama's layout (rotary positions, so "the token four back" is one
    pattern at every position) or GPT-2's (learned absolute positions)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    special = dict(bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
    if config.arch == "llama":
        return LlamaForCausalLM(LlamaConfig(
            vocab_size=len(tokenizer), max_position_embeddings=tokenizer.model_max_length,
            hidden_size=config.width, intermediate_size=4 * config.width,
            num_hidden_layers=config.layers, num_attention_heads=config.heads,
            num_key_value_heads=config.heads, tie_word_embeddings=True, **special))
    return GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_positions=tokenizer.model_max_length,
        n_embd=config.width, n_layer=config.layers, n_head=config.heads, **special))


def loss_weights(tokenizer, labels, config: JudgeBuildConfig):
    """Each target token's weight: the verdict words and the expected half of each check line
    (after its ``;``) weigh more, since copying the written step is right most of the time and
    would otherwise win over computing."""
    import torch

    ids = tokenizer.convert_tokens_to_ids
    verdicts = {ids("Ġcorrect"), ids("Ġincorrect")}
    check, semi, newline = ids("Check"), ids("Ġ;"), ids("Ċ")
    weights = torch.ones(labels.shape)
    for r, row in enumerate(labels.tolist()):
        state = 0  # 1: inside a check line, 2: in its expected half
        for c, tok in enumerate(row):
            if tok == check:
                state = 1
            elif tok == newline:
                state = 0
            elif tok == semi and state == 1:
                state = 2
            elif state == 2:
                weights[r, c] = config.check_weight
            if tok in verdicts:
                weights[r, c] = config.verdict_weight
    return weights


def train_demo_judge(out_dir: Path, config: JudgeBuildConfig = JudgeBuildConfig(),
                     log=print) -> dict:
    """Train and save the judge + tokenizer (with its chat template) to ``out_dir``."""
    import torch
    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, int(os.environ.get("STEPWISE_TORCH_THREADS", "1"))))
    pairs = training_pairs(config.train_solutions, config.seed, config.slip_rate,
                           config.right_share)
    extra = [f"Step {k}: correct incorrect - the answer is wrong: the last value is\n"
             f"Check {k}: none ; #" for k in range(1, 10)]
    tokenizer = build_judge_tokenizer([a + b for a, b in pairs] + extra)
    tokenizer.chat_template = CHAT_TEMPLATE
    input_ids, attention, labels = _encode(tokenizer, pairs)
    tokenizer.model_max_length = max(320, input_ids.shape[1] + 96)
    weights = loss_weights(tokenizer, labels, config)
    model = new_model(config, tokenizer)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps,
                                                pct_start=0.1)
    model.train()
    started = time.monotonic()
    for step in range(config.steps):
        idx = torch.randint(0, input_ids.shape[0], (config.batch_size,))
        width = int(attention[idx].sum(1).max())
        logits = model(input_ids=input_ids[idx, :width],
                       attention_mask=attention[idx, :width]).logits[:, :-1]
        target, weight = labels[idx, 1:width], weights[idx, 1:width]
        token_loss = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100,
            reduction="none")
        weight = weight.reshape(-1) * (target.reshape(-1) != -100)
        loss = (token_loss * weight).sum() / weight.sum()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == config.steps - 1:
            log(f"step {step + 1}/{config.steps} loss {loss.item():.3f} "
                f"({time.monotonic() - started:.0f}s)")
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
    unread = reasons_ok = checks_ok = checks = 0
    for problem, steps, text in items:
        written = [line.strip() for line in text.splitlines() if line.startswith("Check")]
        for k, line in enumerate(check_lines(problem, steps)):
            checks += 1
            checks_ok += k < len(written) and written[k] == line
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
            "reasons_exact": round(reasons_ok / max(total, 1), 4),
            "checks_exact": round(checks_ok / max(checks, 1), 4),
            "recall_right": round(recall[True], 4), "recall_wrong": round(recall[False], 4)}


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
