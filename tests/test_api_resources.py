"""Resources, scoping by membership, ingest, incremental ratings and runs over the API."""

import itertools

import pytest
from rest_framework.test import APIClient

from annotate.models import Problem, Solution, StepRating
from api.services import issue_token
from tests.exports_data import build
from workers.models import Run

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


@pytest.fixture
def lab(make_user):
    return build(make_user)


_names = itertools.count()


def api(user, scope="write"):
    _, key = issue_token(user=user, name=f"t-{scope}-{next(_names)}", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def test_everything_is_scoped_by_membership(lab):
    outsider = api(lab["users"]["outsider"])
    assert outsider.get("/api/projects/").json() == []
    assert outsider.get("/api/problems/").json()["results"] == []
    assert outsider.get(f"/api/solutions/{lab['solutions']['s1'].pk}/").status_code == 404
    annotator = api(lab["users"]["annotator"])
    projects = annotator.get("/api/projects/").json()
    assert [(p["slug"], p["role"]) for p in projects] == [("lab", "annotator")]
    # annotators see only their own assignments; reviewers see all of the project's
    mine = annotator.get("/api/assignments/").json()["results"]
    assert {a["annotator"] for a in mine} == {lab["users"]["annotator"].pk}
    everyone = api(lab["users"]["reviewer"]).get("/api/assignments/").json()["results"]
    assert len(everyone) == 3


def test_cursor_pagination_and_filters(lab):
    client = api(lab["users"]["admin"])
    first = client.get("/api/problems/", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = client.get(first["next"]).json()
    ids = [p["id"] for p in first["results"] + second["results"]]
    assert ids == sorted(ids) and len(ids) == 3
    assert [p["external_id"] for p in client.get("/api/problems/", {"external_id": "p2"})
            .json()["results"]] == ["p2"]
    assert client.get("/api/problems/", {"project": "x"}).status_code == 400
    assert client.get("/api/problems/", {"created_after": "nope"}).status_code == 400


def test_solution_detail_has_steps_and_tree(lab):
    client = api(lab["users"]["annotator"])
    s1 = lab["solutions"]["s1"]
    detail = client.get(f"/api/solutions/{s1.pk}/").json()
    assert [s["text"] for s in detail["steps"]] == ["3*4 = 12.", "2+12 = 15.",
                                                    "So the answer is 15."]
    tree = client.get(f"/api/problems/{s1.problem_id}/tree/").json()
    assert len(tree) == 5
    a = lab["nodes"]["a"].pk
    assert sorted(n["text"] for n in tree if n["parent"] == a) == ["2+12 = 14.", "2+12 = 15."]


def test_bulk_ingest_is_idempotent_with_per_row_errors(lab):
    client = api(lab["users"]["admin"])
    project = lab["project"].pk
    body = {"project": project, "items": [
        {"external_id": "n1", "statement": "1+1?", "ground_truth_answer": "2"},
        {"external_id": "n2"},  # no statement
        {"external_id": "p1", "statement": "What is 2+3*4?"},  # exists
    ]}
    resp = client.post("/api/problems/bulk/", body, format="json")
    assert resp.status_code == 201
    data = resp.json()
    assert (data["created"], data["existing"], data["errors"]) == (1, 1, 1)
    assert [r["status"] for r in data["results"]] == ["created", "error", "existing"]
    assert "statement" in data["results"][1]["errors"]
    again = client.post("/api/problems/bulk/", body, format="json").json()
    assert (again["created"], again["existing"]) == (0, 2)
    assert Problem.objects.filter(project=lab["project"], external_id="n1").count() == 1
    sols = {"project": project, "items": [
        {"problem_external_id": "n1", "external_id": "x1", "steps": ["1+1 = 2."],
         "final_answer": "2", "is_correct": True},
        {"problem_external_id": "missing", "steps": ["a"]},
        {"problem_external_id": "n1", "steps": []},
    ]}
    data = client.post("/api/solutions/bulk/", sols, format="json").json()
    assert [r["status"] for r in data["results"]] == ["created", "error", "error"]
    data = client.post("/api/solutions/bulk/", sols, format="json").json()
    assert data["results"][0]["status"] == "existing"
    assert Solution.objects.filter(external_id="x1").count() == 1
    # annotators and outsiders cannot ingest
    assert api(lab["users"]["annotator"]).post("/api/problems/bulk/", body,
                                               format="json").status_code == 403
    assert api(lab["users"]["outsider"]).post("/api/problems/bulk/", body,
                                              format="json").status_code == 404
    assert client.post("/api/problems/bulk/", {"project": project, "items": "x"},
                       format="json").status_code == 400


def test_ratings_since_cursor(lab, settings):
    settings.STEPWISE_RATINGS_SETTLE_SECONDS = 0
    client = api(lab["users"]["reviewer"])
    page = client.get("/api/ratings/", {"limit": 4}).json()
    assert len(page["results"]) == 4 and page["has_more"]
    rest = client.get("/api/ratings/", {"since": page["cursor"]}).json()
    assert len(rest["results"]) == 4 and not rest["has_more"]
    seen = {r["id"] for r in page["results"] + rest["results"]}
    assert seen == set(StepRating.objects.values_list("id", flat=True))
    idle = client.get("/api/ratings/", {"since": rest["cursor"]}).json()
    assert idle["results"] == [] and idle["cursor"] == rest["cursor"]
    # a changed rating comes again after the cursor
    changed = StepRating.objects.get(assignment=lab["assignments"]["a2"], node=lab["nodes"]["b"])
    changed.rating = -1
    changed.save()
    after = client.get("/api/ratings/", {"since": rest["cursor"]}).json()["results"]
    assert [(r["id"], r["rating"]) for r in after] == [(changed.pk, -1)]
    assert client.get("/api/ratings/", {"since": "garbage"}).status_code == 400
    own = api(lab["users"]["annotator"]).get("/api/ratings/").json()["results"]
    assert {r["annotator"] for r in own} == {lab["users"]["annotator"].pk}


def test_start_runs_validates_kind_params_and_role(lab):
    admin = api(lab["users"]["admin"])
    project = lab["project"].pk
    bad = admin.post("/api/runs/", {"kind": "rm_rf", "project": project}, format="json")
    assert bad.status_code == 400 and "kind" in bad.json()
    assert api(lab["users"]["reviewer"]).post(
        "/api/runs/", {"kind": "autolabel", "project": project}, format="json").status_code == 403
    resp = admin.post("/api/runs/", {"kind": "export", "project": project,
                                     "params": {"format": "trl"}}, format="json")
    assert resp.status_code == 201 and resp.json()["kind"] == "export"
    run = Run.objects.get(pk=resp.json()["id"])
    assert admin.get(f"/api/runs/{run.pk}/").json()["status"] in ("queued", "running",
                                                                 "succeeded")
    assert api(lab["users"]["annotator"]).get(f"/api/runs/{run.pk}/").status_code == 404
    bad_params = admin.post("/api/runs/", {"kind": "export", "project": project,
                                           "params": {"format": "csv"}}, format="json")
    assert bad_params.status_code == 400 and "format" in bad_params.json()


def test_runs_go_through_their_services_with_ids_checked(lab, make_user):
    from annotate.models import Problem, Project

    admin = api(lab["users"]["admin"])
    project = lab["project"]
    url = "/api/runs/"

    def start(kind, **params):
        return admin.post(url, {"kind": kind, "project": project.pk, "params": params},
                          format="json")

    # no generator configured: a clear 400, nothing queued
    resp = start("generate_candidates", problem_id=lab["solutions"]["s1"].problem_id)
    assert resp.status_code == 400 and "generator" in resp.json()["kind"]
    assert start("generate_candidates", problem_id=1, bogus=2).json()["params"]["bogus"]
    assert "problem_id" in start("generate_candidates").json()["params"]
    assert start("train_prm").json()["params"]["name"] == "Required."
    assert start("score_solutions", prm_model_id=999999).status_code == 400
    project.generator = {"model": "sshleifer/tiny-gpt2"}
    project.save()
    other = Project.objects.create(name="Other", slug="other")
    foreign = Problem.objects.create(project=other, statement="Not yours")
    resp = start("generate_candidates", problem_id=foreign.pk)
    assert resp.status_code == 400 and "project" in resp.json()["params"]
    resp = start("generate_solutions", problem_ids=[foreign.pk])
    assert resp.status_code == 400
    before = Run.objects.count()
    p1 = lab["solutions"]["s1"].problem_id
    resp = start("generate_candidates", problem_id=p1, parent_id=lab["nodes"]["a"].pk, k=2)
    assert resp.status_code == 201, resp.content
    run = Run.objects.get(pk=resp.json()["id"])
    assert (run.kind, run.params, run.project_id) == (
        "generate_candidates", {"problem_id": p1, "parent_id": lab["nodes"]["a"].pk, "k": 2},
        project.pk)
    assert Run.objects.count() == before + 1


def test_browsable_api_pages_render_for_a_browser_session(lab):
    client = APIClient()
    client.force_login(lab["users"]["admin"])
    s1 = lab["solutions"]["s1"]
    for url in ("/api/tokens/", "/api/projects/", "/api/problems/", "/api/solutions/",
                f"/api/solutions/{s1.pk}/", f"/api/problems/{s1.problem_id}/tree/",
                "/api/assignments/", "/api/ratings/", "/api/runs/", "/api/exports/",
                "/api/models/"):
        resp = client.get(url, HTTP_ACCEPT="text/html")
        assert resp.status_code == 200, url
        assert b"<html" in resp.content[:500].lower(), url
    # sessions write with CSRF like any browser form
    csrf = APIClient(enforce_csrf_checks=True)
    csrf.force_login(lab["users"]["admin"])
    assert csrf.post("/api/tokens/", {"name": "x"}, format="json").status_code == 403
