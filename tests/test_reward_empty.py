"""An empty completion in a batch scores the worst (0.0); the rest of the batch is scored."""

import pytest

from annotate.models import Membership, Project
from tests.prm_factories import ready_model, trained_tiny_prm
from training.scoring import PrmScorer, aggregate

PROBLEM = "problem 4 solve ?"
COMPLETIONS = ["add 2 so\n\nthen 3", "", " \n\n  ", "oops wrong 9\n\nguess 3"]


@pytest.fixture(scope="module")
def prm_path(tmp_path_factory):
    return trained_tiny_prm(tmp_path_factory.mktemp("reward-empty"))


def expected(prm_path) -> list[float]:
    scores = PrmScorer(prm_path).score([(PROBLEM, COMPLETIONS[0].split("\n\n")),
                                        (PROBLEM, COMPLETIONS[3].split("\n\n"))])
    return [aggregate(scores[0]), 0.0, 0.0, aggregate(scores[1])]


@pytest.mark.portable
def test_score_endpoint_scores_an_empty_text_as_the_worst(db, make_user, prm_path):
    from rest_framework.test import APIClient

    user = make_user("empty")
    project = Project.objects.create(name="E", slug="e")
    # A trainer's account: reviewers read PRM scores (annotators only when hints are shown).
    Membership.objects.create(project=project, user=user, role=Membership.Role.REVIEWER)
    model = ready_model(project, prm_path)
    client = APIClient()
    client.force_login(user)
    r = client.post(f"/api/prm/{model.pk}/score/", {"items": [
        {"problem": PROBLEM, "text": c} for c in COMPLETIONS]}, format="json")
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [x["score"] for x in results] == pytest.approx(expected(prm_path), abs=1e-5)
    assert [x["steps"] for x in results] == [2, 0, 0, 2] and results[1]["step_scores"] == []


@pytest.mark.django_db(transaction=True)
def test_client_batch_with_an_empty_completion(live_server, make_user, prm_path, tmp_path):
    """TRL's grpo_reward, rewards, and compute_score loaded by verl's own loader."""
    from api.services import issue_token
    from tests.client_modules import client_module
    from training.client import PrmClient

    user = make_user("grpo-empty")
    project = Project.objects.create(name="G", slug="g")
    # A trainer's account: reviewers read PRM scores (annotators only when hints are shown).
    Membership.objects.create(project=project, user=user, role=Membership.Role.REVIEWER)
    model = ready_model(project, prm_path)
    _, key = issue_token(user=user, name="rl")
    client = PrmClient(live_server.url, model.pk, token=key)
    want = expected(prm_path)
    assert client.grpo_reward(prompts=[PROBLEM] * 4, completions=COMPLETIONS) == \
        pytest.approx(want, abs=1e-5)
    conversational = client.grpo_reward(
        prompts=[[{"role": "user", "content": PROBLEM}]] * 2,
        completions=[[{"role": "assistant", "content": ""}],
                     [{"role": "assistant", "content": COMPLETIONS[0]}]])
    assert conversational == pytest.approx([0.0, want[0]], abs=1e-5)
    assert client.rewards([PROBLEM] * 4, COMPLETIONS) == pytest.approx(want, abs=1e-5)
    module = tmp_path / "stepwise_reward.py"
    module.write_text(
        "from training.client import PrmClient\n"
        f"compute_score = PrmClient({live_server.url!r}, {model.pk}, token={key!r}).compute_score\n")
    compute_score = client_module("verl.utils.import_utils").load_extern_object(
        module_path=str(module), object_name="compute_score")
    assert compute_score(data_source="stepwise", solution_str="", ground_truth="4",
                         extra_info={"question": PROBLEM}) == 0.0
