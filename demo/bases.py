"""Domain-pretrained PRM bases for the demo: a tiny BERT (masked LM) or GPT-2 (next-token
LM) trained on unlabeled *correct* demo solutions.

Real PRMs start from a model that already knows the domain (Qwen2.5-Math for math), and
step labels then teach it to verify. These bases play that role for the demo domain: they
have read correct solutions, never a label or a wrong step. The encoder fills in masked step
results; the decoder's own token probabilities rank bad steps below good ones almost
perfectly (AUROC 0.99 with no labels). Fine-tuned as token classifiers they do not yet
reach that (docs/performance.md, "Domain-pretrained bases"), which is why the benchmarks
build them: ``bench/bench_prm.py --base demo-encoder|demo-decoder``.

Numbers are whole tokens (word-level vocabulary), the input is exactly the PRM's
(``training.data.format_text``: problem, newline, each step followed by the step
separator), and the result loads with ``AutoModelForTokenClassification`` like any
Hugging Face base. A build takes 5-6 minutes on 2 cores and is cached by the caller.
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from . import domain

CLS, SEP, PAD, MASK, UNK = "[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]"
MARKER = "stepwise_demo_base.json"


@dataclass
class BaseConfig:
    steps: int = 1000
    layers: int = 4
    width: int = 128
    heads: int = 4
    batch_size: int = 64
    lr: float = 1e-3
    mask_rate: float = 0.2
    seed: int = 0
    train_problems: int = 20000
    max_ops: int = 4
    causal: bool = False  # a GPT-2 decoder trained to predict every token, instead of BERT


def corpus(config: BaseConfig) -> list[str]:
    """Correct solutions only, in the PRM input format: no labels, no wrong steps."""
    from training.data import DEFAULT_SEPARATOR, format_text

    rng = random.Random(config.seed)
    texts = []
    for _ in range(config.train_problems):
        problem = domain.random_problem(rng, min_ops=2, max_ops=config.max_ops)
        texts.append(format_text(problem.statement, domain.correct_steps(problem), DEFAULT_SEPARATOR))
    return texts


def build_tokenizer(texts: list[str]):
    """Word-level: every word, number and symbol one token; numbers -99..199 always known."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from training.data import DEFAULT_SEPARATOR

    tok = Tokenizer(models.WordLevel(unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece()  # joins tokens with spaces
    special = [PAD, UNK, CLS, SEP, MASK, DEFAULT_SEPARATOR]
    numbers = [str(n) for n in range(200)]
    # Words are learned with the separator cut out: glued to its neighbours ("<|step|>#") it
    # would hide them; at use it is a special token, split off before the words.
    words = [text.replace(DEFAULT_SEPARATOR, " ") for text in texts] + [" ".join(numbers)]
    tok.train_from_iterator(words, trainers.WordLevelTrainer(special_tokens=special))
    tok.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B {SEP}",
        special_tokens=[(CLS, tok.token_to_id(CLS)), (SEP, tok.token_to_id(SEP))])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token=UNK, pad_token=PAD, cls_token=CLS, sep_token=SEP,
        mask_token=MASK, additional_special_tokens=[DEFAULT_SEPARATOR], model_max_length=256)


def _mask(input_ids, special_ids, mask_id: int, vocab_size: int, rate: float, generator):
    """BERT's recipe: ``rate`` of the ordinary tokens are predicted; of those 80% become
    [MASK], 10% a random token, 10% stay. The random 10% is what makes the encoder judge
    every visible token against its context, the skill a verifier builds on."""
    import torch

    labels = input_ids.clone()
    special = torch.isin(input_ids, torch.tensor(sorted(special_ids)))
    chosen = (torch.rand(input_ids.shape, generator=generator) < rate) & ~special
    labels[~chosen] = -100
    masked = input_ids.clone()
    roll = torch.rand(input_ids.shape, generator=generator)
    masked[chosen & (roll < 0.8)] = mask_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    ordinary = torch.tensor(sorted(set(range(vocab_size)) - set(special_ids)))
    picks = torch.randint(0, len(ordinary), input_ids.shape, generator=generator)
    masked[swap] = ordinary[picks[swap]]
    return masked, labels


