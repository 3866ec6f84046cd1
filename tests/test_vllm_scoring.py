"""The ``vllm`` scoring backend against vLLM's CPU build serving a trained Stepwise PRM.

The pooling server is started from the very command ``GET /api/models/<id>/`` gives. Scores
through it equal in-process transformers scores; the reward service answers every trainer's
shape from it without loading the model; a server that is down or lacks the model is a 503
with the reason, and a scoring Run in a real worker fails naming the server.
"""

from __future__ import annotations

import json
import shlex
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

from annotate.models import Membership, PreAnnotation, Project
from tests.conftest import spawn_worker, stop_process
from tests.inference_server import ServerStartError, free_port
from tests.prm_factories import rule_examples, seed_project, trained_demo_prm
from tests.vllm_pooling import start_from_command
from tests.vllm_server import stop_server
from training.backends import forget_scorers, loaded_scorers, scorer_for
from training.backends.vllm_pooling import VllmPoolingScorer
from training.models import PrmModel
from training.scoring import PrmScorer
from training.serving import pooling_spec, vllm_serve_command
from workers.models import Run
from workers.runs import task_for

pytestmark = pytest.mark.vllm

SERVED_PK = 9001  # fixed, so the served name (stepwise-prm-9001) is known before the row is
UNSERVED_PK = 9002
PROBLEM = "problem 4 solve ?"
STEPS = ["add 2 so", "then we get 4", "oops wrong 5"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(models dir, PRM folder, the API's command, pooling server base URL)."""
    models_dir = tmp_path_factory.mktemp("scoring-models")
    folder = trained_demo_prm(models_dir / "prm" / "served")
    old_dir = settings.MODELS_DIR
    settings.MODELS_DIR = models_dir
    try:
        command = vllm_serve_command(PrmModel(pk=SERVED_PK, artifact_path=str(folder),
                                              model_card={"serving": pooling_spec(folder)}))
        log = tmp_path_factory.mktemp("vllm-pooling") / "server.log"
        try:
            proc, url = start_from_command(command, models_dir, log)
        except ServerStartError as exc:
            pytest.fail(f"vLLM's pooling server did not start: {exc}", pytrace=False)
        try:
            yield {"models_dir": models_dir, "folder": folder, "command": command, "url": url}
        finally:
            stop_server(proc)
    finally:
        settings.MODELS_DIR = old_dir


@pytest.fixture
def on_vllm(served, settings):
    settings.MODELS_DIR = served["models_dir"]
    settings.STEPWISE_SCORING_BACKEND = "vllm"
    settings.STEPWISE_SCORING_URLS = [served["url"]]
    forget_scorers()
    yield served
    forget_scorers()


def make_models(served, make_user):
    admin = make_user("scoring-admin")
    project = Project.objects.create(name="Served", slug="served")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    card = {"serving": pooling_spec(served["folder"]), "step_delimiter": "\n\n"}
    models = [PrmModel.objects.create(pk=pk, project=project, name=f"m{pk}", base_model="minilm",
                                      artifact_path=str(served["folder"]), model_card=card,
                                      status=PrmModel.Status.READY)
              for pk in (SERVED_PK, UNSERVED_PK)]
    client = APIClient()
    client.force_login(admin)
    return project, models, client


def long_items():
    """Rule examples, and one longer than the model's 512 tokens: the window policy it was
    trained with (training/windows.py) scores its last steps in a window of their own."""
    items = [(ex.prompt, ex.steps) for ex in rule_examples(8, seed=3)]
    items.append((PROBLEM, ["add 2 so then we get 4 " * 12] * 12))
    return items


@pytest.mark.django_db
def test_the_api_gives_the_command_that_serves_the_model(on_vllm, make_user):
    _, (model, _), client = make_models(on_vllm, make_user)
    body = client.get(f"/api/models/{model.pk}/").json()
    assert body["serving"]["vllm_serve"] == on_vllm["command"]
    assert body["serving"]["served_model_name"] == "stepwise-prm-9001"
    assert body["serving"]["backend"] == "vllm"
    args = shlex.split(on_vllm["command"])
    pooler = json.loads(args[args.index("--pooler-config") + 1])
    tokenizer = PrmScorer(on_vllm["folder"]).tokenizer
    assert pooler == {"pooling_type": "STEP",
                      "step_tag_id": tokenizer.convert_tokens_to_ids("<|step|>")}
    assert str(on_vllm["models_dir"]) not in json.dumps(body)  # no server path leaves


@pytest.mark.django_db
def test_pooling_scores_equal_in_process_scores(on_vllm, make_user):
    _, (model, _), _ = make_models(on_vllm, make_user)
    items = long_items()
    expected = PrmScorer(on_vllm["folder"]).score(items)
    got = scorer_for(model).score(items)
    assert isinstance(scorer_for(model).scorer, VllmPoolingScorer)
    assert [len(g) for g in got] == [len(e) for e in expected]
    assert None not in got[-1] and None not in expected[-1]  # windows past the model's length
    for g_row, e_row in zip(got, expected):
        for g, e in zip(g_row, e_row):
            assert (g is None and e is None) or abs(g - e) <= 1e-5


@pytest.mark.django_db(transaction=True)
def test_trainer_shapes_from_the_pooling_server_load_no_model(on_vllm, make_user, live_server):
    """OpenRLHF (one sample a request, concurrently), verl's /classify and slime's body,
    against a live Stepwise on the vllm backend: the same numbers, no weights loaded here."""
    import urllib.request

    _, (model, _), client = make_models(on_vllm, make_user)
    made = client.post(f"/api/prm/{model.pk}/reward-urls/", {"name": "rl"}, format="json").json()
    reward_url = live_server.url + made["url"].split("testserver", 1)[-1]
    expected = PrmScorer(on_vllm["folder"]).score([(PROBLEM, STEPS)])[0]
    text = "\n\n".join(STEPS)

    def post(url, body):
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: post(reward_url, {"query": [PROBLEM + text],
                                                             "prompts": [PROBLEM]}), range(16)))
    for answer in answers:
        assert answer["rewards"] == pytest.approx([min(expected)], abs=1e-5)
    classify = post(reward_url + "classify", {"model": "prm", "input": [text, ""]})
    whole_text = PrmScorer(on_vllm["folder"]).score([("", STEPS)])[0]  # no separate prompt
    assert classify["data"][0]["probs"][-1] == pytest.approx(whole_text[-1], abs=1e-5)
    assert classify["data"][1]["probs"][-1] == 0.0
    slime = post(reward_url + "slime/", {"prompt": PROBLEM, "response": text, "label": "4"})
    assert slime == pytest.approx(min(expected), abs=1e-5)
    held = loaded_scorers()
    assert held and all(isinstance(s, VllmPoolingScorer) and not hasattr(s, "model") for s in held)


