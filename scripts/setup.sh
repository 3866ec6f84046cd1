#!/usr/bin/env bash
# Set up a clone: a Python 3.11 virtualenv with the exact versions of locks/ (the lock made
# from the requirements file named, by scripts/lock.sh), and the front-end packages from the
# npm registry. Re-running it only installs what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
REQS="${1:-requirements.txt}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
# The exact versions scripts/lock.sh made from $REQS (and, for tests, the trainers' clients).
LOCK="locks/$(basename "$REQS")"
locks=("$LOCK")
[ "$(basename "$REQS")" = requirements-dev.txt ] && locks+=(locks/requirements-clients.txt)
for f in "${locks[@]}"; do
  [ -f "$f" ] || { echo "no lock $f for $REQS: run scripts/lock.sh" >&2; exit 1; }
done

if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$PYTHON" --version)"
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$(cat "${locks[@]}" | sha256sum | cut -c1-16)-$(basename "$REQS")"
if [ ! -f "$stamp" ]; then
  echo "==> installing Python packages from $LOCK"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -r "$LOCK"
  if [ "${#locks[@]}" = 2 ]; then
    # The trainers' client code, without their GPU-only engines (requirements-clients.txt).
    .venv/bin/python -m pip install -q --no-deps -r locks/requirements-clients.txt
  fi
  touch "$stamp"
fi
lock_stamp="node_modules/.installed-$(sha256sum package-lock.json | cut -c1-16)"
if [ ! -f "$lock_stamp" ]; then
  echo "==> installing front-end packages (htmx, KaTeX) from the npm registry"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$lock_stamp"
fi
