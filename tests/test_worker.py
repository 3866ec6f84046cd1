"""A task goes through the real broker to a real worker process and writes to the database."""

import pytest

from annotate.models import Project
from tests.conftest import wait_for_run
from workers.models import Run
from workers.runs import cancel_run, start_run

pytestmark = [pytest.mark.worker, pytest.mark.portable, pytest.mark.django_db(transaction=True)]


def test_run_goes_through_broker_to_worker_and_writes_result(celery_worker):
    Project.objects.create(name="P", slug="p")
    run = start_run("healthcheck", {"message": "hello", "steps": 4})
    run = wait_for_run(run, timeout=60)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result == {"message": "hello", "projects": 1}
    assert (run.progress_done, run.progress_total) == (4, 4)
    assert "echo: hello" in run.log
    assert run.started_at and run.finished_at and run.attempts == 1


def test_unknown_run_kind_is_refused():
    with pytest.raises(ValueError, match="Unknown run kind"):
        start_run("no-such-kind")


def test_cancelling_a_queued_run_ends_it_without_running(celery_worker):
    from django.db import transaction

    with transaction.atomic():
        run = start_run("healthcheck", {"message": "never"})
        cancel_run(run)  # before commit: the task is enqueued but the run is already cancelled
    run = wait_for_run(run, timeout=30)
    assert run.status == Run.Status.CANCELLED
    assert run.started_at is None and run.result == {}
