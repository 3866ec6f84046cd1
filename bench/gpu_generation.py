"""Generation engines on one GPU: vLLM against transformers' ``generate``, and vLLM's prefix
caching on against off for Monte Carlo rollouts (many samples from prefixes that share a
long problem and solution so far).

A Qwen2-shaped model with random weights (throughput does not depend on the weights) and a
word-level tokenizer of the same vocabulary are built offline; outputs run to a fixed
length (``ignore_eos`` in vLLM, ``min_new_tokens`` in transformers). Requests are shaped as
the Stepwise backends send them: one request per prompt carrying ``n``, a seed per request.
Each engine configuration runs in a process of its own so GPU memory starts clean.
Needs no Django, so it runs in any CUDA environment with torch and transformers; the vLLM
phases need vLLM (requirements-vllm.txt) and are reported as missing without it.

    python bench/gpu_generation.py build  --shape qwen2-1.5b --out DIR
    python bench/gpu_generation.py phase  --engine vllm|transformers --work solutions [rollouts]
                                          --model DIR [--prefix-caching on|off] [--max-calls K]

Each phase prints one JSON line per work (``{"phase": "generation", ...}``). The generation
phase of ``bench/gpu_all.sh`` runs them; ``--shape tiny --device cpu --tiny`` checks the
script on a CPU up to the point where it needs CUDA.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SHAPES = {
    # Qwen2-1.5B's shape: 1.54B parameters with its 151,936-token vocabulary.
    "qwen2-1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                       num_attention_heads=12, num_key_value_heads=2, vocab_size=151936),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, vocab_size=4096),
}
WORK = {  # prompts, samples per prompt, prompt words, new tokens
    "solutions": dict(prompts=128, n=4, prompt_words=120, new_tokens=512),
    "rollouts": dict(prompts=32, n=16, prompt_words=1500, new_tokens=256),
}
TINY_WORK = {"solutions": dict(prompts=4, n=2, prompt_words=20, new_tokens=16),
             "rollouts": dict(prompts=4, n=4, prompt_words=60, new_tokens=16)}


def build(shape: str, out: Path) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast, Qwen2Config

    dims = SHAPES[shape]
    vocab = {"<unk>": 0, "<eos>": 1, **{f"w{i}": i for i in range(2, dims["vocab_size"])}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>",
                                   pad_token="<unk>")
    config = Qwen2Config(**dims, max_position_embeddings=4096, bos_token_id=1, eos_token_id=1,
                         torch_dtype="bfloat16")
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(out)
    fast.save_pretrained(out)
    params = sum(p.numel() for p in model.parameters())
    print(f"built {shape}: {params / 1e9:.2f}B parameters in {out}")


def prompts_for(work: dict, shared_prefix: bool) -> list[str]:
    """Solutions: distinct problems. Rollouts: one problem and solution so far, each prompt
    one step longer than the last, as Monte Carlo labels ask (their prefixes share)."""
    import random

    rng = random.Random(0)
    words = lambda k: " ".join(f"w{rng.randrange(2, 4000)}" for _ in range(k))  # noqa: E731
    if not shared_prefix:
        return [words(work["prompt_words"]) for _ in range(work["prompts"])]
    base, step = words(work["prompt_words"]), []
    out = []
    for _ in range(work["prompts"]):
        step.append(words(24))
        out.append(base + " " + " ".join(step))
    return out


def word_tokenizer(model_dir: str):
    """The word-level tokenizer, loaded as itself: AutoTokenizer would build the model type's
    own (Qwen2's) tokenizer class around it."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(tokenizer_file=str(Path(model_dir) / "tokenizer.json"),
                                   unk_token="<unk>", eos_token="<eos>", pad_token="<unk>")


def vllm_engine(model: str, prefix_caching: bool):
    """One engine per process, for every work of the phase (its start-up is the slow part)."""
    import vllm

    # Token ids in, token ids out: the engine needs no tokenizer of its own.
    return vllm.LLM(model=model, dtype="bfloat16", enable_prefix_caching=prefix_caching,
                    gpu_memory_utilization=0.85, seed=0, skip_tokenizer_init=True)


