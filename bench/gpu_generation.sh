#!/usr/bin/env bash
# The GPU check of the generation backends (docs/performance.md, "Generation engines"):
# vLLM against transformers on solutions, and vLLM's prefix caching on against off on
# rollouts, on a Qwen2-1.5B-shaped model with random weights. Under 8 minutes on one H200.
#   bash bench/gpu_generation.sh OUT_DIR
# GEN_SMOKE=1 runs a tiny model on the CPU: a check of the script up to where it needs CUDA.
set -uo pipefail
out=${1:?output folder}
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
mkdir -p "$out"
shape=qwen2-1.5b; device=cuda; tiny=()
if [ -n "${GEN_SMOKE:-}" ]; then shape=tiny; device=cpu; tiny=(--tiny); fi
"$py" bench/gpu_generation.py build --shape "$shape" --out "$out/model" || exit 1
phase() {  # engine work prefix-caching
  timeout 240 "$py" bench/gpu_generation.py phase --engine "$1" --work "$2" --prefix-caching "$3" \
    --model "$out/model" --device "$device" "${tiny[@]}" --json "$out/$1-$2-$3.json" \
    > "$out/$1-$2-$3.log" 2>&1 || echo "phase $1 $2 $3 failed: see $out/$1-$2-$3.log"
}
phase transformers solutions off
phase transformers rollouts off
phase vllm solutions on
phase vllm rollouts on
phase vllm rollouts off
"$py" bench/gpu_generation.py report "$out"/*.json | tee "$out/report.txt"