@pytest.mark.django_db
def test_a_server_that_is_down_or_lacks_the_model_is_a_503_with_the_reason(on_vllm, make_user,
                                                                           settings):
    _, (model, unserved), client = make_models(on_vllm, make_user)
    body = {"items": [{"problem": PROBLEM, "steps": STEPS}]}
    r = client.post(f"/api/prm/{unserved.pk}/score/", body, format="json")
    assert r.status_code == 503 and r["Retry-After"]
    assert "stepwise-prm-9002" in r.json()["detail"] and "stepwise-prm-9001" in r.json()["detail"]

    settings.STEPWISE_SCORING_URLS = [f"http://127.0.0.1:{free_port()}"]
    forget_scorers()
    for path, data in ((f"/api/prm/{model.pk}/score/", body),
                       (f"/api/prm/{model.pk}/openrlhf/", {"query": [PROBLEM + " add 2 so"]}),
                       (f"/api/prm/{model.pk}/classify/", {"input": ["add 2 so"]}),
                       (f"/api/prm/{model.pk}/slime/", {"prompt": PROBLEM, "response": "add"})):
        r = client.post(path, data, format="json")
        assert r.status_code == 503, (path, r.content)
        assert settings.STEPWISE_SCORING_URLS[0] in r.json()["detail"]
        assert r.json()["reason"] == "The PRM scoring server is unavailable"


@pytest.mark.django_db(transaction=True)
def test_a_scoring_run_in_a_worker_scores_through_the_server_and_names_it_when_it_cannot(
        on_vllm, make_user, tmp_path):
    project, (model, unserved), _ = make_models(on_vllm, make_user)
    solutions = seed_project(project, rule_examples(3, seed=5), make_user("scoring-annotator"),
                             labeled=False)
    worker = spawn_worker(tmp_path / "vllm-scoring-worker.log", queues="scoring-on-vllm",
                          STEPWISE_SCORING_BACKEND="vllm", STEPWISE_SCORING_URLS=on_vllm["url"],
                          STEPWISE_MODELS_DIR=str(on_vllm["models_dir"]))
    try:
        runs = []
        for prm in (model, unserved):
            run = Run.objects.create(kind="score_solutions", project=project,
                                     params={"prm_model_id": prm.pk},
                                     published_at=timezone.now())  # the dispatcher leaves it
            task_for("score_solutions").apply_async(args=[run.pk], kwargs={"dispatch": run.dispatch},
                                                    queue="scoring-on-vllm")
            runs.append(run)
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and any(
                not Run.objects.get(pk=r.pk).is_finished for r in runs):
            time.sleep(0.5)
        good, bad = (Run.objects.get(pk=r.pk) for r in runs)
    finally:
        stop_process(worker)
    assert good.status == Run.Status.SUCCEEDED, good.error
    scored = PreAnnotation.objects.filter(kind=PreAnnotation.Kind.PRM_SCORE, source=model.name)
    assert scored.count() >= len(solutions)
    assert bad.status == Run.Status.FAILED
    assert "stepwise-prm-9002" in bad.error and on_vllm["url"] in bad.error
    assert bad.reason == "The PRM scoring server is unavailable"
