"""The demo model for tests and benchmarks, built once and cached on disk.

Tests use the demo model itself (the default build config), trained the first time
(a few minutes on one core) into ``data/test-models/demo-arith-<config hash>`` of the
checkout, outside any one ``DATA_DIR``, so the PostgreSQL run and the SQLite run of
the suite share it, and reused by every later run. A finished build is also kept in the
machine's cache (``~/.cache/stepwise``, keyed by the config and the training code), so
another clone on the same machine, CI's included, copies it instead of training again. The
marker file is written last, so an interrupted build is redone. ``STEPWISE_TEST_MODEL=<path>``
uses an existing model instead (e.g. one built by ``manage.py build_demo_model``).

Shorter builds were tried and rejected (docs/performance.md, "The test model"): at 600
steps, or 400-500 steps of a smaller model at a higher learning rate, the arithmetic has
not formed (2-12% of steps right), and Monte Carlo labels from such a policy are barely
better than chance, which is what the auto-label test must show they are not.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
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


def machine_cache_dir(name: str, config, sources=("model.py", "domain.py")) -> Path:
    """Where a build is kept for every checkout on this machine (``STEPWISE_CACHE_DIR``,
    default ``~/.cache/stepwise``), keyed by the config and the code that trains, so a change
    to either builds anew: a fresh clone (CI's) copies the model instead of training it."""
    code = b"".join((CHECKOUT / "demo" / f).read_bytes() for f in sources)
    digest = hashlib.sha256(json.dumps(asdict(config), sort_keys=True).encode() + code)
    root = Path(os.environ.get("STEPWISE_CACHE_DIR") or Path.home() / ".cache" / "stepwise")
    return root / "test-models" / f"{name}-{digest.hexdigest()[:16]}"


def build_test_model(config: BuildConfig = TEST_CONFIG) -> Path:
    override = os.environ.get("STEPWISE_TEST_MODEL")
    if override:
        return Path(override)
    out = cached_model_dir("test-models", "demo-arith", config)
    out.parent.mkdir(parents=True, exist_ok=True)
    shared = machine_cache_dir("demo-arith", config)
    marker = "stepwise_demo.json"
    # One builder at a time (parallel test sessions share DATA_DIR).
    with open(out.parent / ".demo-arith.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / marker).exists() and (shared / marker).exists():
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(shared, out)
        built = not ensure_demo_model(out, config, evaluate=False, log=lambda _m: None)["cached"]
        if built or not (shared / marker).exists():
            _keep(out, shared)
    return out


def build_test_judge(config=None) -> Path:
    """The demo judge (``demo/judge_model.py``), built and cached like the test model:
    ``data/test-models/demo-judge-<hash>`` in the checkout, copied from or kept in the machine's
    cache. ``STEPWISE_TEST_JUDGE=<path>`` uses an existing one (``manage.py build_demo_judge``)."""
    from .judge_model import MARKER, JudgeBuildConfig, ensure_demo_judge

    override = os.environ.get("STEPWISE_TEST_JUDGE")
    if override:
        return Path(override)
    config = config or JudgeBuildConfig()
    out = cached_model_dir("test-models", "demo-judge", config)
    out.parent.mkdir(parents=True, exist_ok=True)
    shared = machine_cache_dir("demo-judge", config, ("model.py", "domain.py", "judge_model.py"))
    with open(out.parent / ".demo-judge.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (out / MARKER).exists() and (shared / MARKER).exists():
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(shared, out)
        built = not ensure_demo_judge(out, config, log=lambda _m: None)["cached"]
        if built or not (shared / MARKER).exists():
            _keep(out, shared)
    return out


def _keep(out: Path, shared: Path) -> None:
    """Copy a finished build to the machine's cache; a cache that cannot be written (read-only
    home, full disk) only means the next clone trains again."""
    partial = shared.with_name(shared.name + ".part")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(out, partial)
        shutil.rmtree(shared, ignore_errors=True)
        partial.rename(shared)
    except OSError:
        shutil.rmtree(partial, ignore_errors=True)
