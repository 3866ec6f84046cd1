#!/usr/bin/env bash
# The GPU sweep of bench/prm_learning_curve.py behind docs/performance.md ("PRM on a GPU"):
# can a token-classification PRM reach the demo domain's 0.95 step AUROC with enough labels
# and optimizer steps? Builds the demo bases (1,000 and 4,000 LM steps), then fine-tunes 8
# configurations side by side on one GPU, each stopped after MINUTES of training.
#   bash bench/prm_sweep.sh OUT_DIR [MINUTES] [SET]
# SET "first" (default): batch 32, 8 runs; "wide": batch 128 and more epochs, 4 runs.
# SWEEP_SMOKE=1 shrinks every run to a few seconds (a check of the script on a CPU).
set -uo pipefail
out=${1:?output folder}; minutes=${2:-6}; set_name=${3:-first}
cd "$(dirname "$0")/.."
py=${PYTHON:-python3}
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2 STEPWISE_TORCH_THREADS=2 HF_HUB_OFFLINE=1
mkdir -p "$out"
scale() { if [ -n "${SWEEP_SMOKE:-}" ]; then echo $(( ($1 + 99) / 100 )); else echo "$1"; fi; }
short=1000; long=4000
[ -n "${SWEEP_SMOKE:-}" ] && { short=20; long=40; }

specs=("demo-encoder $short" "demo-decoder $short" "demo-encoder $long" "demo-decoder $long")
for spec in "${specs[@]}"; do
  set -- $spec
  "$py" -c "import sys; sys.path.insert(0, 'bench'); from bench_bases import demo_base; \
print(demo_base('$1', $2))" &
done
wait

run() {  # name, base, pretrain steps, then prm_learning_curve arguments
  local name=$1 base=$2 steps=$3; shift 3
  timeout $(( ${minutes%.*} * 60 + 120 )) "$py" bench/prm_learning_curve.py --base "$base" \
    --pretrain-steps "$steps" --max-minutes "$minutes" "$@" > "$out/$name.log" 2>&1 &
}
n() { scale "$1"; }
if [ "$set_name" = wide ]; then
run w-enc4k-64k-e24 demo-encoder "$long"  --n "$(n 64000)" --epochs 24 --lr 5e-4 --head-lr 2e-3 --batch-size 128
run w-dec4k-64k-e24 demo-decoder "$long"  --n "$(n 64000)" --epochs 24 --lr 1e-3 --head-lr 4e-3 --batch-size 128
run w-enc4k-16k-e96 demo-encoder "$long"  --n "$(n 16000)" --epochs 96 --lr 5e-4 --head-lr 2e-3 --batch-size 128
run w-enc1k-64k-e24 demo-encoder "$short" --n "$(n 64000)" --epochs 24 --lr 5e-4 --head-lr 2e-3 --batch-size 128
wait
grep -H "epoch\|stopping\|Error" "$out"/*.log | tail -n 400
exit
fi
run enc1k-16k-e30  demo-encoder "$short" --n "$(n 16000)" --epochs 30 --lr 3e-4 --head-lr 1e-3 --batch-size 32
run enc1k-64k-e10  demo-encoder "$short" --n "$(n 64000)" --epochs 10 --lr 3e-4 --head-lr 1e-3 --batch-size 32
run enc1k-64k-lr1  demo-encoder "$short" --n "$(n 64000)" --epochs 10 --lr 1e-4 --head-lr 1e-3 --batch-size 32
run enc1k-4k-e40   demo-encoder "$short" --n "$(n 4000)"  --epochs 40 --lr 3e-4 --head-lr 1e-3 --batch-size 32
run enc4k-64k-e10  demo-encoder "$long"  --n "$(n 64000)" --epochs 10 --lr 3e-4 --head-lr 1e-3 --batch-size 32
run dec1k-64k-e10  demo-decoder "$short" --n "$(n 64000)" --epochs 10 --lr 5e-4 --head-lr 2e-3 --batch-size 32
run dec1k-16k-e30  demo-decoder "$short" --n "$(n 16000)" --epochs 30 --lr 5e-4 --head-lr 2e-3 --batch-size 32
run dec4k-64k-e10  demo-decoder "$long"  --n "$(n 64000)" --epochs 10 --lr 5e-4 --head-lr 2e-3 --batch-size 32
wait
grep -H "epoch\|stopping\|Error" "$out"/*.log | tail -n 400
