"""The scaling chart on the PRM's search page, its CSV, the same points over the API, and
the queue strategy that offers the searched solutions the PRM got most wrong."""

import csv
import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from annotate.services.queue import next_task
from annotate.services.queue_strategies import STRATEGIES
from api.services import issue_token
from search.models import SearchedSolution
from search.queue import search_most_wrong_order
from tests.prm_factories import ready_model, seed_project
from tests.search_factories import POINTS, searched_prm
from training.data import StepExample
from workers.models import Run

pytestmark = pytest.mark.portable


def _api_points(user, prm, **query):
    _, key = issue_token(user=user, name=f"t{query}", scope="read")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get(f"/api/models/{prm.pk}/scaling/", query)


@pytest.mark.django_db
def test_api_csv_and_page_give_the_same_points(client, make_user):
    admin = make_user("boss")
    prm, run = searched_prm(admin)
    r = _api_points(admin, prm)
    assert r.status_code == 200, r.content
    data = r.json()
    assert data["run"] == run.pk and data["runs"] == [run.pk] and data["prm_model"] == prm.pk
    got = {(p["strategy"], p["budget"]): p for p in data["points"]}
    assert set(got) == set(POINTS)
    for key, (correct, gen, prm_tokens) in POINTS.items():
        assert got[key]["accuracy"] == correct / 4 and got[key]["correct"] == correct
        assert got[key]["problems"] == 4 and got[key]["generated_tokens"] == gen
        assert got[key]["prm_tokens"] == prm_tokens
    assert _api_points(admin, prm, run=run.pk + 1000).status_code == 404

    client.force_login(admin)
    body = client.get(reverse("search:scaling-csv", args=[prm.pk])).content.decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [(r["strategy"], int(r["budget"]), float(r["accuracy"])) for r in rows] == [
        (p["strategy"], p["budget"], p["accuracy"]) for p in data["points"]]
    detail = client.get(reverse("training:detail", args=[prm.pk])).content.decode()
    assert reverse("search:scaling", args=[prm.pk]) in detail

    outsider = make_user("outsider")
    client.force_login(outsider)
    assert client.get(reverse("search:scaling", args=[prm.pk])).status_code == 404
    assert client.get(reverse("search:scaling-csv", args=[prm.pk])).status_code == 404
    assert _api_points(outsider, prm).status_code == 404


@pytest.mark.django_db
def test_starting_a_search_checks_role_and_input(client, make_user):
    admin, annotator = make_user("a1"), make_user("n1")
    prm, _ = searched_prm(admin, slug="start")
    Membership.objects.create(project=prm.project, user=annotator, role=Membership.Role.ANNOTATOR)
    url = reverse("search:start", args=[prm.pk])
    client.force_login(annotator)
    assert client.post(url, {"max_budget": "4"}).status_code == 404
    client.force_login(admin)
    page = client.post(url, {"max_budget": "4"}, follow=True).content.decode()
    assert "generator is not set up" in page  # the project has no generator yet
    page = client.post(url, {"max_budget": "lots"}, follow=True).content.decode()
    assert "must be a whole number" in page
    assert not Run.objects.filter(kind="search").exclude(status="succeeded").exists()

    _, key = issue_token(user=admin, name="w", scope="write")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    r = api.post("/api/runs/", {"kind": "search", "project": prm.project_id,
                                "params": {"prm_model_id": prm.pk, "max_budget": 4}}, format="json")
    assert r.status_code == 400 and "generator is not set up" in r.content.decode()
    r = api.post("/api/runs/", {"kind": "search", "project": prm.project_id,
                                "params": {"prm_model_id": prm.pk, "beams": 4}}, format="json")
    assert r.status_code == 400 and "beams" in r.json()["params"]
    prm.project.generator = {"model": "/models/demo", "delimiter": "\n"}
    prm.project.save()
    r = api.post("/api/runs/", {"kind": "search", "project": prm.project_id,
                                "params": {"prm_model_id": prm.pk, "max_budget": 4, "limit": 2}},
                 format="json")
    assert r.status_code == 201, r.content
    run = Run.objects.get(pk=r.json()["id"])
    assert run.kind == "search" and run.params["max_budget"] == 4 and len(run.params["problem_ids"]) == 2


@pytest.mark.django_db
def test_the_queue_offers_searched_solutions_the_prm_got_most_wrong_or_was_least_sure_of(make_user):
    annotator = make_user("ann")
    project = Project.objects.create(name="Q", slug="q", queue_strategy="search_most_wrong")
    Membership.objects.create(project=project, user=annotator, role=Membership.Role.ANNOTATOR)
    examples = [StepExample(group=f"g{i}", prompt="problem", steps=[f"step {i}"], labels=[1],
                            is_correct=i % 2 == 0) for i in range(8)]
    solutions = seed_project(project, examples, annotator, labeled=False)
    prm = ready_model(project, "/models/prm")
    old, run = (Run.objects.create(kind="search", project=project) for _ in range(2))
    # Wrong answers (odd i) scored 0.1 * i; right answers with margins shrinking with i.
    for i, s in enumerate(solutions[:7]):
        SearchedSolution.objects.create(run=run, prm_model=prm, solution=s, score=i / 10,
                                        margin=None if i == 0 else 1 / (i + 1),
                                        is_correct=s.is_correct)
    # An older search's view of solution 1 does not count: the newest one does.
    SearchedSolution.objects.create(run=old, prm_model=prm, solution=solutions[1], score=0.99,
                                    margin=0.0, is_correct=False)
    pk = [s.pk for s in solutions]
    ordered = list(search_most_wrong_order(project.solutions.all(), project).values_list("pk", flat=True))
    wrong_by_score = [pk[5], pk[3], pk[1]]
    unsure_by_margin = [pk[6], pk[4], pk[2]]  # solution 0 has no sibling margin
    assert ordered[:6] == [pk[5], pk[6], pk[3], pk[4], pk[1], pk[2]]
    assert ordered[:6:2] == wrong_by_score and ordered[1:6:2] == unsure_by_margin
    assert set(ordered[6:]) == {pk[0], pk[7]}  # unsearched or unranked: id order after
    assert STRATEGIES["search_most_wrong"] is search_most_wrong_order

    task = next_task(project, annotator)
    assert task is not None and task.solution_id == pk[5]
