"""The reward service in every RL trainer's shape, against a live Stepwise (transformers
backend): OpenRLHF's one sample per request, verl's ``/classify`` and slime's ``--rm-url``.

verl 0.9 (``verl/experimental/reward_loop/reward_loop.py``, ``compute_score_disrm``) posts
``{"model", "input": <text>, "use_activation": false}`` with aiohttp to
``http://{address}/classify`` and reads ``data[-1]["probs"][-1]``. slime posts
``{"prompt", "response", "label"}`` to ``--rm-url`` and takes the JSON it gets back as the
reward. The requests below are those shapes, sent the way those trainers send them.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from tests.prm_factories import ready_model, trained_tiny_prm
from training.backends import forget_scorers, scorer_for
from training.backends.batching import BatchingScorer
from training.scoring import PrmScorer

PROBLEM = "problem 4 solve ?"
STEPS = ["add 2 so", "then we get 4", "oops wrong 5"]
TEXT = "\n\n".join(STEPS)


@pytest.fixture(scope="module")
def prm_path(tmp_path_factory):
    return trained_tiny_prm(tmp_path_factory.mktemp("reward_trainers"))


@pytest.fixture
def setup(db, make_user, prm_path):
    forget_scorers()
    admin = make_user("trainer-admin")
    project = Project.objects.create(name="RT", slug="rt")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    model = ready_model(project, prm_path)
    client = APIClient()
    client.force_login(admin)
    yield {"model": model, "client": client}
    forget_scorers()


def reward_url(setup, live_server) -> str:
    made = setup["client"].post(f"/api/prm/{setup['model'].pk}/reward-urls/", {"name": "rl"},
                                format="json").json()
    return live_server.url + urllib.parse.urlsplit(made["url"]).path


def aiohttp_post(url: str, payload: dict):
    """aiohttp's ``session.post(url, json=payload)``, as verl and slime send, in a loop of
    its own (the browser tests keep one running in this thread)."""
    import aiohttp

    async def go():
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=payload) as resp:
                return resp.status, await resp.json(content_type=None)

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, go()).result(timeout=120)


@pytest.mark.django_db(transaction=True)
def test_verl_classify_reads_the_last_steps_score(setup, live_server, prm_path):
    expected = PrmScorer(prm_path).score([("", [PROBLEM + "\n" + STEPS[0], *STEPS[1:]])])[0]
    # verl's address has no path of its own: it appends "/classify" to what it is given.
    status, output = aiohttp_post(reward_url(setup, live_server) + "classify",
                                  {"model": "prm", "input": PROBLEM + "\n" + TEXT,
                                   "use_activation": False})
    assert status == 200, output
    assert output["data"][-1]["probs"][-1] == pytest.approx(expected[-1], abs=1e-5)
    assert output["object"] == "list" and output["usage"]["prompt_tokens"] > 0
    assert output["data"][-1]["num_classes"] == 2


def test_classify_takes_lists_and_refuses_token_ids(setup, prm_path):
    client, model = setup["client"], setup["model"]
    r = client.post(f"/api/prm/{model.pk}/classify/", {"input": [TEXT, "", STEPS[0]]},
                    format="json")
    assert r.status_code == 200, r.content
    scores = PrmScorer(prm_path).score([("", STEPS), ("", STEPS[:1])])
    probs = [row["probs"] for row in r.json()["data"]]
    assert probs[0][-1] == pytest.approx(scores[0][-1], abs=1e-5)
    assert probs[1] == [1.0, 0.0]  # an empty text scores the worst
    assert probs[2][-1] == pytest.approx(scores[1][-1], abs=1e-5)
    assert all(abs(sum(p) - 1) < 1e-5 for p in probs)
    r = client.post(f"/api/prm/{model.pk}/classify/?aggregate=min", {"input": TEXT}, format="json")
    assert r.json()["data"][0]["probs"][-1] == pytest.approx(min(scores[0]), abs=1e-5)
    r = client.post(f"/api/prm/{model.pk}/classify/", {"input": [[101, 2023]]}, format="json")
    assert r.status_code == 400 and "text" in r.json()["input"]
    r = client.post(f"/api/prm/{model.pk}/classify/", {"input": ["x"] * 257}, format="json")
    assert r.status_code == 400 and "between 1 and 256" in r.json()["input"]


@pytest.mark.django_db(transaction=True)
def test_slime_gets_a_bare_number(setup, live_server, prm_path):
    url = reward_url(setup, live_server) + "slime/"
    expected = PrmScorer(prm_path).score([(PROBLEM, STEPS)])[0]
    status, reward = aiohttp_post(url, {"prompt": PROBLEM, "response": TEXT, "label": "4"})
    assert status == 200 and reward == pytest.approx(min(expected), abs=1e-5)
    chat = [{"role": "system", "content": "Reason step by step."},
            {"role": "user", "content": PROBLEM}]
    status, reward = aiohttp_post(url + "?aggregate=last", {"prompt": chat, "response": TEXT})
    assert status == 200 and reward == pytest.approx(expected[-1], abs=1e-5)
    assert aiohttp_post(url, {"prompt": PROBLEM, "response": "", "label": None}) == (200, 0.0)
    status, body = aiohttp_post(url, {"prompt": PROBLEM})
    assert status == 400 and "response" in body
    status, body = aiohttp_post(url, {"prompt": [{"role": "system", "content": "x"}],
                                      "response": TEXT})
    assert status == 400 and "user turn" in body["prompt"]


@pytest.mark.django_db(transaction=True)
def test_openrlhf_one_sample_per_request_gets_the_batched_numbers(setup, live_server, prm_path):
    """OpenRLHF 0.11 sends each sample alone; many at once get what one batch gets."""
    url = reward_url(setup, live_server)
    texts = [" ".join(STEPS[: 1 + i % 3]).replace(" then", "\n\nthen").replace(" oops", "\n\noops")
             for i in range(24)]
    batched = setup["client"].post(f"/api/prm/{setup['model'].pk}/openrlhf/",
                                   {"query": [PROBLEM + t for t in texts],
                                    "prompts": [PROBLEM] * len(texts)}, format="json").json()

    def one(i):
        status, body = aiohttp_post(url, {"query": [PROBLEM + texts[i]], "prompts": [PROBLEM],
                                          "labels": ["4"]})
        assert status == 200, body
        return body["rewards"][0]

    with ThreadPoolExecutor(max_workers=8) as pool:
        singles = list(pool.map(one, range(len(texts))))
    assert singles == pytest.approx(batched["rewards"], abs=1e-5)


def test_concurrent_callers_share_one_forward_pass(prm_path):
    """Callers that arrive while the model is busy are scored together when it is free,
    each getting its own rows; a lone caller runs at once."""
    wrapped = BatchingScorer(PrmScorer(prm_path))
    items = [(PROBLEM, STEPS[: 1 + i % 3]) for i in range(12)]
    alone = [wrapped.score([item])[0] for item in items]
    assert wrapped.calls == len(items)

    results: dict[int, list] = {}
    wrapped._turn.acquire()  # the model is busy: every caller below waits its turn
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, wrapped.score([items[i]])))
               for i in range(len(items))]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(wrapped._waiting) < len(items) and time.monotonic() < deadline:
        time.sleep(0.01)
    calls = wrapped.calls
    wrapped._turn.release()
    for thread in threads:
        thread.join(timeout=60)
    assert wrapped.calls - calls == 1  # one merged forward pass for the twelve
    assert [results[i][0] for i in range(len(items))] == alone


def test_each_caller_keeps_its_own_token_budget(prm_path):
    from training.scoring import TokenBudgetExceeded

    wrapped = BatchingScorer(PrmScorer(prm_path))
    with pytest.raises(TokenBudgetExceeded):
        wrapped.score([(PROBLEM, STEPS)], max_tokens=3)
    assert wrapped.calls == 0
    assert json.dumps(wrapped.score([(PROBLEM, STEPS)], max_tokens=10_000))


def test_the_reward_service_scorer_is_shared_per_model(setup):
    assert scorer_for(setup["model"]) is scorer_for(setup["model"])


FIRST_LOAD = """
import sys, threading, django
django.setup()
from training.backends import scorer_for
from training.models import PrmModel
model = PrmModel(pk=1, name="m", artifact_path=sys.argv[1], status="ready")
errors, scores = [], []
def one():
    try:
        scores.append(scorer_for(model).score([("problem 4 solve ?", ["add 2 so"])])[0])
    except Exception as exc:
        errors.append(repr(exc))
