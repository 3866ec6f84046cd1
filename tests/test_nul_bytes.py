"""A NUL byte in any text input is a 4xx that names the field, never a 500: PostgreSQL
text and jsonb cannot hold one, so each input boundary refuses it before the database."""

import pytest
from django.urls import reverse
from drf_spectacular.generators import SchemaGenerator

from annotate.models import Assignment, StepNode
from annotate.services.queue import next_task
from tests.exports_data import build
from tests.labeling_factories import add_member, make_project, make_solution
from tests.test_api_resources import api
from training.models import PrmModel

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

NUL = "before\x00after"


def _nul_message(name: str) -> str:
    return f"'{name}' contains a NUL byte."


@pytest.fixture
def bad_step(client, make_user):
    """An annotator whose first-error walk stopped at a Bad step, signed in."""
    project = make_project("nul", overlap=2)
    solution = make_solution(project, ["Let x = 6.", "Then 7x = 41.", "# Answer\n\n41"])
    user = add_member(project, make_user("nul-annotator"))
    task = next_task(project, user)
    client.force_login(user)
    root = solution.last_step.parent.parent_id
    for node, rating in ((root, 1), (solution.last_step.parent_id, -1)):
        assert client.post(f"/task/{task.pk}/rate/", {"node": node, "rating": rating}).status_code == 200
    return task


@pytest.mark.parametrize("action, data, field", [
    ("write", {"position": 1, "text": NUL}, "text"),
    ("finish", {"reason": "bad_problem", "note": NUL}, "note"),
    ("finish", {"reason": "give_up", "note": NUL}, "note"),
    ("finish", {"reason": "give\x00up"}, "reason"),
])
def test_labeling_fields(client, bad_step, action, data, field):
    resp = client.post(f"/task/{bad_step.pk}/{action}/", data)
    assert resp.status_code == 400
    assert resp.content.decode() == _nul_message(field)
    assert resp["Content-Type"].startswith("text/plain")
    bad_step.refresh_from_db()
    assert bad_step.status == Assignment.Status.ACTIVE
    assert not StepNode.objects.filter(author=StepNode.Author.HUMAN).exists()


def _query_params() -> list[tuple[str, str]]:
    """(path, name) of every query parameter of every GET operation in the schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [(path, p["name"]) for path, ops in schema["paths"].items()
            if path.startswith("/api/") and not path.startswith("/api/prm/")
            for method, op in ops.items() if method == "get"
            for p in op.get("parameters", []) if p["in"] == "query"]


def test_every_api_query_parameter(make_user):
    lab = build(make_user, slug="nulq")
    client = api(lab["users"]["admin"])
    params = _query_params()
    names = {name for _, name in params}
    assert {"external_id", "subject", "status", "kind", "since", "split", "format"} <= names
    for path, name in params:
        url = path.replace("{id}", "1")
        resp = client.get(url, {name: NUL})
        assert resp.status_code == 400, (url, name, resp.status_code)
        assert resp.json() == {name: _nul_message(name)}, (url, name)
    # The parameter's name itself, too.
    resp = client.get("/api/problems/", {"sub\x00ject": "algebra"})
    assert resp.status_code == 400 and resp.json() == {"subject": _nul_message("subject")}


@pytest.mark.parametrize("url, body, field", [
    ("/api/problems/bulk/", {"items": [{"statement": "1+1?", "metadata": {"source": NUL}}]},
     "items.0.metadata.source"),
    ("/api/problems/bulk/", {"items": [{"statement": NUL}]}, "items.0.statement"),
    ("/api/solutions/bulk/", {"items": [{"problem_external_id": "p1", "steps": ["a"],
                                         "metadata": {NUL: 1}}]}, "items.0.metadata.beforeafter"),
    ("/api/traces/bulk/", {"format": "trace", "items": [{"question": "q", "text": NUL}]},
     "items.0.text"),
    ("/api/exports/", {"spec": {"format": "trl", "split_seed": NUL}}, "spec.split_seed"),
    ("/api/runs/", {"kind": "train_prm", "params": {"name": NUL}}, "params.name"),
])
def test_api_json_bodies(make_user, url, body, field):
    lab = build(make_user, slug="nulb")
    project = lab["project"].pk
    body = {**body, "project": project}
    if "spec" in body:
        body["spec"]["projects"] = [project]
    resp = api(lab["users"]["admin"]).post(url, body, format="json")
    assert resp.status_code == 400
    assert resp.json() == {field: _nul_message(field)}


def test_review_note(client, make_user):
    lab = build(make_user, slug="nulr")
    project, reviewer = lab["project"], lab["users"]["reviewer"]
    client.force_login(reviewer)
    assignment = lab["assignments"]["a1"]
    url = reverse("manage:review_detail", args=[project.slug, assignment.pk])
    for action in ("accept", "reject"):
        resp = client.post(url, {"action": action, "note": NUL})
        assert resp.status_code == 400
        assert "&#x27;note&#x27; contains a NUL byte." in resp.content.decode()
    assert not assignment.review_decisions.exists()


def test_token_page_name(client, make_user):
    client.force_login(make_user("nul-tokens"))
    resp = client.post(reverse("api:tokens-page"), {"name": NUL, "scope": "read"})
    assert resp.status_code == 400
    assert "&#x27;name&#x27; contains a NUL byte." in resp.content.decode()


@pytest.mark.parametrize("field", ["name", "base_model", "snapshot_split"])
def test_training_form(client, make_user, field):
    lab = build(make_user, slug=f"nult-{field}".replace("_", "-"))
    client.force_login(lab["users"]["admin"])
    data = {"project": lab["project"].pk, "name": "prm", field: NUL}
    resp = client.post(reverse("training:create"), data)
    assert resp.status_code == 400
    assert f"&#x27;{field}&#x27; contains a NUL byte." in resp.content.decode()
    assert not PrmModel.objects.exists()
