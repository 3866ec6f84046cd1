"""PRM scoring on one GPU: vLLM's pooling runner against transformers, on a token-classification
PRM as Stepwise trains it (``BertForTokenClassification``, labels bad/good, one ``<|step|>``
token after each step), with random weights (throughput does not depend on them). Both score
the same solutions; the report gives steps/s and the largest difference in P(good).

vLLM scores as in docs/workers.md: ``runner="pooling"``, ``convert="classify"`` and a STEP
pooler on the step token, ``encode(..., pooling_task="token_classify")`` returning one
``[P(bad), P(good)]`` per step token.

    python bench/gpu_scoring.py build --shape bert-large --out DIR
    python bench/gpu_scoring.py phase --engine transformers|vllm --model DIR --scores OUT.json

Each phase prints one JSON line (``{"phase": "scoring", ...}``); ``--tiny --device cpu``
checks the transformers side on a CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

STEP = "<|step|>"
SHAPES = {  # hidden, layers, heads, intermediate, vocab
    "bert-large": (1024, 24, 16, 4096, 30522),
    "tiny": (64, 2, 4, 128, 4096),
}
WORK = dict(solutions=1024, steps=8, step_words=40, problem_words=60, batch=64)
TINY_WORK = dict(solutions=16, steps=3, step_words=8, problem_words=10, batch=8)
COMPARED = 64  # solutions whose scores both engines save


def build(shape: str, out: Path) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

    hidden, layers, heads, inter, vocab = SHAPES[shape]
    words = {"[PAD]": 0, "[UNK]": 1, **{f"w{i}": i for i in range(2, vocab)}, STEP: vocab}
    tok = Tokenizer(models.WordLevel(words, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    config = BertConfig(vocab_size=vocab + 1, hidden_size=hidden, num_hidden_layers=layers,
                        num_attention_heads=heads, intermediate_size=inter,
                        max_position_embeddings=1024, num_labels=2,
                        id2label={0: "bad", 1: "good"}, label2id={"bad": 0, "good": 1})
    torch.manual_seed(0)
    model = BertForTokenClassification(config)
    model.save_pretrained(out)
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]",
                            additional_special_tokens=[STEP]).save_pretrained(out)
    print(f"built {shape}: {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters")


def solutions(work: dict, vocab: int) -> list[str]:
    rng = random.Random(0)
    words = lambda k: " ".join(f"w{rng.randrange(2, vocab)}" for _ in range(k))  # noqa: E731
    return [words(work["problem_words"]) + " "
            + " ".join(f"{words(work['step_words'])} {STEP}" for _ in range(work["steps"]))
            for _ in range(work["solutions"])]


def token_ids(model_dir: str, texts: list[str]) -> tuple[list[list[int]], int]:
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(Path(model_dir) / "tokenizer.json"),
                                  unk_token="[UNK]", pad_token="[PAD]")
    return [tok(t)["input_ids"] for t in texts], tok.convert_tokens_to_ids(STEP)


def run_transformers(model_dir, ids, step_id, work, device) -> tuple[dict, list]:
    import torch
    from transformers import AutoModelForTokenClassification

    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForTokenClassification.from_pretrained(model_dir, dtype=dtype).to(device)
    model.eval()

    def score(chunk):
        width = max(len(x) for x in chunk)
        batch = torch.tensor([x + [0] * (width - len(x)) for x in chunk], device=device)
        mask = (batch != 0).long()
        with torch.inference_mode():
            probs = model(input_ids=batch, attention_mask=mask).logits.float().softmax(-1)
        return [probs[i][batch[i] == step_id].tolist() for i in range(len(chunk))]

    score(ids[:2])  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started, scores = time.perf_counter(), []
    for i in range(0, len(ids), work["batch"]):
        scores += score(ids[i:i + work["batch"]])
    if device == "cuda":
        torch.cuda.synchronize()
    return {"seconds": time.perf_counter() - started}, scores


def run_vllm(model_dir, ids, step_id, work) -> tuple[dict, list]:
    import vllm
    from vllm.config import PoolerConfig

    llm = vllm.LLM(model=model_dir, runner="pooling", convert="classify", dtype="bfloat16",
                   skip_tokenizer_init=True, gpu_memory_utilization=0.5, seed=0,
                   pooler_config=PoolerConfig(pooling_type="STEP", step_tag_id=step_id))
    prompts = [{"prompt_token_ids": x} for x in ids]
    llm.encode(prompts[:2], pooling_task="token_classify", use_tqdm=False)  # warm-up
    started = time.perf_counter()
    outs = llm.encode(prompts, pooling_task="token_classify", use_tqdm=False)
    seconds = time.perf_counter() - started
    return {"seconds": seconds}, [o.outputs.data.float().tolist() for o in outs]


def phase(args) -> None:
    import importlib.util

    work = TINY_WORK if args.tiny else WORK
    vocab = json.loads((Path(args.model) / "config.json").read_text())["vocab_size"] - 1
    ids, step_id = token_ids(args.model, solutions(work, vocab))
    result = {"phase": "scoring", "engine": args.engine, "solutions": len(ids),
              "steps": len(ids) * work["steps"]}
    if args.engine == "vllm" and importlib.util.find_spec("vllm") is None:
        result["skipped"] = "vLLM is not installed here (locks/requirements-vllm.txt)"
    else:
        timing, scores = (run_vllm(args.model, ids, step_id, work) if args.engine == "vllm"
                          else run_transformers(args.model, ids, step_id, work, args.device))
        result.update(timing, steps_per_s=result["steps"] / timing["seconds"])
        Path(args.scores).write_text(json.dumps(scores[:COMPARED]))
        others = Path(args.scores).parent.glob("scores-*.json")
        for other in (p for p in others if p != Path(args.scores)):  # the other engine's
            theirs = json.loads(other.read_text())
            result["max_diff_p_good"] = max(
                (abs(a[1] - b[1]) for s, t in zip(scores, theirs) for a, b in zip(s, t)),
                default=None)
    print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--shape", choices=SHAPES, default="bert-large")
    b.add_argument("--out", required=True)
    p = sub.add_parser("phase")
    p.add_argument("--engine", choices=("vllm", "transformers"), required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--scores", required=True, help="where this engine's first scores go")
    p.add_argument("--device", default="cuda")
    p.add_argument("--tiny", action="store_true", help="a few short solutions (a CPU check)")
    args = parser.parse_args()
    if args.command == "build":
        build(args.shape, Path(args.out))
    else:
        phase(args)


if __name__ == "__main__":
    sys.exit(main())