def train_demo_base(out_dir: Path, config: BaseConfig = BaseConfig(), log=print) -> dict:
    import torch
    from transformers import BertConfig, BertForMaskedLM, GPT2Config, GPT2LMHeadModel

    torch.manual_seed(config.seed)
    torch.set_num_threads(max(1, int(os.environ.get("STEPWISE_TORCH_THREADS", "1"))))
    texts = corpus(config)
    tokenizer = build_tokenizer(texts)
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    input_ids, attention = encoded["input_ids"], encoded["attention_mask"]
    if config.causal:
        model = GPT2LMHeadModel(GPT2Config(
            vocab_size=len(tokenizer), n_embd=config.width, n_layer=config.layers,
            n_head=config.heads, n_positions=256, pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id))
    else:
        model = BertForMaskedLM(BertConfig(
            vocab_size=len(tokenizer), hidden_size=config.width, num_hidden_layers=config.layers,
            num_attention_heads=config.heads, intermediate_size=4 * config.width,
            max_position_embeddings=256, pad_token_id=tokenizer.pad_token_id,
        ))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps,
                                                pct_start=0.1)
    generator = torch.Generator().manual_seed(config.seed)
    special_ids = set(tokenizer.all_special_ids)
    model.train()
    started = time.monotonic()
    for step in range(config.steps):
        idx = torch.randint(0, input_ids.shape[0], (config.batch_size,), generator=generator)
        width = int(attention[idx].sum(1).max())
        if config.causal:  # next-token prediction everywhere but on padding
            ids = input_ids[idx, :width]
            labels = ids.masked_fill(attention[idx, :width] == 0, -100)
        else:
            ids, labels = _mask(input_ids[idx, :width], special_ids, tokenizer.mask_token_id,
                                len(tokenizer), config.mask_rate, generator)
        loss = model(input_ids=ids.to(device), attention_mask=attention[idx, :width].to(device),
                     labels=labels.to(device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 250 == 0 or step == config.steps - 1:
            log(f"step {step + 1}/{config.steps} LM loss {loss.item():.3f}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.cpu().save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return {"train_seconds": round(time.monotonic() - started, 1),
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tokenizer), "config": asdict(config)}


def masked_number_accuracy(path: Path, n_problems: int = 200, seed: int = 7) -> float:
    """Share of step results the encoder fills in right when each is masked alone."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from training.data import DEFAULT_SEPARATOR, format_text

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForMaskedLM.from_pretrained(path).eval()
    rng = random.Random(10_000 + seed)
    right = total = 0
    for _ in range(n_problems):
        problem = domain.random_problem(rng, min_ops=2, max_ops=4)
        steps = domain.correct_steps(problem)
        k = rng.randrange(len(problem.ops))
        result = steps[k].rsplit(" ", 1)[1]
        steps[k] = steps[k].rsplit(" ", 1)[0] + f" {tokenizer.mask_token}"
        enc = tokenizer(format_text(problem.statement, steps, DEFAULT_SEPARATOR), return_tensors="pt")
        with torch.no_grad():
            logits = model(**enc).logits[0]
        pos = int((enc["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0])
        right += tokenizer.convert_ids_to_tokens(int(logits[pos].argmax())) == result
        total += 1
    return right / total


def ensure_demo_base(out_dir: Path, config: BaseConfig = BaseConfig(), *,
                        force: bool = False, log=print) -> dict:
    """Build unless a complete one is cached at ``out_dir`` (the marker is written last)."""
    out_dir = Path(out_dir)
    marker = out_dir / MARKER
    if marker.exists() and not force:
        return {"cached": True, **json.loads(marker.read_text())}
    stats = train_demo_base(out_dir, config, log=log)
    if not config.causal:
        stats["masked_result_accuracy"] = masked_number_accuracy(out_dir)
    marker.write_text(json.dumps(stats, indent=2))
    return {"cached": False, **stats}