threads = [threading.Thread(target=one) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
print(errors or len(set(map(tuple, scores))))
sys.exit(1 if errors else 0)
"""


def test_concurrent_first_requests_in_a_fresh_process_load_the_model_once(prm_path):
    """Eight request threads of a new web process reach an unloaded model at once: none fails
    (transformers' lazy imports are not thread-safe) and all get the same scores."""
    import os
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", FIRST_LOAD, str(prm_path)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "1"


NO_TORCH = """
import sys, django
django.setup()
import api.urls  # noqa: the web process's views
from training.backends.vllm_pooling import VllmPoolingScorer
from training.serving import pooling_spec
spec = pooling_spec(sys.argv[1])
scorer = VllmPoolingScorer(urls=["http://127.0.0.1:9"], served_model="stepwise-prm-1",
                           model_path=sys.argv[1], spec=spec, timeout=1)
print(scorer.token_counts([("problem 4 solve ?", ["add 2 so", "then we get 4"])]))
print(sorted(m for m in ("torch", "transformers") if m in sys.modules))
"""


def test_the_vllm_backend_tokenizes_like_transformers_without_importing_torch(prm_path,
                                                                              tmp_path):
    """A web process on the vllm backend encodes exactly as PrmScorer does (a prompt long
    enough to be cut included) and never imports torch or transformers."""
    import os
    import subprocess
    import sys

    from training.backends.tokenizer import FastTokenizer
    from training.data import encode

    scorer = PrmScorer(prm_path)
    light = FastTokenizer(prm_path)
    long_prompt = "problem " + " ".join(["add 2 so , then we get 4 ."] * 40) + " ?"
    for prompt, steps in [(PROBLEM, STEPS), (long_prompt, STEPS * 6), ("", ["x y z"])]:
        want = encode(scorer.tokenizer, prompt, steps, None, separator=scorer.separator,
                      sep_id=scorer.sep_id, max_length=scorer.max_length)
        got = encode(light, prompt, steps, None, separator=scorer.separator,
                     sep_id=scorer.sep_id, max_length=scorer.max_length)
        assert got == want
    assert light.all_special_ids == sorted(scorer.tokenizer.all_special_ids)
    result = subprocess.run([sys.executable, "-c", NO_TORCH, str(prm_path)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-3000:]
    counts, modules = result.stdout.strip().splitlines()[-2:]
    assert counts == str(scorer.token_counts([(PROBLEM, STEPS[:2])]))
    assert modules == "[]"
