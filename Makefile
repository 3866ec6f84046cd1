.PHONY: run test setup

# Set up a fresh clone and run the app on SQLite with demo data (no services needed).
run:
	bash scripts/run.sh

# Set up and run the whole test suite (PostgreSQL, Redis, Celery worker, Chromium).
test:
	bash scripts/test.sh

setup:
	bash scripts/setup.sh requirements-dev.txt
