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
    Membership.objects.create(project=project, user=user, role=Membership.Role.REVIEWER)
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
    ({"items": [{"problem": "p", "steps": []}]}, "items", "between 1 and 200 steps"),
    ({"items": [{"steps": ["a"]}]}, "items", "string 'problem' (required"),
    ({"items": [{"problem": "p", "steps": ["a", " \n"]}]}, "items", "step 1 is empty"),
    ({"items": [{"problem": "p", "text": "a", "delimiter": ""}]}, "items", "non-empty"),
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
    Membership.objects.create(project=project, user=user, role=Membership.Role.REVIEWER)
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
    assert client.openrlhf([PROBLEM + completions[0]], [PROBLEM])["rewards"] == pytest.approx(
        expected[:1], abs=1e-5)

    with pytest.raises(PrmServiceError) as err:
        PrmClient(live_server.url, model.pk, token="sw_not-a-key").score(
            [{"problem": "p", "steps": ["a"]}])
    assert err.value.status == 401


@pytest.mark.portable
def test_openrlhf_empty_response_scores_worst(setup, prm_path):
    queries = [PROBLEM, PROBLEM + " \n\n  ", PROBLEM + "add 2 so\n\nthen we get 4"]
    r = setup["client"].post(url(setup["model"], "openrlhf"),
                             {"query": queries, "prompts": [PROBLEM] * 3}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["rewards"][:2] == [0.0, 0.0] and body["rewards"][2] > 0.0
    assert body["step_scores"][:2] == [[], []]
    assert body["extra_logs"]["prm_empty"] == [1.0, 1.0, 0.0]


@pytest.mark.portable
def test_openrlhf_prompt_that_is_not_a_prefix_is_reported(setup):
    r = setup["client"].post(url(setup["model"], "openrlhf"),
                             {"query": ["solve ? add 2 so", PROBLEM + "add 2 so"],
                              "prompts": [PROBLEM, PROBLEM]}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["extra_logs"]["prm_prompt_mismatch"] == [1.0, 0.0]
    assert len(body["warnings"]) == 1 and body["warnings"][0].startswith("Query 0:")


@pytest.mark.portable
def test_openrlhf_answer_has_what_openrlhf_reads(setup, prm_path):
    """rewards, scores and extra_logs with one number per query and key (OpenRLHF makes a
    tensor of each); per-step scores beside them."""
    queries = [PROBLEM + "add 2 so\n\nthen we get 4\n\noops wrong 5"]
    r = setup["client"].post(url(setup["model"], "openrlhf"),
                             {"query": queries, "prompts": [PROBLEM], "labels": ["4"]},
                             format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    expected = PrmScorer(prm_path).score([(PROBLEM, STEPS)])[0]
    assert body["step_scores"][0] == pytest.approx(expected, abs=1e-5)
    assert body["rewards"] == body["scores"] == pytest.approx([min(expected)], abs=1e-5)
    for key, values in body["extra_logs"].items():
        assert len(values) == 1 and isinstance(values[0], float), key
    assert body["extra_logs"]["prm_steps"] == [3.0]
    assert body["extra_logs"]["prm_last"] == pytest.approx([expected[-1]], abs=1e-5)


@pytest.mark.portable
def test_prm800k_answer_step_stays_one_step(setup, prm_path):
    expected = PrmScorer(prm_path).score([(PROBLEM, ["add 2 so", "# Answer\n\n4"])])[0]
    r = setup["client"].post(url(setup["model"]), {"items": [
        {"problem": PROBLEM, "text": "add 2 so\n\n# Answer\n\n4"}]}, format="json")
    assert r.status_code == 200, r.content
    result = r.json()["results"][0]
    assert result["steps"] == 2
    assert result["step_scores"] == pytest.approx(expected, abs=1e-5)


@pytest.mark.portable
def test_the_model_cards_delimiter_is_the_default(setup, prm_path):
    model = setup["model"]
    model.model_card = {"step_delimiter": "\n"}
    model.save(update_fields=["model_card"])
    text = "add 2 so\nthen we get 4\n# Answer\n\n4"
    r = setup["client"].post(url(model), {"items": [{"problem": PROBLEM, "text": text}]},
                             format="json")
    assert r.status_code == 200 and r.json()["results"][0]["steps"] == 3, r.content
    r = setup["client"].post(url(model), {"delimiter": "\n\n", "items": [
        {"problem": PROBLEM, "text": text}]}, format="json")
    assert r.json()["results"][0]["steps"] == 2  # a delimiter sent still wins
    r = setup["client"].post(url(model, "openrlhf"), {"query": [PROBLEM + text],
                                                       "prompts": [PROBLEM]}, format="json")
    assert r.json()["extra_logs"]["prm_steps"] == [3.0]
    listed = setup["client"].get("/api/prm/models/").json()["models"]
    assert listed[0]["step_delimiter"] == "\n"


@pytest.mark.portable
def test_token_budget_bounds_a_request(setup, settings):
    settings.PRM_REWARD_MAX_TOKENS = 30
    item = {"problem": PROBLEM, "steps": STEPS}  # 18 tokens with the tiny tokenizer
    r = setup["client"].post(url(setup["model"]), {"items": [item]}, format="json")
    assert r.status_code == 200, r.content
    r = setup["client"].post(url(setup["model"]), {"items": [item, item]}, format="json")
    assert r.status_code == 413, r.content
    body = r.json()
    assert body["max_tokens"] == 30 and body["tokens"] > 30 and "budget is 30" in body["detail"]
    r = setup["client"].post(url(setup["model"], "openrlhf"),
                             {"query": [PROBLEM + "\n\n".join(STEPS)] * 2}, format="json")
    assert r.status_code == 413 and r.json()["max_tokens"] == 30


@pytest.mark.portable
def test_oversized_body_is_a_json_413_from_the_reward_endpoint(setup, settings):
    import io
    import json
    from wsgiref.util import setup_testing_defaults

    from stepwise.wsgi import application

    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"query": ["x" * (limit + 10)]}).encode()
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": url(setup["model"], "openrlhf"),
               "CONTENT_TYPE": "application/json", "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    setup_testing_defaults(environ)
    got = {}

    def start_response(status, headers):
        got["status"], got["headers"] = status, dict(headers)

    out = b"".join(application(environ, start_response))
    assert got["status"].startswith("413") and got["headers"]["Content-Type"] == "application/json"
    assert "the limit is" in json.loads(out)["detail"]
    # Served without that WSGI wrapper (runserver, the test client) the view answers JSON too.
    for kind in ("openrlhf", "score"):
        r = setup["client"].post(url(setup["model"], kind), body, content_type="application/json")
        assert r.status_code == 413 and r["Content-Type"] == "application/json", r.content[:100]
        assert "the limit is" in r.json()["detail"]


@pytest.mark.portable
def test_training_records_the_projects_step_delimiter_for_the_card(setup):
    from training.pipeline import project_step_delimiter

    project = setup["project"]
    assert project_step_delimiter(project) == "\n\n"
    project.generator = {"model": "m", "delimiter": "\n"}
    assert project_step_delimiter(project) == "\n"


def test_verl_loads_the_client_as_its_custom_reward_function(live_server, make_user, prm_path,
                                                             tmp_path):
    """verl's own loader (``verl.utils.import_utils.load_extern_object``, what its
    ``custom_reward_function.path``/``name`` config uses) loads a module whose
    ``compute_score`` is the client's, called the way verl's reward managers call it."""
    from api.services import issue_token
    from tests.client_modules import client_module

    import_utils = client_module("verl.utils.import_utils")

    user = make_user("verl")
    project = Project.objects.create(name="V", slug="v")
    Membership.objects.create(project=project, user=user, role=Membership.Role.REVIEWER)
    model = ready_model(project, prm_path)
    _, key = issue_token(user=user, name="verl")
    module = tmp_path / "stepwise_reward.py"
    module.write_text(
        "from training.client import PrmClient\n"
        f"compute_score = PrmClient({live_server.url!r}, {model.pk}, token={key!r}).compute_score\n")
    compute_score = import_utils.load_extern_object(module_path=str(module),
                                                    object_name="compute_score")
    solution = "add 2 so\n\nthen we get 4"
    score = compute_score(data_source="stepwise", solution_str=solution, ground_truth="4",
                          extra_info={"question": PROBLEM})
    expected = aggregate(PrmScorer(prm_path).score([(PROBLEM, solution.split("\n\n"))])[0])
    assert score == pytest.approx(expected, abs=1e-5)
