"""Reward URLs: OpenRLHF's remote reward client sends no Authorization header.

OpenRLHF 0.11 (``openrlhf/utils/agent.py``, ``SingleTurnAgentExecutor._fetch_rewards_via_http``)
posts ``{"query": [...], "prompts": [...], "labels": [...]}`` with ``aiohttp``'s
``session.post(url, json=payload)``: a Content-Type header and nothing else. It reads
``rewards``, ``scores`` (falling back to ``rewards``) and ``extra_logs``, and makes
``torch.tensor([value])`` of each extra_logs value. The requests below are that shape.
"""

import json
import logging
import urllib.error
import urllib.parse
import urllib.request

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from api.log_filters import RedactTokens
from api.models import RewardUrl, hash_key
from tests.client_modules import client_module
from tests.prm_factories import ready_model, trained_tiny_prm
from training.scoring import PrmScorer

PROBLEM = "problem 4 solve ?"
RESPONSE = "add 2 so\n\nthen we get 4\n\noops wrong 5"


@pytest.fixture(scope="module")
def prm_path(tmp_path_factory):
    return trained_tiny_prm(tmp_path_factory.mktemp("reward_url"))


@pytest.fixture
def admin_setup(db, make_user, prm_path):
    admin = make_user("rl-admin")
    project = Project.objects.create(name="RU", slug="ru")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    model = ready_model(project, prm_path)
    client = APIClient()
    client.force_login(admin)
    return {"admin": admin, "project": project, "model": model, "client": client}


def make_url(setup, name="openrlhf run") -> dict:
    r = setup["client"].post(f"/api/prm/{setup['model'].pk}/reward-urls/", {"name": name},
                             format="json")
    assert r.status_code == 201, r.content
    return r.json()


def openrlhf_post(url: str, payload: dict) -> tuple[int, dict]:
    """What OpenRLHF sends: JSON and a Content-Type header, no Authorization."""
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.django_db(transaction=True)
def test_openrlhf_own_client_gets_rewards_from_a_reward_url(live_server, admin_setup, prm_path):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    agent = client_module("openrlhf.utils.agent")  # the executor that posts to reward URLs
    made = make_url(admin_setup)
    url = live_server.url + urllib.parse.urlsplit(made["url"]).path
    executor = agent.SingleTurnAgentExecutor(remote_rm_url=url)
    fetch = executor._fetch_rewards_via_http(
        [PROBLEM + RESPONSE, PROBLEM], [PROBLEM, PROBLEM], ["4", "4"])
    # A loop of its own in another thread: the browser tests' Playwright keeps one running here.
    with ThreadPoolExecutor(max_workers=1) as pool:
        answers = pool.submit(asyncio.run, fetch).result(timeout=120)
    (answer,) = answers  # one reward server: one request for the batch
    expected = PrmScorer(prm_path).score([(PROBLEM, RESPONSE.split("\n\n"))])[0]
    assert answer["rewards"][0] == pytest.approx(min(expected), abs=1e-5)
    assert answer["rewards"][1] == 0.0  # an empty response scores worst
    # What the executor then reads off the answer (agent.py, after generation).
    assert answer.get("scores") is not None and isinstance(answer.get("extra_logs"), dict)


