"""Multi-process training through torchrun, the launcher that ships with torch.

The worker writes the job (examples, base, config) under ``<out>/launch/``, starts
``torchrun --nproc-per-node N -m training.launch <job>`` as a child in its own process
group, relays rank 0's progress, log and curve (``events.jsonl``) into the Run, and stops the
launcher on cancel. Each rank runs ``trainer.train``: the Trainer picks DDP (NCCL on GPUs,
gloo on CPU), FSDP or DeepSpeed from the config. A worker killed with -9 takes the launcher
and the ranks with it (parent-death signals); the redelivered Run starts a new launcher and
the ranks resume from the last checkpoint. The ranks never import Django.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .config import TrainConfig
from .data import StepExample

LAUNCH = "launch"
#: Extra torchrun arguments for multi-node runs, e.g. "--nnodes=2 --node-rank=0
#: --rdzv-backend=c10d --rdzv-endpoint=head:29400"; the default is one machine.
LAUNCHER_ARGS_ENV = "STEPWISE_TORCHRUN_ARGS"
STOP_GRACE_SECONDS = 30


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies, so no rank outlives a killed worker."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _child_setup() -> None:
    os.setsid()  # its own process group: a cancel stops the launcher and every rank
    _die_with_parent()


def launcher_command(job: Path, processes: int) -> list[str]:
    extra = shlex.split(os.environ.get(LAUNCHER_ARGS_ENV, "")) or ["--standalone"]
    return [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}",
            *extra, "-m", "training.launch", str(job)]


def _relay(events: Path, offset: int, hooks) -> int:
    """Pass the rank-0 events written since ``offset`` to the hooks; the new offset."""
    if not events.exists():
        return offset
    with events.open("rb") as fh:
        fh.seek(offset)
        data = fh.read()
    complete = data[: data.rfind(b"\n") + 1]
    for line in complete.decode("utf-8").splitlines():
        event = json.loads(line)
        if "progress" in event:
            hooks.progress(*event["progress"])
        elif "log" in event:
            hooks.log(event["log"])
        elif "curve" in event:
            hooks.curve(event["curve"])
    return offset + len(complete)


def _stop(proc: subprocess.Popen) -> None:
    """SIGTERM to the launcher's group (torchrun passes it to the ranks), then SIGKILL."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def train_launched(examples: list[StepExample], base: str, out_dir: str | Path,
                   cfg: TrainConfig, hooks, check_cancelled: Callable[[], None] | None = None,
                   poll_seconds: float = 0.5) -> dict:
    """``trainer.train`` over ``cfg.processes`` processes; returns rank 0's summary."""
    out = Path(out_dir)
    folder = out / LAUNCH
    shutil.rmtree(folder, ignore_errors=True)  # a redelivery starts a fresh launcher
    folder.mkdir(parents=True)
    job = folder / "job.json"
    job.write_text(json.dumps({"examples": [asdict(ex) for ex in examples], "base": base,
                               "out": str(out), "config": asdict(cfg)}), encoding="utf-8")
    events, log_path = folder / "events.jsonl", folder / "launcher.log"
    hooks.log(f"starting {cfg.processes} training processes: torchrun, strategy {cfg.strategy}")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(root), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(launcher_command(job, cfg.processes), cwd=root, env=env,
                                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_child_setup)
        offset = 0
        try:
            while proc.poll() is None:
                offset = _relay(events, offset, hooks)
                if check_cancelled:
                    check_cancelled()
                time.sleep(poll_seconds)
        except BaseException:
            _stop(proc)
            raise
    _relay(events, offset, hooks)
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"The training launcher exited with {proc.returncode}:\n{tail}")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    shutil.rmtree(folder, ignore_errors=True)
    return summary


class _EventHooks:
    """Rank 0's hooks: one JSON line per event, read by the worker."""

    def __init__(self, path: Path):
        self.path = path

    def _write(self, event: dict) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(event) + "\n")

    def progress(self, done: int, total: int) -> None:
        self._write({"progress": [done, total]})

    def log(self, message: str) -> None:
        self._write({"log": message})

    def curve(self, points: list[dict]) -> None:
        self._write({"curve": points})


def main(job_path: str) -> None:
    """One rank: read the job, train, rank 0 writes the summary."""
    from .trainer import Hooks, train

    _die_with_parent()  # the launcher's death (a killed worker) ends this rank
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    folder = Path(job_path).parent
    rank = int(os.environ.get("RANK", "0"))
    cfg = TrainConfig.from_dict({**job["config"], "processes": int(os.environ["WORLD_SIZE"])})
    examples = [StepExample(**ex) for ex in job["examples"]]
    hooks = _EventHooks(folder / "events.jsonl") if rank == 0 else Hooks()
    summary = train(examples, job["base"], job["out"], cfg, hooks)
    if rank == 0:
        tmp = folder / "summary.json.tmp"
        tmp.write_text(json.dumps(summary, default=str), encoding="utf-8")
        tmp.replace(folder / "summary.json")


if __name__ == "__main__":
    main(sys.argv[1])
