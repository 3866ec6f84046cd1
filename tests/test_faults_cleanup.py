"""Runs and exports end cleanly under faults, with real processes: the database connection
dies as a Run ends, the broker restarts empty, the disk fills during an export."""

import pytest

from tests.conftest import spawn_worker, stop_process, wait_for_run
from tests.test_run_faults import this_process_publishes_to
from workers.failures import DATABASE_REASON
from workers.models import Run
from workers.runs import start_run

pytestmark = [pytest.mark.postgres_only, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

# As in production: the sweep would take minutes to notice a Run left running, so a Run that
# ends in seconds ended through its own worker.
SLOW_SWEEP = {"RUN_STALE_SECONDS": "600", "RUN_REPUBLISH_SECONDS": "600"}


@pytest.mark.parametrize("fail, status, attempts", [
    (False, Run.Status.SUCCEEDED, 1),  # the end is the first write on the dead connection
    (True, Run.Status.FAILED, 2),      # the last retry's failure is written on a new one
])
def test_a_database_blink_as_a_run_ends_is_recorded_by_its_own_worker(
        redis_server, tmp_path, fail, status, attempts):
    import tests.fault_kinds  # noqa: F401  (registers the kind in this process)

    url = redis_server.url()
    worker = spawn_worker(tmp_path / "blink.log", CELERY_BROKER_URL=url, **SLOW_SWEEP)
    try:
        with this_process_publishes_to(url):
            run = start_run("test_db_blink", {"fail": fail})
            run = wait_for_run(run, 60)
    finally:
        stop_process(worker)
    log = (tmp_path / "blink.log").read_text()
    assert run.status == status and run.attempts == attempts, (run.status, run.error, log[-3000:])
    assert "stopped answering" not in run.log
    assert "again on a new connection" in log
    if fail:
        assert run.reason == DATABASE_REASON
        assert "Traceback" in run.error or "OperationalError" in run.error
    else:
        assert run.result == {"blinked": True}


@pytest.fixture
def tiny_disk(tmp_path):
    """A 256 KiB tmpfs, most of it taken by a filler file the test can delete."""
    import subprocess

    mount = tmp_path / "tiny-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount)], check=True)
    try:
        filler = mount / "filler"
        filler.write_bytes(b"\0" * 200 * 1024)
        yield mount, filler
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _labeled_project(make_user, rows: int):
    """The export lab plus ``rows`` labeled solutions of about 1.5 KB each in JSONL."""
    from annotate.models import Problem, Solution
    from tests.exports_data import build, path, submit

    lab = build(make_user, slug="disk")
    project, annotator = lab["project"], lab["users"]["annotator"]
    for i in range(rows):
        problem = Problem.objects.create(project=project, statement=f"Problem {i}: " + "x" * 200,
                                         ground_truth_answer="1", external_id=f"big-{i}")
        steps = path(problem, [f"Step {j} of {i}: " + "y" * 400 for j in range(3)])
        solution = Solution.objects.create(problem=problem, last_step=steps[-1],
                                           final_answer="1", is_correct=True)
        submit(project, solution, annotator, {step: 1 for step in steps})
    return lab


def test_an_export_on_a_full_disk_fails_cleanly_and_the_next_one_works(
        redis_server, tmp_path, make_user, settings, tiny_disk):
    from exports.models import ExportSnapshot
    from tests.test_api_resources import api
    from workers.failures import DISK_FULL_REASON

    mount, filler = tiny_disk
    settings.EXPORTS_DIR = mount
    lab = _labeled_project(make_user, rows=80)
    admin = api(lab["users"]["admin"])
    spec = {"spec": {"projects": [lab["project"].pk], "format": "trl"}}
    url = redis_server.url()
    worker = spawn_worker(tmp_path / "disk.log", CELERY_BROKER_URL=url,
                          STEPWISE_EXPORTS_DIR=str(mount))
    try:
        with this_process_publishes_to(url):
            first = admin.post("/api/exports/", spec, format="json")
            assert first.status_code == 201, first.content
            snapshot = ExportSnapshot.objects.get(pk=first.json()["id"])
            run = wait_for_run(snapshot.run, 60)
            snapshot.refresh_from_db()
            assert run.status == Run.Status.FAILED and run.reason == DISK_FULL_REASON, run.error
            assert "No space left on device" in run.error  # the full error, for staff
            assert snapshot.status == ExportSnapshot.Status.FAILED
            assert snapshot.error == DISK_FULL_REASON and str(mount) not in snapshot.error
            assert sorted(p.name for p in mount.rglob("*")) == ["filler"]  # no .part left
            download = admin.get(f"/api/exports/{snapshot.pk}/download/")
            assert download.status_code == 409
            assert download.json()["detail"] == f"The export failed: {DISK_FULL_REASON}"

            filler.unlink()  # space is back
            second = admin.post("/api/exports/", spec, format="json").json()
            run = wait_for_run(ExportSnapshot.objects.get(pk=second["id"]).run, 60)
            assert run.status == Run.Status.SUCCEEDED, run.error
            download = admin.get(f"/api/exports/{second['id']}/download/")
            assert download.status_code == 200
            assert len(b"".join(download.streaming_content).splitlines()) >= 80
    finally:
        stop_process(worker)


def test_a_broker_restarted_empty_is_noticed_and_its_lost_run_is_sent_again(
        redis_server, tmp_path):
    """The Run was sent, the broker restarted without its data: with the real ten-minute
    republish delay, only noticing the lost queue can bring the Run back in time."""
    url = redis_server.url()
    # A worker on another queue: its dispatcher sweeps, but nothing takes the Run early.
    sweeper = spawn_worker(tmp_path / "sweeper.log", queues="gpu", CELERY_BROKER_URL=url,
                           **SLOW_SWEEP)
    runner = None
    try:
        with this_process_publishes_to(url):
            wait_for_log(tmp_path / "sweeper.log", "the broker holds no sentinel")  # planted
            run = start_run("healthcheck", {"message": "lost with the broker"})
            sent_at = Run.objects.get(pk=run.pk).published_at
            assert sent_at is not None
            redis_server.stop()  # no persistence: the message is gone
            redis_server.start()
            runner = spawn_worker(tmp_path / "runner.log", queues="default",
                                  CELERY_BROKER_URL=url, **SLOW_SWEEP)
            run = wait_for_run(run, 150)
    finally:
        for worker in (sweeper, runner):
            if worker is not None:
                stop_process(worker)
    assert run.status == Run.Status.SUCCEEDED and run.attempts == 1, run.error
    assert run.published_at > sent_at and run.dispatch == 1
    assert run.result["message"] == "lost with the broker"


def wait_for_log(path, text: str, timeout: float = 60):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in path.read_text():
            return
        time.sleep(0.2)
    pytest.fail(f"{text!r} not in {path.name} after {timeout}s:\n{path.read_text()[-3000:]}")
