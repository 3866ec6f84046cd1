"""Two training processes through torchrun (gloo on CPU): from the form through a real worker,
stopped on cancel, and resumed after the worker is killed with -9."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.urls import reverse

from annotate.models import Membership, Project
from tests.conftest import REPO, wait_for_run
from tests.prm_factories import build_tiny_base, rule_examples, seed_project
from training.config import TrainConfig
from training.launch import LAUNCH, train_launched
from training.models import PrmModel
from training.trainer import last_checkpoint
from workers.models import Run

pytestmark = [pytest.mark.portable]

CFG = dict(epochs=3, learning_rate=3e-3, batch_size=8, max_length=96,
           early_stopping_patience=0, val_fraction=0.25, processes=2)


def _processes_running(marker: str) -> list[int]:
    """Pids whose command line names ``marker`` (the job file of one training)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline and int(entry.name) != os.getpid():
                found.append(int(entry.name))
    return found


class Cancelled(Exception):
    pass


class Recorder:
    def __init__(self, stop_at: int | None = None):
        self.progress_seen, self.logs, self.curves, self.stop_at = [], [], [], stop_at

    def progress(self, done, total):
        self.progress_seen.append((done, total))

    def log(self, message):
        self.logs.append(message)

    def curve(self, points):
        self.curves.append(points)

    def check_cancelled(self):
        if self.stop_at is not None and self.progress_seen and \
                self.progress_seen[-1][0] >= self.stop_at:
            raise Cancelled


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_two_processes_train_through_torchrun_from_the_form(celery_worker, client, make_user,
                                                            tmp_path, settings):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from training.scoring import PrmScorer

    admin = make_user("admin")
    project = Project.objects.create(name="D", slug="d")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    seed_project(project, rule_examples(40, per_problem=2, seed=7), admin)
    base = build_tiny_base(tmp_path / "base")
    settings.STEPWISE_MODEL_REGISTRY = [str(tmp_path)]  # an operator-shared folder of bases
    client.force_login(admin)
    r = client.post(reverse("training:create"), {
        "project": project.pk, "name": "ddp", "base_model": str(base), "epochs": "3",
        "learning_rate": "0.003", "batch_size": "8", "max_length": "96",
        "early_stopping_patience": "0", "processes": "2", "strategy": "ddp"})
    assert r.status_code == 302
    model = PrmModel.objects.get(project=project, name="ddp")
    run = wait_for_run(model.run, timeout=240)
    assert run.status == Run.Status.SUCCEEDED, run.error + run.log
    assert "starting 2 training processes" in run.log and "epoch 3: train loss" in run.log
    assert run.progress_total > 0 and run.progress_done == run.progress_total
    model.refresh_from_db()
    assert model.metrics["training"]["processes"] == 2
    ends = [p for p in model.curve if "val_loss" in p]
    assert [p["epoch"] for p in ends] == [1, 2, 3] and ends[-1]["train_loss"] < ends[0]["train_loss"]
    out = Path(model.artifact_path)
    assert not (out / LAUNCH).exists() and last_checkpoint(out) is None

    prompt, steps = "problem 3 solve ? [p3]", ["add 2 so", "oops wrong 4", "then 5"]
    ours = PrmScorer(out).score([(prompt, steps)])[0]
    tok = AutoTokenizer.from_pretrained(out)
    plain = AutoModelForTokenClassification.from_pretrained(out).eval()
    sep = plain.config.step_separator
    enc = tok(prompt + "\n" + "".join(s + sep for s in steps), return_tensors="pt")
    with torch.no_grad():
        probs = plain(**enc).logits.softmax(-1)[0, :, 1]
    sep_id = tok.convert_tokens_to_ids(sep)
    assert [float(p) for p, i in zip(probs, enc["input_ids"][0]) if i == sep_id] == \
        pytest.approx(ours, abs=1e-4)


def test_cancel_stops_the_launcher_and_every_rank(tmp_path):
    base = build_tiny_base(tmp_path / "base")
    out = tmp_path / "out"
    hooks = Recorder(stop_at=2)
    with pytest.raises(Cancelled):
        train_launched(rule_examples(30, seed=2), str(base), out, TrainConfig(**CFG), hooks,
                       hooks.check_cancelled, poll_seconds=0.2)
    assert _processes_running(str(out / LAUNCH)) == []


_WORKER = """
import sys
sys.path.insert(0, {repo!r})
from tests.prm_factories import rule_examples
from training.config import TrainConfig
from training.launch import train_launched
from training.trainer import Hooks
train_launched(rule_examples(30, seed=2), {base!r}, {out!r}, TrainConfig(**{cfg!r}), Hooks())
"""


def test_a_worker_killed_with_minus_9_takes_its_ranks_and_the_next_run_resumes(tmp_path):
    base = build_tiny_base(tmp_path / "base")
    out = tmp_path / "out"
    cfg = {**CFG, "epochs": 8}  # enough that the run cannot finish between the check and the kill
    worker = subprocess.Popen([sys.executable, "-c", _WORKER.format(
        repo=str(REPO), base=str(base), out=str(out), cfg=cfg)], cwd=REPO)
    deadline = time.monotonic() + 120
    while last_checkpoint(out) is None and time.monotonic() < deadline:
        assert worker.poll() is None, "the training ended before its first checkpoint"
        time.sleep(0.2)
    assert last_checkpoint(out) is not None
    assert worker.poll() is None, "the training finished before it could be killed"
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    deadline = time.monotonic() + 20
    while _processes_running(str(out / LAUNCH)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_running(str(out / LAUNCH)) == []  # no orphaned rank writes on

    hooks = Recorder()
    summary = train_launched(rule_examples(30, seed=2), str(base), out, TrainConfig(**cfg), hooks)
    assert summary["resumed"] and summary["epochs_run"] == 8
    assert any(m.startswith("resumed from checkpoint after epoch") for m in hooks.logs), hooks.logs
    assert [p["epoch"] for p in summary["curve"] if "val_loss" in p] == list(range(1, 9))
    assert hooks.progress_seen[-1][0] == hooks.progress_seen[-1][1]


def test_fsdp_that_the_engine_cannot_run_here_fails_with_a_message(tmp_path):
    base = build_tiny_base(tmp_path / "base")
    with pytest.raises(RuntimeError, match="strategy fsdp is not available here"):
        train_launched(rule_examples(10, seed=2), str(base), tmp_path / "out",
                       TrainConfig(**{**CFG, "epochs": 1}, strategy="fsdp"), Recorder())
