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
