"""The report of bench/gpu_all.sh: its results.jsonl as tables and the ratios its targets name
(docs/performance.md, "The GPU check").

    python bench/gpu_report.py OUT/results.jsonl
"""

from __future__ import annotations

import json
import sys


def main(path: str) -> None:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    for r in rows:
        if "skipped" in r:
            print(f"skipped {r['phase']}/{r.get('step') or r.get('engine')}: {r['skipped']}")
    done = [r for r in rows if "skipped" not in r]
    gen = {(r["engine"], r["work"], r["prefix_caching"]): r for r in done if r["phase"] == "generation"}
    for (engine, work, cache), r in gen.items():
        print(f"generation {engine:12s} {work:9s} prefix cache {cache:3s} "
              f"{r['tokens_per_s']:10.0f} tokens/s {r['samples_per_s']:8.1f} samples/s")

    def ratio(a, b, what):
        if a in gen and b in gen:
            print(f"{what}: {gen[a]['tokens_per_s'] / gen[b]['tokens_per_s']:.1f}x")

    ratio(("vllm", "solutions", "on"), ("transformers", "solutions", "off"),
          "vLLM / transformers on solutions (target >= 10x)")
    ratio(("vllm", "rollouts", "on"), ("vllm", "rollouts", "off"),
          "vLLM prefix caching on / off on rollouts (target >= 2x)")
    ratio(("vllm", "rollouts", "on"), ("transformers", "rollouts", "off"),
          "vLLM / transformers on rollouts")
    scoring = {r["engine"]: r for r in done if r["phase"] == "scoring"}
    for engine, r in scoring.items():
        diff = r.get("max_diff_p_good")
        print(f"scoring {engine:12s} {r['steps_per_s']:10.0f} steps/s"
              + (f", largest P(good) difference from the other engine {diff:.4f}" if diff is not None else ""))
    if {"vllm", "transformers"} <= scoring.keys():
        print(f"vLLM / transformers scoring: "
              f"{scoring['vllm']['steps_per_s'] / scoring['transformers']['steps_per_s']:.1f}x")
    training = [r for r in done if r["phase"] == "training"]
    for r in training:
        lora = f" LoRA r{r['lora']}" if r["lora"] else ""
        print(f"training {r['trainer']:8s} {r['shape']}{lora}: {r['tokens_per_s']} tokens/s, "
              f"peak {r['peak_gib']} GiB ({r['device']})")
    by = {(r["trainer"], r["shape"]): r for r in training if not r["lora"]}
    for (trainer, shape), s in by.items():
        t = by.get(("trl", shape))
        if trainer == "stepwise" and t and s["tokens_per_s"] and t["tokens_per_s"]:
            mem = (f", memory {s['peak_gib'] / t['peak_gib']:.2f}x" if s["peak_gib"] and t["peak_gib"] else "")
            print(f"{shape}: Stepwise / TRL throughput {s['tokens_per_s'] / t['tokens_per_s']:.2f}x{mem} "
                  "(target >= 1.0x, no more memory)")


if __name__ == "__main__":
    main(sys.argv[1])
