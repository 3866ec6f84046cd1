"""Long traces through the browser: upload -> a real Celery import Run (with the segmentation
option) -> traces written by the worker on the test database."""

import json
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from annotate.models import SolutionTrace
from tests.conftest import wait_for_run
from tests.manage_factories import make_project
from tests.test_import_traces import THINK
from workers.models import Run


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_browser_upload_runs_the_import_in_the_worker(celery_worker, shared_data, client, make_user):
    """Upload -> a real Celery import Run with the segmentation option -> traces written."""


    admin = make_user("trace-uploader")
    client.force_login(admin)
    results = {}
    for fmt, name, data, segmentation in [
        ("deltabench", "examples.jsonl", (shared_data / "deltabench" / "examples.jsonl").read_bytes(), ""),
        ("trace", "t.jsonl", json.dumps({"question": "2+3*4?", "text": THINK}).encode(),
         '{"strategy": "markers", "markers": ["Wait"]}'),
    ]:
        project = make_project(f"up-{fmt}", admin=admin)
        response = client.post(reverse("manage:import", args=[project.slug]), {
            "file": SimpleUploadedFile(name, data), "fmt": fmt, "segmentation": segmentation})
        assert response.status_code == 302, response.content.decode()[:2000]
        run = Run.objects.get(pk=int(re.search(r"/runs/(\d+)/", response["Location"]).group(1)))
        wait_for_run(run, timeout=240)
        assert run.status == "succeeded", run.error
        results[fmt] = SolutionTrace.objects.filter(solution__project=project)
    assert results["deltabench"].count() == 9
    [trace] = results["trace"]
    assert trace.text == THINK and trace.segmentation["markers"] == ["Wait"]
    assert [THINK[s:e] for s, e in trace.spans][1].startswith("Wait, order of operations")
