#!/usr/bin/env bash
# The GPU check, one script on one GPU, under 8 minutes (docs/performance.md, "The GPU check"):
#   generation  vLLM against transformers' generate, and vLLM's prefix caching on against off
#               (bench/gpu_generation.py, a Qwen2-1.5B-shaped model)
#   scoring     vLLM's pooling runner against transformers on a token-classification PRM
#               (bench/gpu_scoring.py, a BERT-large-shaped PRM)
#   training    Stepwise's trainer in bf16 (against TRL 1.13 where it is importable), and a
#               LoRA run on a 7B-shaped base (bench/gpu_training.py)
# Each phase has a share of the time budget and each step a timeout within it; a phase whose
# package (CUDA, vLLM, TRL) is missing says so and skips. Every result and skip is one JSON
# line of OUT/results.jsonl; the report is printed at the end.
#   bash bench/gpu_all.sh OUT_DIR            # a CUDA machine
#   bash bench/gpu_all.sh OUT_DIR --check    # anywhere: which phases would run, which skip
#   bash bench/gpu_all.sh OUT_DIR --smoke    # a CPU: tiny shapes through the transformers steps
# PYTHON runs the transformers and training steps, VLLM_PYTHON the vLLM ones (default PYTHON;
# e.g. .venv-vllm/bin/python), TRL_PYTHON the TRL case (bench/setup_trl_venv.sh's venv).
# Phase budgets in seconds: GEN_S (210), SCORE_S (90), TRAIN_S (170): 470 s in all.
set -uo pipefail
out=${1:?output folder}; mode=${2:-}
case "$mode" in ""|--check|--smoke) ;; *) echo "unknown mode $mode (--check or --smoke)" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
default_py=python3; [ -x .venv/bin/python ] && default_py=.venv/bin/python
py=${PYTHON:-$default_py}
vllm_py=${VLLM_PYTHON:-$py}
trl_py=${TRL_PYTHON:-/tmp/stepwise-venv-bench/bin/python}
[ -x "$trl_py" ] || trl_py=$py
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false TRL_EXPERIMENTAL_SILENCE=1
mkdir -p "$out"; results="$out/results.jsonl"; : > "$results"

has() { "$1" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('$2') is None)" 2>/dev/null; }
cuda=0; "$py" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null && cuda=1
vllm=0; [ "$cuda" = 1 ] || [ "$mode" = --check ] && has "$vllm_py" vllm && vllm=1
trl=0; "$trl_py" -c "from trl.experimental.prm import PRMTrainer" 2>/dev/null && trl=1
device=cuda; [ "$mode" = --smoke ] && device=cpu

note() {  # phase, step, why: a skip, on the screen and in the results
  echo "SKIP $1/$2: $3"
  "$py" -c "import json, sys; print(json.dumps({'phase': sys.argv[1], 'step': sys.argv[2], 'skipped': sys.argv[3]}))" \
    "$1" "$2" "$3" >> "$results"
}
phase_end=0
begin() {  # phase, budget seconds: whether the phase runs (else its skip line)
  echo "== phase $1 (budget ${2}s)"
  phase_end=$((SECONDS + $2))
  if [ "$device" = cuda ] && [ "$cuda" = 0 ]; then note "$1" all "no CUDA device (torch.cuda.is_available() is False for $py)"; return 1; fi
  return 0
}
step() {  # phase, step, cap seconds, python, arguments...: runs it within the phase's budget
  local phase=$1 name=$2 cap=$3 python=$4; shift 4
  local left=$((phase_end - SECONDS)); [ "$left" -lt "$cap" ] && cap=$left
  if [ "$mode" = --check ]; then echo "RUN  $phase/$name (up to ${cap}s)"; return 0; fi
  if [ "$cap" -lt 15 ]; then note "$phase" "$name" "out of the phase's time budget"; return 1; fi
  echo "RUN  $phase/$name (up to ${cap}s)"
  if timeout "$cap" "$python" "$@" > "$out/$phase-$name.log" 2>&1; then
    grep '^{"phase"' "$out/$phase-$name.log" >> "$results"; return 0
  fi
  note "$phase" "$name" "failed or ran past ${cap}s: see $out/$phase-$name.log"; return 1
}
[ "$mode" = --check ] && [ "$cuda" = 0 ] && echo "(--check on a machine without CUDA: every phase skips)"

gen=(bench/gpu_generation.py); score=(bench/gpu_scoring.py); tiny=(); [ "$device" = cpu ] && tiny=(--tiny)
gshape=qwen2-1.5b; sshape=bert-large; [ "$device" = cpu ] && { gshape=tiny; sshape=tiny; }
if begin generation "${GEN_S:-210}"; then
  if step generation build 90 "$py" "${gen[@]}" build --shape "$gshape" --out "$out/gen-model"; then
    step generation transformers 100 "$py" "${gen[@]}" phase --engine transformers --work solutions rollouts \
      --max-calls 2 --model "$out/gen-model" --device "$device" "${tiny[@]}"
    if [ "$vllm" = 1 ] && [ "$device" = cuda ]; then
      step generation vllm-prefix-on 150 "$vllm_py" "${gen[@]}" phase --engine vllm --work solutions rollouts \
        --prefix-caching on --model "$out/gen-model"
      step generation vllm-prefix-off 120 "$vllm_py" "${gen[@]}" phase --engine vllm --work rollouts \
        --prefix-caching off --model "$out/gen-model"
    else
      note generation vllm "vLLM is not importable by $vllm_py (locks/requirements-vllm.txt), or no CUDA"
    fi
  fi
  rm -rf "$out/gen-model"
fi
if begin scoring "${SCORE_S:-90}"; then
  if step scoring build 30 "$py" "${score[@]}" build --shape "$sshape" --out "$out/prm-model"; then
    step scoring transformers 60 "$py" "${score[@]}" phase --engine transformers --model "$out/prm-model" \
      --scores "$out/scores-transformers.json" --device "$device" "${tiny[@]}"
    if [ "$vllm" = 1 ] && [ "$device" = cuda ]; then
      step scoring vllm 120 "$vllm_py" "${score[@]}" phase --engine vllm --model "$out/prm-model" \
        --scores "$out/scores-vllm.json"
    else
      note scoring vllm "vLLM is not importable by $vllm_py (locks/requirements-vllm.txt), or no CUDA"
    fi
  fi
  rm -rf "$out/prm-model"
fi
if begin training "${TRAIN_S:-170}"; then
  train=(bench/gpu_training.py --workdir "$out/train-work"); shape=0.5b; lora=(--shape 7b --batch 4 --seq 2048 --steps 12 --warmup 3)
  if [ "$device" = cpu ]; then train+=(--dry-run); shape=tiny; lora=(); fi
  step training "stepwise-bf16-$shape" 90 "$py" "${train[@]}" --shape "$shape" --trainer stepwise
  if [ "$trl" = 1 ]; then
    step training "trl-bf16-$shape" 90 "$trl_py" "${train[@]}" --shape "$shape" --trainer trl
  else
    note training trl "TRL 1.13 (PRMTrainer) is not importable by $trl_py (bench/setup_trl_venv.sh)"
  fi
  if has "$py" peft; then
    step training lora 150 "$py" "${train[@]}" --trainer stepwise --lora 16 "${lora[@]}"
  else
    note training lora "peft is not importable by $py (locks/requirements.txt)"
  fi
  rm -rf "$out/train-work"
fi
[ "$mode" = --check ] || "$py" bench/gpu_report.py "$results"
echo "results: $results (${SECONDS}s)"
