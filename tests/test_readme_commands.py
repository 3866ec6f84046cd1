"""The README's command-line section works as written in a fresh shell: its set-up lines
(everything before the first ``python manage.py``) give a working ``manage.py``."""

import os
import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.portable


def _command_line_block() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Command line", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_command_line_section_runs_in_a_fresh_shell(tmp_path):
    lines = _command_line_block()
    first = next(i for i, line in enumerate(lines) if line.startswith("python manage.py"))
    setup = lines[:first]
    assert any("activate" in line for line in setup)
    # A fresh login shell: none of the test run's settings, a data folder of its own.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "STEPWISE_DATA_DIR": str(tmp_path)}
    script = "\n".join(["set -e", f"cd {REPO}", *setup, "python manage.py help import_data"])
    result = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--project" in result.stdout
