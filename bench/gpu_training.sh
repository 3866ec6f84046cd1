#!/usr/bin/env bash
# Stepwise's trainer against TRL 1.13's PRMTrainer on one GPU, both at TRL's defaults (bf16,
# activation checkpointing), on random-weight Qwen2-shaped bases of 0.5B and 1.5B parameters:
# tokens/s and peak GPU memory. Then the peak memory of a LoRA run (rank 16) on a 7B-shaped base.
# Each case runs in a process of its own; results go to OUT/results.jsonl. Under 8 minutes on
# an H200 (each case is cut at CASE_SECONDS).
#   bash bench/gpu_training.sh OUT_DIR            # on a CUDA machine
#   bash bench/gpu_training.sh OUT_DIR --dry-run  # on a CPU: the tiny shape, no peak memory
# TRL 1.13 (the last release with PRMTrainer) must be importable by TRL_PYTHON (default: the
# bench venv of bench/setup_trl_venv.sh, else PYTHON); without it the TRL cases are skipped
# with a line saying so. Nothing is downloaded: a machine with no network needs it installed.
set -uo pipefail
out=${1:?output folder}; mode=${2:-}
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
trl_py=${TRL_PYTHON:-/tmp/stepwise-venv-bench/bin/python}
[ -x "$trl_py" ] || trl_py=$py
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
case_seconds=${CASE_SECONDS:-150}
mkdir -p "$out"; : > "$out/results.jsonl"
if [ "$mode" != "--dry-run" ] && ! "$py" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
  echo "no CUDA device: run with --dry-run on a CPU"; exit 2
fi
have_trl=1
"$trl_py" -c "from trl.experimental.prm import PRMTrainer" 2>/dev/null || {
  have_trl=0; echo "TRL 1.13 is not importable by $trl_py: the TRL cases are skipped"; }

one() {  # name, python, then gpu_training.py arguments
  local name=$1 python=$2; shift 2
  echo "== $name"
  if timeout "$case_seconds" "$python" bench/gpu_training.py --workdir "$out/work" $mode "$@" \
       > "$out/$name.log" 2>&1; then
    tail -n 1 "$out/$name.log" | tee -a "$out/results.jsonl"
  else
    echo "$name failed or ran past ${case_seconds}s; see $out/$name.log" | tee -a "$out/failures.txt"
  fi
}

if [ "$mode" = "--dry-run" ]; then shapes="tiny"; else shapes="0.5b 1.5b"; fi
for shape in $shapes; do
  one "stepwise-$shape" "$py" --shape "$shape" --trainer stepwise
  [ "$have_trl" = 1 ] && one "trl-$shape" "$trl_py" --shape "$shape" --trainer trl
done
if [ "$mode" = "--dry-run" ]; then
  one "stepwise-lora-tiny" "$py" --shape tiny --trainer stepwise --lora 16
else
  one "stepwise-lora-7b" "$py" --shape 7b --trainer stepwise --lora 16 --batch 4 --seq 2048 --steps 12 --warmup 3
fi
rm -rf "$out/work"

"$py" - "$out/results.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {(r["trainer"], r["shape"], r["lora"]): r for r in rows}
print("| base | trainer | tokens/s | peak GiB |")
for r in rows:
    print(f"| {r['shape']}{' LoRA r' + str(r['lora']) if r['lora'] else ''} | {r['trainer']} | "
          f"{r['tokens_per_s']} | {r['peak_gib']} |")
for shape in ("tiny", "0.5b", "1.5b"):
    s, t = by.get(("stepwise", shape, 0)), by.get(("trl", shape, 0))
    if s and t and s["tokens_per_s"] and t["tokens_per_s"]:
        mem = (f", memory {s['peak_gib'] / t['peak_gib']:.2f}x" if s["peak_gib"] and t["peak_gib"] else "")
        print(f"{shape}: Stepwise/TRL throughput {s['tokens_per_s'] / t['tokens_per_s']:.2f}x{mem}")
PY
