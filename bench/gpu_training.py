"""One GPU training measurement: Stepwise's trainer or TRL 1.13's PRMTrainer, both at TRL's
defaults (bf16 mixed precision, activation checkpointing), on a random-weight Qwen2-shaped
base; prints one JSON line with tokens/s and peak GPU memory. The training phase of
``bench/gpu_all.sh`` runs each case in a process of its own so each peak is its own.

    python bench/gpu_training.py --shape 0.5b --trainer stepwise
    python bench/gpu_training.py --shape 7b --trainer stepwise --lora 16
    python bench/gpu_training.py --dry-run --trainer stepwise   # CPU: a tiny shape, no peak

Throughput is steady-state: labeled-example tokens of the optimizer steps after the first
``--warmup`` ones, over their time (a callback both trainers take), so model loading and
Stepwise's epoch-end checkpoint are outside it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from training.data import DEFAULT_SEPARATOR, StepExample  # noqa: E402

SHAPES = {  # Qwen2.5 shapes (hidden, layers, heads, kv heads, intermediate, vocab)
    "tiny": (64, 2, 4, 2, 128, 4096),
    "0.5b": (896, 24, 14, 2, 4864, 151936),
    "1.5b": (1536, 28, 12, 2, 8960, 151936),
    "7b": (3584, 28, 28, 4, 18944, 152064),
}


def build_base(path: Path, shape: str) -> str:
    """Random bf16 weights of the shape and a word-level tokenizer over its vocabulary."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2Model

    if (path / "config.json").exists():
        return str(path)
    hidden, layers, heads, kv, inter, vocab = SHAPES[shape]
    words = ["[PAD]", "[UNK]", *[f"w{i}" for i in range(vocab - 16)]]
    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    config = Qwen2Config(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv,
                         intermediate_size=inter, max_position_embeddings=4096)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = Qwen2Model(config).to(torch.bfloat16)
    path.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(path)
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                            eos_token="[PAD]").save_pretrained(path)
    del model
    return str(path)


def examples(n: int, seq: int, vocab: int, seed: int = 0) -> list[StepExample]:
    """Solutions of about ``seq`` tokens: a 64-token prompt and steps of 40-120 tokens."""
    rng = random.Random(seed)
    word = lambda: f"w{rng.randrange(vocab - 16)}"  # noqa: E731
    out = []
    for i in range(n):
        steps, budget = [], seq - 64
        while budget > 50:
            k = min(budget - 1, rng.randint(40, 120))
            steps.append(" ".join(word() for _ in range(k)))
            budget -= k + 1
        labels = [int(rng.random() > 0.3) for _ in steps]
        out.append(StepExample(group=f"p{i}", prompt=" ".join(word() for _ in range(64)),
                               steps=steps, labels=labels))
    return out


def steady_clock(warmup: int):
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        start = end = None
        steps = 0

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup:
                self._sync()
                self.start = time.perf_counter()
            elif state.global_step > warmup:
                self._sync()
                self.end, self.steps = time.perf_counter(), state.global_step - warmup

        @staticmethod
        def _sync():
            import torch

            if torch.cuda.is_available():
                torch.cuda.synchronize()

    return Clock()


def run_stepwise(data, base, out, args, clock):
    from training.config import TrainConfig
    from training.trainer import train

    cfg = TrainConfig(epochs=1, batch_size=args.batch, max_length=args.seq, learning_rate=1e-5,
                      val_fraction=0.0, early_stopping_patience=0, after_first_error="keep",
                      precision="bf16", activation_checkpointing="on", lora_rank=args.lora,
                      lora_save="adapter")
    train(data, base, out, cfg, callbacks=[clock])


def run_trl(data, base, out, args, clock):
    import torch
    from datasets import Dataset
    from trl.experimental.prm import PRMConfig, PRMTrainer

    from training.trainer import load_base

    model, tokenizer = load_base(base, DEFAULT_SEPARATOR)
    model = model.float()  # as Stepwise: fp32 master weights, bf16 autocast
    rows = [{"prompt": e.prompt, "completions": e.steps, "labels": [bool(v) for v in e.labels]}
            for e in data]
    # TRL's defaults (bf16, activation checkpointing, dropout off); batch and length as Stepwise.
    trl_args = PRMConfig(output_dir=str(out), per_device_train_batch_size=args.batch,
                         num_train_epochs=1, learning_rate=1e-5, max_length=args.seq,
                         step_separator=DEFAULT_SEPARATOR, save_strategy="no", report_to=[],
                         use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0)
    trainer = PRMTrainer(model=model, args=trl_args, train_dataset=Dataset.from_list(rows),
                         processing_class=tokenizer, callbacks=[clock])
    trainer.train()


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=tuple(SHAPES), default="0.5b")
    parser.add_argument("--trainer", choices=("stepwise", "trl"), default="stepwise")
    parser.add_argument("--lora", type=int, default=0, help="LoRA rank (Stepwise only)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps measured + warmup")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--dry-run", action="store_true",
                        help="on CPU: the tiny shape, 4 steps, no peak memory")
    parser.add_argument("--workdir", default="/tmp/stepwise-gpu-training")
    args = parser.parse_args()
    if args.dry_run:
        args.shape, args.batch, args.seq, args.steps, args.warmup = "tiny", 2, 256, 5, 1
    elif not torch.cuda.is_available():
        sys.exit("gpu_training.py needs CUDA (use --dry-run on a CPU machine)")
    work = Path(args.workdir)
    base = build_base(work / f"base-{args.shape}", args.shape)
    data = examples(args.steps * args.batch, args.seq, SHAPES[args.shape][5])
    tokens_per_example = sum(len(e.prompt.split()) + sum(len(s.split()) + 1 for s in e.steps)
                             for e in data) / len(data)
    clock = steady_clock(args.warmup)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    out = work / f"out-{args.trainer}-{args.shape}-{args.lora}"
    (run_trl if args.trainer == "trl" else run_stepwise)(data, base, out, args, clock)
    seconds = (clock.end - clock.start) if clock.start and clock.end else None
    tokens_per_s = (clock.steps * args.batch * tokens_per_example / seconds) if seconds else None
    peak = torch.cuda.max_memory_allocated() / 2 ** 30 if torch.cuda.is_available() else None
    print(json.dumps({"phase": "training", "trainer": args.trainer, "shape": args.shape, "lora": args.lora,
                      "batch": args.batch, "seq": args.seq, "steps_timed": clock.steps,
                      "tokens_per_s": None if tokens_per_s is None else round(tokens_per_s, 1),
                      "peak_gib": None if peak is None else round(peak, 2),
                      "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"}))


if __name__ == "__main__":
    main()
