"""A failed Run shows the people it affects a short reason; the traceback and server paths
are for staff only, in the API and on the run pages."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from tests.labeling_factories import add_member, make_project
from training.models import PrmModel
from workers.failures import DISK_FULL_REASON, public_reason
from workers.models import Run

pytestmark = pytest.mark.django_db

TRACE = ("OSError: [Errno 28] No space left on device: '/srv/stepwise/exports/000001/all.jsonl'"
         "\n\nTraceback (most recent call last):\n  File \"/srv/stepwise/workers/runs.py\"")


@pytest.fixture
def failed(make_user):
    project = make_project("errs")
    run = Run.objects.create(kind="train_prm", project=project, status=Run.Status.FAILED,
                             error=TRACE, reason=DISK_FULL_REASON)
    model = PrmModel.objects.create(project=project, name="m", base_model="demo-base",
                                    status=PrmModel.Status.FAILED, run=run)
    people = {"reviewer": add_member(project, make_user("errs-reviewer"), role="reviewer"),
              "admin": add_member(project, make_user("errs-admin"), role="admin"),
              "staff": add_member(project, make_user("errs-staff", is_staff=True), role="admin")}
    return project, run, model, people


def _pages(client, project, run, model) -> str:
    manage = client.get(reverse("manage:run", args=[project.slug, run.pk]))
    progress = client.get(reverse("training:progress", args=[model.pk]))
    assert progress.status_code == 200
    return (manage.content.decode() if manage.status_code == 200 else "") + progress.content.decode()


@pytest.mark.parametrize("who", ["reviewer", "admin"])
def test_members_read_the_reason_not_the_traceback(failed, who):
    project, run, model, people = failed
    client = APIClient()
    client.force_login(people[who])
    body = client.get(f"/api/runs/{run.pk}/").json()
    assert body["error"] == body["reason"] == DISK_FULL_REASON
    html = _pages(client, project, run, model)
    assert "disk is full" in html
    assert "Traceback" not in html and "/srv/stepwise" not in html


def test_staff_read_the_whole_error(failed):
    project, run, model, people = failed
    client = APIClient()
    client.force_login(people["staff"])
    assert client.get(f"/api/runs/{run.pk}/").json()["error"] == TRACE
    assert "/srv/stepwise/workers/runs.py" in _pages(client, project, run, model)


def test_the_public_reason_of_an_unexpected_error_holds_no_message():
    reason = public_reason(ValueError("cannot read /srv/secret/config.json"))
    assert "/srv" not in reason and "ValueError" in reason
    disk = OSError(28, "No space left on device")
    try:
        try:
            raise disk
        except OSError:
            raise RuntimeError("cleanup failed")
    except RuntimeError as chained:
        assert public_reason(chained) == DISK_FULL_REASON
