"""A PRM's metrics and scaling points over the API follow the same rule as its pages:
annotators see them only where the project shows hints."""

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from training.models import PrmModel

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


@pytest.mark.parametrize("show_hints", [False, True])
def test_annotators_read_models_only_where_hints_are_shown(make_user, show_hints):
    project = Project.objects.create(name="Hints", slug="hints", show_hints=show_hints)
    annotator, reviewer = make_user("model-annotator"), make_user("model-reviewer")
    Membership.objects.create(project=project, user=annotator)
    Membership.objects.create(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    model = PrmModel.objects.create(project=project, name="prm", base_model="tiny",
                                    status=PrmModel.Status.READY, metrics={"auroc": 0.9})
    for user, allowed in ((annotator, show_hints), (reviewer, True)):
        client = APIClient()
        client.force_authenticate(user)
        detail = client.get(f"/api/models/{model.pk}/")
        scaling = client.get(f"/api/models/{model.pk}/scaling/")
        listed = [m["id"] for m in client.get("/api/models/").json()["results"]]
        assert (detail.status_code, scaling.status_code) == ((200, 200) if allowed else (404, 404))
        assert (model.pk in listed) is allowed
