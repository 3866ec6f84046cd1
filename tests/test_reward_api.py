"""The reward service: contract, permissions, validation, OpenRLHF protocol, client."""

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from tests.prm_factories import ready_model, trained_tiny_prm
from training.models import PrmModel
from training.scoring import PrmScorer, aggregate

PROBLEM = "problem 4 solve ?"
STEPS = ["add 2 so", "then we get 4", "oops wrong 5"]


@pytest.fixture(scope="module")
def prm_path(tmp_path_factory):
    return trained_tiny_prm(tmp_path_factory.mktemp("reward"))


@pytest.fixture
def setup(db, make_user, prm_path):
    user = make_user("rl")
    project = Project.objects.create(name="R", slug="r")
    Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
    model = ready_model(project, prm_path)
    client = APIClient()
    client.force_login(user)
    return {"user": user, "project": project, "model": model, "client": client}


def url(model, kind="score"):
    return f"/api/prm/{model.pk}/{kind}/"


@pytest.mark.portable
def test_score_returns_per_step_scores_and_each_aggregate(setup, prm_path):
    expected = PrmScorer(prm_path).score([(PROBLEM, STEPS)])[0]
    for how in ("min", "product", "last"):
        r = setup["client"].post(url(setup["model"]), {
            "aggregate": how, "items": [{"problem": PROBLEM, "steps": STEPS},
                                        {"problem": PROBLEM, "text": "\n\n".join(STEPS)}]},
            format="json")
        assert r.status_code == 200, r.content
        body = r.json()
        assert body["model"] == {"id": setup["model"].pk, "name": "tiny"}
        assert len(body["results"]) == 2
        for result in body["results"]:  # steps and split text give the same answer
            assert result["steps"] == 3
            assert result["step_scores"] == pytest.approx(expected, abs=1e-5)
            assert result["score"] == pytest.approx(aggregate(expected, how), abs=1e-5)
    assert expected[2] < expected[0]


@pytest.mark.portable
def test_openrlhf_protocol(setup, prm_path):
    scorer = PrmScorer(prm_path)
    queries = [PROBLEM + "add 2 so\n\nthen 3", PROBLEM + "oops wrong 9\n\nguess 3"]
    r = setup["client"].post(url(setup["model"], "openrlhf"),
                             {"query": queries, "prompts": [PROBLEM, PROBLEM]}, format="json")
    assert r.status_code == 200, r.content
    rewards = r.json()["rewards"]
    expected = [aggregate(s) for s in scorer.score(
        [(PROBLEM, ["add 2 so", "then 3"]), (PROBLEM, ["oops wrong 9", "guess 3"])])]
    assert rewards == pytest.approx(expected, abs=1e-5)
    assert rewards[0] > rewards[1]


@pytest.mark.portable
@pytest.mark.parametrize("body,field,message", [
    ({}, "items", "list 'items'"),
    ({"items": []}, "items", "between 1 and"),
    ({"items": [{"problem": "p"}]}, "items", "give 'steps' or 'text'"),
    ({"items": [{"problem": "p", "steps": "x"}]}, "items", "list of strings"),
    ({"items": [{"problem": "p", "text": "  "}]}, "items", "between 1 and 200 steps"),
    ({"items": [{"problem": "p", "steps": ["a"]}], "aggregate": "max"}, "aggregate", "one of"),
])
def test_bad_input_gets_a_specific_400(setup, body, field, message):
    r = setup["client"].post(url(setup["model"]), body, format="json")
    assert r.status_code == 400
    assert message in str(r.json()[field])


@pytest.mark.portable
def test_openrlhf_validation(setup):
    r = setup["client"].post(url(setup["model"], "openrlhf"), {"query": "x"}, format="json")
    assert r.status_code == 400 and "list of strings" in str(r.json()["query"])
    r = setup["client"].post(url(setup["model"], "openrlhf"),
                             {"query": ["a", "b"], "prompts": ["a"]}, format="json")
    assert r.status_code == 400 and "one per query" in str(r.json()["prompts"])


@pytest.mark.portable
def test_permissions_and_model_state(setup, make_user):
    body = {"items": [{"problem": "p", "steps": ["a"]}]}
    assert APIClient().post(url(setup["model"]), body, format="json").status_code in (401, 403)
    outsider = APIClient()
    outsider.force_login(make_user("outsider"))
    assert outsider.post(url(setup["model"]), body, format="json").status_code == 404
    PrmModel.objects.filter(pk=setup["model"].pk).update(status=PrmModel.Status.TRAINING)
    r = setup["client"].post(url(setup["model"]), body, format="json")
    assert r.status_code == 400 and "not ready" in str(r.json()["model"])


@pytest.mark.portable
def test_model_list_shows_only_ready_models_of_my_projects(setup, make_user, prm_path):
    other = Project.objects.create(name="O", slug="o")
    ready_model(other, prm_path, name="not-mine")
    r = setup["client"].get("/api/prm/models/")
    assert r.status_code == 200
    assert [m["name"] for m in r.json()["models"]] == ["tiny"]


@pytest.mark.django_db(transaction=True)
def test_client_with_api_token_as_grpo_reward_and_verl_score(live_server, make_user, prm_path):
    from api.services import issue_token
    from training.client import PrmClient, PrmServiceError

    user = make_user("trainer")
    project = Project.objects.create(name="L", slug="l")
    Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
    model = ready_model(project, prm_path)
    _, key = issue_token(user=user, name="rl")  # a read-scoped token: scoring writes nothing
    client = PrmClient(live_server.url, model.pk, token=key, batch_size=2)
    scorer = PrmScorer(prm_path)

    completions = ["add 2 so\n\nthen 3", "oops wrong 9\n\nguess 3", "then 4", "wrong 1"]
    rewards = client.grpo_reward(prompts=[PROBLEM] * 4, completions=completions)
    expected = [aggregate(s) for s in scorer.score(
        [(PROBLEM, c.split("\n\n")) for c in completions])]
    assert rewards == pytest.approx(expected, abs=1e-5)
    conversational = client.grpo_reward(
        prompts=[[{"role": "user", "content": PROBLEM}]],
        completions=[[{"role": "assistant", "content": completions[0]}]])
    assert conversational == pytest.approx(expected[:1], abs=1e-5)
    verl = client.compute_score("synthetic", completions[1], "3", {"question": PROBLEM})
    assert verl == pytest.approx(expected[1], abs=1e-5)
    assert client.openrlhf([PROBLEM + completions[0]], [PROBLEM]) == pytest.approx(
        expected[:1], abs=1e-5)

    with pytest.raises(PrmServiceError) as err:
        PrmClient(live_server.url, model.pk, token="sw_not-a-key").score(
            [{"problem": "p", "steps": ["a"]}])
    assert err.value.status == 401
