"""The demo model for tests and benchmarks, built once and cached on disk.

Tests use the demo model itself (the default build config), trained the first time
(a few minutes on one core) into ``data/test-models/demo-arith-<config hash>`` of the
checkout, outside any one ``DATA_DIR``, so the PostgreSQL run and the SQLite run of
the suite share it, and reused by every later run. The marker file is written last, so an
interrupted build is redone. ``STEPWISE_TEST_MODEL=<path>`` uses an existing model
instead (e.g. one built by ``manage.py build_demo_model``).

A shorter build was tried and rejected: at 600 steps the arithmetic has not formed
yet (12% of steps right), and Monte Carlo labels from such a policy are barely
better than chance, which is what the auto-label test must show they are not.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

from .model import BuildConfig, ensure_demo_model

TEST_CONFIG = BuildConfig()
CHECKOUT = Path(__file__).resolve().parents[1]


def cached_model_dir(folder: str, name: str, config) -> Path:
    """``data/<folder>/<name>-<hash of config>`` in the checkout: a new config, a new build.

    Found from this file, not from Django settings, so the GPU benchmarks need no Django."""
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode()).hexdigest()[:10]
    return CHECKOUT / "data" / folder / f"{name}-{digest}"


def build_test_model(config: BuildConfig = TEST_CONFIG) -> Path:
    override = os.environ.get("STEPWISE_TEST_MODEL")
    if override:
        return Path(override)
    out = cached_model_dir("test-models", "demo-arith", config)
    out.parent.mkdir(parents=True, exist_ok=True)
    # One builder at a time (parallel test sessions share DATA_DIR).
    with open(out.parent / ".demo-arith.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_demo_model(out, config, evaluate=False, log=lambda _m: None)
    return out