def test_openrlhf_scores_through_a_reward_url_with_no_authorization(live_server, admin_setup,
                                                                    prm_path):
    import torch

    made = make_url(admin_setup)
    key = urllib.parse.urlsplit(made["url"]).path.rstrip("/").rsplit("/", 1)[1]
    assert key.startswith("sw_") and made["prefix"] == key[:10]
    url = live_server.url + urllib.parse.urlsplit(made["url"]).path
    status, body = openrlhf_post(url, {"query": [PROBLEM + RESPONSE], "prompts": [PROBLEM],
                                       "labels": ["4"]})
    assert status == 200, body
    expected = PrmScorer(prm_path).score([(PROBLEM, RESPONSE.split("\n\n"))])[0]
    assert body["step_scores"][0] == pytest.approx(expected, abs=1e-5)
    assert body["rewards"] == pytest.approx([min(expected)], abs=1e-5)
    # What OpenRLHF's executor and samples generator do with the answer.
    score = body.get("scores") if body.get("scores") is not None else body.get("rewards")
    assert torch.tensor([body["rewards"]]).shape == torch.tensor([score]).shape == (1, 1)
    for value in (body.get("extra_logs") or {}).values():
        assert torch.tensor([value]).shape == (1, 1)

    # ?aggregate= on the URL, since OpenRLHF's body cannot carry it.
    status, body = openrlhf_post(url + "?aggregate=last", {"query": [PROBLEM + RESPONSE],
                                                           "prompts": [PROBLEM]})
    assert status == 200 and body["rewards"] == pytest.approx([expected[-1]], abs=1e-5)

    # Shown once: the list never has it, the database holds only its hash.
    listed = admin_setup["client"].get(f"/api/prm/{admin_setup['model'].pk}/reward-urls/").json()
    assert key not in json.dumps(listed) and listed["reward_urls"][0]["last_used_at"]
    row = RewardUrl.objects.get(pk=made["id"])
    assert row.key_hash == hash_key(key) and key not in json.dumps(
        list(RewardUrl.objects.values()), default=str)

    # Revoked: refused at once.
    r = admin_setup["client"].delete(
        f"/api/prm/{admin_setup['model'].pk}/reward-urls/{made['id']}/")
    assert r.status_code == 200 and r.json()["revoked_at"]
    status, body = openrlhf_post(url, {"query": [PROBLEM + RESPONSE]})
    assert status == 401 and "revoked" in body["detail"]
    status, body = openrlhf_post(live_server.url + "/api/prm/reward/sw_not-a-real-secret/",
                                 {"query": ["x"]})
    assert status == 401


@pytest.mark.portable
def test_only_admins_of_the_project_make_reward_urls_and_only_in_a_session(
        admin_setup, make_user):
    from api.services import issue_token

    path = f"/api/prm/{admin_setup['model'].pk}/reward-urls/"
    annotator = make_user("annot")
    Membership.objects.create(project=admin_setup["project"], user=annotator,
                              role=Membership.Role.ANNOTATOR)
    client = APIClient()
    client.force_login(annotator)
    assert client.post(path, {}, format="json").status_code == 403
    assert client.get(path).status_code == 403
    outsider = APIClient()
    outsider.force_login(make_user("outsider"))
    assert outsider.post(path, {}, format="json").status_code == 404
    _, key = issue_token(user=admin_setup["admin"], name="w", scope="write")
    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    r = with_token.post(path, {}, format="json")
    assert r.status_code == 403 and "session" in r.json()["detail"]
    assert APIClient().post(path, {}, format="json").status_code in (401, 403)
    assert not RewardUrl.objects.exists()


@pytest.mark.portable
def test_a_reward_url_scores_only_its_model_and_ends_with_its_creators_membership(
        admin_setup, prm_path):
    made = make_url(admin_setup)
    path = urllib.parse.urlsplit(made["url"]).path
    anonymous = APIClient()
    body = {"query": [PROBLEM + RESPONSE], "prompts": [PROBLEM]}
    assert anonymous.post(path, body, format="json").status_code == 200
    # The secret is not a login: the rest of the API still wants a token or a session.
    key = path.rstrip("/").rsplit("/", 1)[1]
    other = ready_model(admin_setup["project"], prm_path, name="other")
    anonymous.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert anonymous.post(f"/api/prm/{other.pk}/openrlhf/", body,
                          format="json").status_code == 401
    anonymous.credentials()
    Membership.objects.filter(user=admin_setup["admin"]).delete()
    assert anonymous.post(path, body, format="json").status_code == 401


def test_the_secret_of_a_reward_url_is_masked_in_logs():
    key = "sw_" + "Ab3-_x" * 7
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1,
                               "Not Found: %s", (f"/api/prm/reward/{key}/",), None)
    assert RedactTokens().filter(record)
    assert key not in record.getMessage() and "/api/prm/reward/sw_Ab3" in record.getMessage()
