"""The reward service takes a trajectory as chat messages (api/reward_messages.py): OpenAI chat
with tool calls and Anthropic messages, one score per assistant turn, the context rendered as
docs/api.md says; a bad shape is a 400 naming the message."""

from __future__ import annotations

import json
import urllib.request

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from tests.prm_factories import ready_model, trained_tiny_prm
from training.scoring import PrmScorer, aggregate

PROBLEM = "problem 4 solve ?"
CALL = {"id": "c1", "type": "function",
        "function": {"name": "calc", "arguments": "{\"expr\": \"2+2\"}"}}
OPENAI = [
    {"role": "user", "content": PROBLEM},
    {"role": "assistant", "content": "add 2 so", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": "4"},
    {"role": "assistant", "content": "then we get 4"},
    {"role": "user", "content": "sure?"},
    {"role": "assistant", "content": "oops wrong 5"},
    {"role": "user", "content": "thanks"},  # after the last step: scores nothing
]
#: What docs/api.md says the OpenAI trajectory above is scored as.
OPENAI_STEPS = [
    'add 2 so\n\n<tool_call>\n{"name": "calc", "arguments": {"expr": "2+2"}}\n</tool_call>',
    '<tool_result>\n{"name": "calc", "content": "4"}\n</tool_result>\n\nthen we get 4',
    "User: sure?\n\noops wrong 5",
]
ANTHROPIC = [
    {"role": "user", "content": [{"type": "text", "text": PROBLEM}]},
    {"role": "assistant", "content": [{"type": "text", "text": "add 2 so"},
                                      {"type": "tool_use", "id": "t1", "name": "calc",
                                       "input": {"expr": "2+2"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                  "content": [{"type": "text", "text": "error"}],
                                  "is_error": True}]},
    {"role": "assistant", "content": "guess 5"},
]
ANTHROPIC_PROMPT = f"System: be brief\n\nUser: {PROBLEM}"
ANTHROPIC_STEPS = [
    'add 2 so\n\n<tool_call>\n{"name": "calc", "arguments": {"expr": "2+2"}}\n</tool_call>',
    '<tool_result>\n{"name": "calc", "content": "error", "is_error": true}\n</tool_result>'
    "\n\nguess 5",
]


@pytest.fixture(scope="module")
def prm_path(tmp_path_factory):
    return trained_tiny_prm(tmp_path_factory.mktemp("reward-trajectories"))


@pytest.fixture
def setup(db, make_user, prm_path):
    user = make_user("rl-trajectories")
    project = Project.objects.create(name="T", slug="t")
    Membership.objects.create(project=project, user=user, role=Membership.Role.REVIEWER)
    model = ready_model(project, prm_path)
    client = APIClient()
    client.force_login(user)
    return {"project": project, "model": model, "client": client, "user": user}


def post(setup, kind, body):
    return setup["client"].post(f"/api/prm/{setup['model'].pk}/{kind}/", body, format="json")


@pytest.mark.portable
def test_openai_and_anthropic_trajectories_score_one_step_per_assistant_turn(setup, prm_path):
    scorer = PrmScorer(prm_path)
    want = scorer.score([(PROBLEM, OPENAI_STEPS), (ANTHROPIC_PROMPT, ANTHROPIC_STEPS)])
    r = post(setup, "score", {"items": [
        {"messages": OPENAI}, {"messages": ANTHROPIC, "system": "be brief"},
        {"problem": PROBLEM, "steps": OPENAI_STEPS}], "aggregate": "last"})
    assert r.status_code == 200, r.content
    results = r.json()["results"]
    assert [res["steps"] for res in results] == [3, 2, 3]
    assert results[0]["step_scores"] == pytest.approx(want[0], abs=1e-5)
    assert results[1]["step_scores"] == pytest.approx(want[1], abs=1e-5)
    assert results[0]["step_scores"] == results[2]["step_scores"]  # the same as problem + steps
    assert results[0]["score"] == pytest.approx(want[0][-1], abs=1e-5)


@pytest.mark.portable
def test_a_plain_chat_scores_as_its_problem_and_steps(setup):
    steps = ["add 2 so", "then we get 4", "oops wrong 5"]
    messages = [{"role": "user", "content": PROBLEM}] + [
        {"role": "assistant", "content": s} for s in steps]
    r = post(setup, "score", {"items": [{"messages": messages},
                                        {"problem": PROBLEM, "steps": steps}]})
    assert r.status_code == 200, r.content
    a, b = r.json()["results"]
    assert a == b
    # With a system turn the context is rendered in blocks: the prompt changes, the steps not.
    system = [{"role": "system", "content": "be brief"}] + messages
    r = post(setup, "score", {"items": [{"messages": system}]})
    assert r.status_code == 200 and r.json()["results"][0]["steps"] == 3


@pytest.mark.portable
@pytest.mark.parametrize("messages, extra, says", [
    ("hello", {}, "'messages' must be a non-empty list of messages"),
    ([], {}, "'messages' must be a non-empty list of messages"),
    ([{"role": "user", "content": PROBLEM}], {}, "no assistant turn"),
    ([{"role": "user", "content": PROBLEM}, {"role": "assistant", "content": ""}], {},
     "'messages[1]' is an assistant turn with no text and no tool calls"),
    ([{"role": "user", "content": "x", "tool_calls": [CALL]}, {"role": "assistant", "content": "a"}],
     {}, "'messages[0].tool_calls' is on a user message"),
    ([{"role": "robot", "content": "x"}], {}, "'messages[0].role' is 'robot'"),
    (OPENAI + ANTHROPIC, {}, "the messages mix OpenAI tool calls"),
    ([{"role": "user", "content": PROBLEM}, {"role": "assistant", "content": 5}], {},
     "'messages[1].content' must be a string"),
    (OPENAI, {"problem": PROBLEM}, "give 'messages' or problem and steps, not both"),
    (ANTHROPIC, {"system": ["no"]}, "'system' must be a string"),
    ([{"role": "user", "content": PROBLEM}] + [{"role": "assistant", "content": "a"}] * 201, {},
     "201 assistant turns; at most 200"),
])
def test_bad_trajectories_are_400s_that_name_the_message(setup, messages, extra, says):
    r = post(setup, "score", {"items": [{"problem": PROBLEM, "steps": ["a"]},
                                        {"messages": messages, **extra}]})
    assert r.status_code == 400, r.content
    assert says in r.json()["items"] and r.json()["items"].startswith("Item 1: ")


@pytest.mark.portable
def test_openrlhf_and_slime_take_trajectories(setup, prm_path):
    scorer = PrmScorer(prm_path)
    want = scorer.score([(PROBLEM, OPENAI_STEPS)])[0]
    r = post(setup, "openrlhf", {"messages": [OPENAI, OPENAI[:2]]})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["step_scores"][0] == pytest.approx(want, abs=1e-5)
    assert body["rewards"][0] == pytest.approx(aggregate(want, "min"), abs=1e-5)
    assert body["extra_logs"]["prm_steps"] == [3.0, 1.0]
    assert post(setup, "openrlhf", {"messages": [OPENAI], "query": ["x"]}).json() == {
        "messages": "Send 'messages' or 'query' (with 'prompts'), not both."}
    bad = post(setup, "openrlhf", {"messages": [OPENAI, [{"role": "user", "content": "x"}]]})
    assert bad.status_code == 400 and bad.json()["messages"].startswith("Trajectory 1: ")
    assert post(setup, "openrlhf", {"messages": "x"}).status_code == 400
    r = post(setup, "slime", {"messages": OPENAI, "aggregate": "last"})
    assert r.status_code == 200 and r.json() == pytest.approx(want[-1], abs=1e-5)
    r = post(setup, "slime", {"messages": OPENAI, "response": "x"})
    assert r.status_code == 400 and "not both" in r.json()["messages"]


@pytest.mark.django_db(transaction=True)
def test_a_reward_url_scores_trajectories_on_a_live_server(make_user, prm_path, live_server):
    """OpenRLHF's client posts to the reward URL without a header: trajectories work there."""
    admin = make_user("rl-admin")
    project = Project.objects.create(name="TL", slug="tl")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    model = ready_model(project, prm_path)
    client = APIClient()
    client.force_login(admin)
    made = client.post(f"/api/prm/{model.pk}/reward-urls/", {"name": "rl"}, format="json").json()
    url = live_server.url + made["url"].split("testserver", 1)[-1]
    request = urllib.request.Request(url, data=json.dumps({"messages": [ANTHROPIC]}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        body = json.loads(answer.read())
    want = PrmScorer(prm_path).score([(PROBLEM, ANTHROPIC_STEPS)])[0]
    assert body["step_scores"][0] == pytest.approx(want, abs=1e-5)
    assert body["rewards"] == [pytest.approx(min(want), abs=1e-5)]
