#!/usr/bin/env bash
# A bench-only environment with trl==1.13.0, the last TRL release with PRMTrainer
# (trl.experimental.prm). It lives outside the repository (nothing to ignore) and reuses
# the project's .venv packages through a .pth file, so only TRL itself is installed
# (its other requirements — accelerate, datasets, transformers — are already there).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${BENCH_VENV:-/tmp/stepwise-venv-bench}"
.venv/bin/python -m venv "$VENV"
SITE=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
BSITE=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$SITE" > "$BSITE/stepwise-main-venv.pth"
"$VENV/bin/pip" install -q --no-deps trl==1.13.0
"$VENV/bin/python" -c 'import trl; from trl.experimental.prm import PRMTrainer; print("trl", trl.__version__)'
echo "bench venv ready: $VENV/bin/python bench/bench_trl.py"
