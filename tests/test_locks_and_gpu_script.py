"""Locked environments (locks/, scripts/lock.sh) and the one GPU check (bench/gpu_all.sh).

Every requirements input has a lock made from its current text: each lock's header records the
sha256 of every input it was made from (the -r includes too), so an input edited without
rerunning scripts/lock.sh fails here. The GPU check runs in --check mode on this CPU machine:
each phase says it skips, and says why."""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.portable

ROOT = Path(__file__).resolve().parent.parent
INPUT = re.compile(r"^# input: (\S+) sha256=([0-9a-f]{64})$")
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+$")


def lock_inputs(lock: Path) -> dict[str, str]:
    return dict(m.groups() for line in lock.read_text().splitlines() if (m := INPUT.match(line)))


def includes(root: Path, name: str) -> set[str]:
    return set(re.findall(r"^-r\s*(\S+)", (root / name).read_text(), re.M))


def lock_problems(root: Path) -> list[str]:
    """What is wrong with root's locks/ against its requirements*.txt, or nothing."""
    inputs = {p.name for p in root.glob("requirements*.txt")}
    included = set().union(*(includes(root, n) for n in inputs))
    recorded = {lock.name: lock_inputs(lock) for lock in sorted((root / "locks").glob("*.txt"))}
    # An input others only include (requirements-common.txt) is locked through them.
    problems = [f"{n} has no lock" for n in sorted(inputs - included - set(recorded))]
    problems += [f"{n} is in no lock" for n in sorted(inputs - set().union(*recorded.values()))]
    for lock, files in recorded.items():
        if lock not in files:
            problems.append(f"locks/{lock} is not made from {lock}")
        for name, digest in files.items():
            if includes(root, name) - set(files):
                problems.append(f"locks/{lock}: {name} includes a file its header does not name")
            if hashlib.sha256((root / name).read_bytes()).hexdigest() != digest:
                problems.append(f"locks/{lock} is stale ({name} changed): rerun scripts/lock.sh")
    return problems


def test_every_requirements_input_has_a_lock_made_from_its_current_text():
    assert lock_problems(ROOT) == []


def test_an_input_edited_after_its_lock_is_reported(tmp_path):
    shutil.copytree(ROOT / "locks", tmp_path / "locks")
    for p in ROOT.glob("requirements*.txt"):
        shutil.copy(p, tmp_path / p.name)
    assert lock_problems(tmp_path) == []
    with open(tmp_path / "requirements-common.txt", "a") as fh:
        fh.write("rich>=13\n")
    (tmp_path / "requirements-extra.txt").write_text("-r requirements.txt\n")
    assert lock_problems(tmp_path) == [
        "requirements-extra.txt has no lock",
        "requirements-extra.txt is in no lock",
        "locks/requirements-dev.txt is stale (requirements-common.txt changed): rerun scripts/lock.sh",
        "locks/requirements-gpu.txt is stale (requirements-common.txt changed): rerun scripts/lock.sh",
        "locks/requirements-vllm-cpu.txt is stale (requirements-common.txt changed): rerun scripts/lock.sh",
        "locks/requirements-vllm.txt is stale (requirements-common.txt changed): rerun scripts/lock.sh",
        "locks/requirements.txt is stale (requirements-common.txt changed): rerun scripts/lock.sh",
    ]


def test_locks_pin_exact_versions_and_torch_as_the_inputs_do():
    locks = sorted((ROOT / "locks").glob("*.txt"))
    assert len(locks) == 6
    for lock in locks:
        lines = [line for line in lock.read_text().splitlines() if line and not line.startswith("#")]
        assert lines, lock
        assert [line for line in lines if not PIN.match(line)] == [], lock
        # The local CPU build is what `torch==2.13.0` installs here: the lock keeps that pin,
        # and a CPU lock has none of the CUDA build's packages.
        assert not [line for line in lines if line.startswith("torch==") and "+" in line], lock
        if "(cpu;" in lock.read_text().splitlines()[0]:
            assert [line for line in lines if line.startswith("nvidia-")] == [], lock


def test_the_gpu_check_says_each_phase_skips_on_a_cpu_machine(tmp_path):
    done = subprocess.run(["bash", "bench/gpu_all.sh", str(tmp_path), "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=240,
                          # No GPU whatever the machine: every phase must say it skips.
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable,
                               "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 0, done.stderr
    for phase in ("generation", "scoring", "training"):
        assert f"SKIP {phase}/all: no CUDA device" in done.stdout
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["step"]) for r in rows] == [
        ("generation", "all"), ("scoring", "all"), ("training", "all")]
    assert all(r["skipped"].startswith("no CUDA device") for r in rows)


def test_the_old_gpu_scripts_are_gone_and_no_doc_names_them():
    assert sorted(p.name for p in (ROOT / "bench").glob("gpu_*.sh")) == ["gpu_all.sh"]
    docs = [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    named = [d.name for d in docs
             if re.search(r"gpu_(generation|training|prm_sweep)\.sh", d.read_text())]
    assert named == []


def test_setup_refuses_a_requirements_file_without_a_lock(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    (tmp_path / "requirements-new.txt").write_text("Django>=5.2\n")
    done = subprocess.run(["bash", "scripts/setup.sh", "requirements-new.txt"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "no lock locks/requirements-new.txt for requirements-new.txt" in done.stderr
    assert not (tmp_path / ".venv").exists()


def test_docs_name_the_reward_url_flag_openrlhf_defines():
    """OpenRLHF 0.11 renamed --remote_rm_url; its own parser (read, not imported: the CLI
    imports its GPU engines) defines --reward.remote_url."""
    from importlib.metadata import distribution

    # Found through the installed distribution: other tests may have put a stand-in package
    # under the name in sys.modules (tests/client_modules.py), which has no spec.
    cli = Path(distribution("openrlhf").locate_file("openrlhf/cli/train_ppo_ray.py"))
    parser = cli.read_text()
    assert '"--reward.remote_url"' in parser and '"--remote_rm_url"' not in parser
    for doc in (ROOT / "README.md", ROOT / "docs" / "training.md"):
        assert "--remote_rm_url" not in doc.read_text(), doc
        assert "--reward.remote_url" in doc.read_text(), doc