def run_vllm(llm, model: str, prompts, work) -> dict:
    import vllm

    tok = word_tokenizer(model)
    prompts = [{"prompt_token_ids": tok(p)["input_ids"]} for p in prompts]
    params = [vllm.SamplingParams(n=work["n"], max_tokens=work["new_tokens"], temperature=1.0,
                                  top_p=1.0, seed=i, ignore_eos=True, detokenize=False)
              for i in range(len(prompts))]
    llm.generate(prompts[:2], params[:2], use_tqdm=False)  # warm-up (graphs, kernels)
    started = time.perf_counter()
    outs = llm.generate(prompts, params, use_tqdm=False)
    seconds = time.perf_counter() - started
    return {"tokens": sum(len(c.token_ids) for o in outs for c in o.outputs),
            "samples": sum(len(o.outputs) for o in outs), "seconds": seconds}


def run_transformers(model_dir: str, prompts, work, device: str, batch: int,
                     max_calls: int = 0) -> dict:
    import torch
    from transformers import AutoModelForCausalLM

    tok = word_tokenizer(model_dir)
    tok.padding_side = "left"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype).to(device).eval()
    per_call = max(1, batch // work["n"])  # as the transformers backend batches
    if max_calls:  # tokens/s is per call: a few calls measure it in less time
        prompts = prompts[:per_call * max_calls]

    def generate(chunk, seed):
        torch.manual_seed(seed)
        enc = tok(chunk, return_tensors="pt", padding=True).to(device)
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0,
                                 num_return_sequences=work["n"], max_new_tokens=work["new_tokens"],
                                 min_new_tokens=work["new_tokens"], pad_token_id=tok.pad_token_id)
        return (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0], out.shape[0]

    generate(prompts[:1], 0)  # warm-up
    if device == "cuda":
        torch.cuda.synchronize()
    started, tokens, samples = time.perf_counter(), 0, 0
    for i in range(0, len(prompts), per_call):
        t, s = generate(prompts[i:i + per_call], i)
        tokens, samples = tokens + t, samples + s
    if device == "cuda":
        torch.cuda.synchronize()
    return {"tokens": tokens, "samples": samples, "seconds": time.perf_counter() - started}


def phase(args) -> None:
    import importlib.util

    llm = None
    for name in args.work:
        work = (TINY_WORK if args.tiny else WORK)[name]
        prompts = prompts_for(work, shared_prefix=name == "rollouts")
        result = {"phase": "generation", "engine": args.engine, "work": name,
                  "prefix_caching": args.prefix_caching, **work}
        if args.engine == "vllm":
            if importlib.util.find_spec("vllm") is None:
                result["skipped"] = "vLLM is not installed here (locks/requirements-vllm.txt)"
            else:
                llm = llm or vllm_engine(args.model, args.prefix_caching == "on")
                result.update(run_vllm(llm, args.model, prompts, work))
        else:
            result.update(run_transformers(args.model, prompts, work, args.device, args.batch,
                                           args.max_calls))
        if "seconds" in result:
            result["tokens_per_s"] = result["tokens"] / result["seconds"]
            result["samples_per_s"] = result["samples"] / result["seconds"]
        print(json.dumps(result), flush=True)
    del llm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--shape", choices=SHAPES, default="qwen2-1.5b")
    b.add_argument("--out", required=True)
    p = sub.add_parser("phase")
    p.add_argument("--engine", choices=("vllm", "transformers"), required=True)
    p.add_argument("--work", choices=WORK, nargs="+", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--prefix-caching", choices=("on", "off"), default="off")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=64, help="sequences per generate call")
    p.add_argument("--max-calls", type=int, default=0, help="transformers: at most K calls")
    p.add_argument("--tiny", action="store_true", help="a few prompts and tokens (a CPU check)")
    args = parser.parse_args()
    if args.command == "build":
        build(args.shape, Path(args.out))
    else:
        phase(args)


if __name__ == "__main__":
    sys.exit(main())
