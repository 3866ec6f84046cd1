"""Annotators see only what their role should: no gold status, reference solutions or
quality-check flags, no ?is_gold= filter, no PRM scores where hints are off; a removed
member's next rating is refused at once (docs/security.md "Roles: who sees what")."""

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Assignment, Membership, PreAnnotation, Problem
from tests.labeling_factories import add_member, make_project, make_solution

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold_world(make_user):
    from api.services import issue_token

    project = make_project("goldp")
    gold = make_solution(project, ["Gold step one.", "Gold step two."], gold=True)
    gold.external_id = "errors:7:modified"
    gold.metadata = {"prmbench": {"error_steps": [2], "first_error": 2}}
    gold.save()
    Problem.objects.filter(pk=gold.problem_id).update(reference_solution="THE-REFERENCE")
    annotator = add_member(project, make_user("ann"))
    reviewer = add_member(project, make_user("rev"), role=Membership.Role.REVIEWER)
    Assignment.objects.create(project=project, solution=gold, annotator=annotator,
                              is_quality_control=True, is_screening=True)
    clients = {}
    for name, user in (("annotator", annotator), ("reviewer", reviewer)):
        _, key = issue_token(user=user, name="t")
        clients[name] = APIClient()
        clients[name].credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return project, gold, clients


def _rows(response):
    assert response.status_code == 200, response.content
    body = response.json()
    return body["results"] if isinstance(body, dict) and "results" in body else [body]


def test_annotator_token_sees_no_gold_status_reference_or_quality_flags(gold_world):
    project, gold, clients = gold_world
    api = clients["annotator"]
    for url in ("/api/solutions/", f"/api/solutions/{gold.pk}/"):
        rows = _rows(api.get(url))
        assert rows and all(not {"is_gold", "metadata", "external_id"} & set(row)
                            for row in rows), url
    for url in ("/api/problems/", f"/api/problems/{gold.problem_id}/"):
        rows = _rows(api.get(url))
        assert rows and all("reference_solution" not in row for row in rows), url
    rows = _rows(api.get("/api/assignments/"))
    assert rows and all("is_quality_control" not in r and "is_screening" not in r for r in rows)
    assert "THE-REFERENCE" not in api.get("/api/problems/").content.decode()


def test_annotator_cannot_filter_on_gold_and_reviewer_still_can(gold_world):
    project, gold, clients = gold_world
    refused = clients["annotator"].get("/api/solutions/?is_gold=true")
    assert refused.status_code == 403
    assert "is_gold" in refused.json()["detail"] and "reviewer" in refused.json()["detail"]
    assert clients["annotator"].get("/api/solutions/?is_gold=false").status_code == 403
    assert clients["annotator"].get(
        "/api/solutions/?external_id=errors:7:modified").status_code == 403

    reviewer = clients["reviewer"]
    rows = _rows(reviewer.get("/api/solutions/?is_gold=true"))
    assert [r["id"] for r in rows] == [gold.pk] and rows[0]["is_gold"] is True
    assert rows[0]["metadata"]["prmbench"]["first_error"] == 2
    assert _rows(reviewer.get(f"/api/problems/{gold.problem_id}/"))[0]["reference_solution"] \
        == "THE-REFERENCE"
    assert reviewer.get("/api/solutions/?is_gold=maybe").status_code == 400


def test_labeling_page_shows_no_machine_hints_while_hints_are_off(client, make_user):
    project = make_project("hintless")
    solution = make_solution(project, ["Hinted step.", "Second."])
    PreAnnotation.objects.create(node_id=solution.last_step.parent_id, kind="prm_score",
                                 source="prm-x", value=0.123)
    add_member(project, make_user("looker"))
    client.force_login(project.memberships.get().user)
    started = client.post(reverse("annotate:start", args=[project.slug]))
    page = client.get(started["Location"]).content.decode()
    assert "Hinted step." in page
    assert "machine hint" not in page and "0.12" not in page and "prm-x" not in page


def test_prm_scores_are_refused_to_annotators_while_hints_are_off(make_user):
    from training.models import PrmModel

    project = make_project("scored")
    model = PrmModel.objects.create(project=project, name="m", base_model="tiny",
                                    status=PrmModel.Status.QUEUED)
    api = APIClient()
    api.force_login(add_member(project, make_user("peeker")))
    body = {"items": [{"problem": "1+1?", "steps": ["2"]}]}
    for path in (f"/api/prm/{model.pk}/score/", f"/api/prm/{model.pk}/openrlhf/"):
        refused = api.post(path, body, format="json")
        assert refused.status_code == 403, (path, refused.content)
        assert "hidden from annotators" in refused.json()["detail"]

    project.show_hints = True
    project.save()
    allowed = api.post(f"/api/prm/{model.pk}/score/", body, format="json")
    assert allowed.status_code != 403  # past the role check: the model is not ready yet


def test_removed_member_cannot_rate_their_open_task(client, make_user):
    admin = make_user("boss")
    project = make_project("leavers")
    add_member(project, admin, role=Membership.Role.ADMIN)
    solution = make_solution(project, ["One.", "Two."])
    leaver = add_member(project, make_user("leaver"))
    client.force_login(leaver)
    task_url = client.post(reverse("annotate:start", args=[project.slug]))["Location"]
    first = solution.last_step.parent_id
    assert client.post(f"{task_url}rate/", {"node": first, "rating": "1"},
                       HTTP_HX_REQUEST="true").status_code == 200
    assignment = Assignment.objects.get(annotator=leaver)

    from django.test import Client

    boss = Client()
    boss.force_login(admin)
    membership = Membership.objects.get(project=project, user=leaver)
    assert boss.post(reverse("manage:remove_member",
                             args=[project.slug, membership.pk])).status_code == 302

    refused = client.post(f"{task_url}rate/", {"node": solution.last_step_id, "rating": "1"},
                          HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert "no longer a member" in refused.content.decode()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.EXPIRED  # back in the queue at once
    assert assignment.ratings.count() == 1  # what they rated before stays
