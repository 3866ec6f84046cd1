#!/usr/bin/env bash
# Set up a fresh clone and run Stepwise with no services: SQLite, a filesystem Celery
# broker, demo data and demo accounts. Starts the web server and a Celery worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh requirements.txt
# shellcheck disable=SC1091
source .venv/bin/activate
export DEBUG="${DEBUG:-1}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"

python manage.py migrate --noinput
python manage.py seed_demo

mkdir -p data/logs
# Two workers: one for the gpu queue (generation, training), one for the default queue
# (imports, exports, grading), so a long import never holds the worker generation waits on.
echo "==> starting the Celery workers (queue gpu; queue default) -> data/logs/worker*.log"
celery -A stepwise worker -Q gpu --pool=solo -n gpu@%h --loglevel=INFO \
  --without-gossip --without-mingle >data/logs/worker.log 2>&1 &
WORKER_PID=$!
celery -A stepwise worker -Q default --pool=solo -n default@%h --loglevel=INFO \
  --without-gossip --without-mingle >data/logs/worker-default.log 2>&1 &
DEFAULT_WORKER_PID=$!
# The demo generator is a tiny GPT-2 trained offline on the demo domain: about 4 minutes on
# 2 cores the first time, then cached. Labeling does not wait for it: the demo projects are
# seeded with candidate steps at every position.
echo "==> building the demo generator model in the background -> data/logs/demo-model.log"
python manage.py build_demo_model >data/logs/demo-model.log 2>&1 &
BUILD_PID=$!
trap 'kill $WORKER_PID $DEFAULT_WORKER_PID $BUILD_PID 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  Stepwise is running at http://$HOST:$PORT/

  Demo logins (username / password):
    admin      / stepwise-admin      project admin (also Django superuser)
    annotator  / stepwise-annotator  annotator
    reviewer   / stepwise-reviewer   reviewer

  The demo projects come with candidate steps, so labeling works at once. Generation runs
  use the demo model once it is built (data/logs/demo-model.log); until then they end with
  "The generator model is not ready yet".

MSG
# The production server and its settings (gunicorn.conf.py); DEBUG serves the static files.
GUNICORN_BIND="$HOST:$PORT" gunicorn stepwise.wsgi:application
