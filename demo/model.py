"""The offline demo model: a tiny GPT-2 trained on the arithmetic domain.

The tokenizer is built with ``tokenizers`` (byte-level words, every digit its own
token, so numbers are learned digit by digit) and wrapped so that
``AutoTokenizer.from_pretrained`` loads it. Arithmetic accuracy is what training time
buys; the format is learned early. Operand sizes keep the share of wrong answers in
the 20-60% band after a few minutes on 2 CPU cores.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import domain

EOS, PAD, UNK = "<eos>", "<pad>", "<unk>"


@dataclass
class BuildConfig:
    # 1000 steps: ~45-55% correct final answers at temperature 0.8 (1500 gave 65% at 0.7).
    steps: int = 1000
    layers: int = 3
    width: int = 128
    heads: int = 4
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    train_problems: int = 20000


QUICK = BuildConfig(steps=250, layers=2, width=96, heads=4, batch_size=48, lr=2e-3,
                    train_problems=6000)


def training_text(problem: domain.ArithProblem) -> tuple[str, str]:
    from generation.prompts import plain_prompt

    return plain_prompt(problem.statement), domain.STEP_DELIMITER.join(domain.correct_steps(problem))


def build_tokenizer(texts: list[str]):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.WordLevelTrainer(special_tokens=[PAD, EOS, UNK]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, model_max_length=256)


def _encode(tokenizer, pairs: list[tuple[str, str]]):
    """Token ids and labels; the loss covers the solution and end-of-sequence only."""
    import torch

    ids, labels = [], []
    for prompt, target in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        ids.append(p + t)
        labels.append([-100] * len(p) + t)
    width = max(len(x) for x in ids)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([x + [pad] * (width - len(x)) for x in ids])
    label_ids = torch.tensor([y + [-100] * (width - len(y)) for y in labels])
    return input_ids, (input_ids != pad).long(), label_ids


def train_demo_model(out_dir: Path, config: BuildConfig = BuildConfig(), log=print) -> dict:
    """Train and save model + tokenizer to ``out_dir``; returns build statistics."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    # One thread unless told otherwise: a tiny model gains little from more, and on a
    # shared machine extra threads contend badly.
    torch.set_num_threads(max(1, int(os.environ.get("STEPWISE_TORCH_THREADS", "1"))))
    problems = [domain.random_problem(rng) for _ in range(config.train_problems)]
    pairs = [training_text(p) for p in problems]
    tokenizer = build_tokenizer([a + b for a, b in pairs] + [domain.format_answer(i) for i in range(10)])
    input_ids, attention, labels = _encode(tokenizer, pairs)
    model = GPT2LMHeadModel(GPT2Config(
        vocab_size=len(tokenizer), n_positions=max(128, input_ids.shape[1] + 64),
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
        width = int(attention[idx].sum(1).max())  # trim padding beyond this batch's longest
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
    stats = {"train_seconds": round(time.monotonic() - started, 1),
             "parameters": sum(p.numel() for p in model.parameters()),
             "vocab_size": len(tokenizer), "config": asdict(config)}
    return stats


def evaluate_demo_model(path: Path, n_problems: int = 64, temperature: float = 0.7,
                        seed: int = 1) -> dict:
    """Sample one solution per fresh problem and check it exactly."""
    from generation.loader import load_model
    from generation.prompts import build_prompt
    from generation.sampling import sample, split_steps

    model, tokenizer = load_model(str(path))
    rng = random.Random(10_000 + seed)
    problems = [domain.random_problem(rng) for _ in range(n_problems)]
    prompts = [build_prompt(tokenizer, p.statement, (), domain.STEP_DELIMITER) for p in problems]
    outs = sample(model, tokenizer, prompts, n=1, max_new_tokens=64, temperature=temperature,
                  seed=seed)
    formed = correct = steps_ok = steps_total = 0
    for problem, (s,) in zip(problems, outs):
        steps, _ = split_steps(s.text, domain.STEP_DELIMITER)
        labels = domain.check_steps(problem, steps)
        formed += domain.is_well_formed(steps)
        correct += domain.is_well_formed(steps) and domain.parse_answer(steps[-1]) == problem.answer
        steps_ok += sum(labels[:-1])
        steps_total += max(len(labels) - 1, 0)
    return {"well_formed": formed / n_problems, "answers_correct": correct / n_problems,
            "steps_correct": steps_ok / max(steps_total, 1), "temperature": temperature}


def ensure_demo_model(out_dir: Path, config: BuildConfig = BuildConfig(), *, force: bool = False,
                      evaluate: bool = True, log=print) -> dict:
    """Build the model unless a complete one is already cached at ``out_dir``."""
    out_dir = Path(out_dir)
    marker = out_dir / "stepwise_demo.json"
    if marker.exists() and not force:
        return {"cached": True, **json.loads(marker.read_text())}
    stats = train_demo_model(out_dir, config, log=log)
    if evaluate:
        stats["eval"] = evaluate_demo_model(out_dir)
    # Written last: a half-built directory is never mistaken for a cached model.
    marker.write_text(json.dumps(stats, indent=2))
    return {"cached": False, **stats}
