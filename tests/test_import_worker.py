"""An import run streams a file through the real broker and worker, with progress and a report."""

import pytest

from annotate.models import Assignment, Project
from annotate.services.imports import start_import_run
from tests.conftest import wait_for_run
from workers.models import Run

pytestmark = [pytest.mark.worker, pytest.mark.portable, pytest.mark.django_db(transaction=True)]


def test_import_run_through_the_worker(celery_worker, shared_data, tmp_path, make_user):
    project = Project.objects.create(name="W", slug="w")
    admin = make_user("importer")
    source = shared_data / "prm800k" / "phase2_sample.jsonl"
    lines = source.read_text().splitlines()
    path = tmp_path / "with_bad_line.jsonl"
    path.write_text("\n".join(lines[:4] + ['{"labeler": "x"}'] + lines[4:]) + "\n")
    run = start_import_run(project=project, path=path, fmt="prm800k", options={}, user=admin)
    assert run.kind == "import" and run.project == project and run.created_by == admin
    run = wait_for_run(run, timeout=120)
    assert run.status == Run.Status.SUCCEEDED, run.error
    assert run.result["created"] == 9 and run.result["duplicates"] == 0
    assert run.result["rejected"] == [[5, "missing field 'question'"]]
    assert (run.progress_done, run.progress_total) == (10, 10)
    assert "with_bad_line.jsonl line 5: missing field 'question'" in run.log
    assert Assignment.objects.filter(project=project, source="import").count() == 9


def test_start_import_run_refuses_bad_requests(tmp_path):
    project = Project.objects.create(name="W2", slug="w2")
    with pytest.raises(ValueError, match="Unknown import format"):
        start_import_run(project=project, path=tmp_path / "x", fmt="xml", options={}, user=None)
    with pytest.raises(ValueError, match="No such file"):
        start_import_run(project=project, path=tmp_path / "x", fmt="prm800k", options={}, user=None)
    with pytest.raises(ValueError, match="takes no option"):
        start_import_run(project=project, path=tmp_path / "x", fmt="prmbench",
                         options={"delimiter": ","}, user=None)
    assert not Run.objects.exists()
