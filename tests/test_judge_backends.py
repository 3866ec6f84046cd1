"""Judges ask the generation backends in conversations: ``chat`` on the ``openai`` backend is
``/v1/chat/completions`` against a real server (``transformers serve``), in process it is the
model's chat template; ``n`` answers per conversation either way, and what the demo model
answers (no verdicts) parses as unreadable, never as a verdict. A ``judge`` Run through a real
worker stores that as unparsed labels, through a server that fails and recovers, and a
retried Run rewrites the same rows."""

import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from annotate.models import PreAnnotation, Project
from demo.seed import seed_demo_content
from generation.backends import backend_for
from generation.config import GeneratorSettings
from generation.judging.parsing import parse
from generation.judging.services import start_judge
from generation.judging.templates import STEP_VERDICTS
from quality.labels import available_sources
from tests.conftest import redeliver, stop_process, wait_for_run
from tests.inference_server import chat_model_dir, start_flaky_proxy, start_transformers_serve
from workers.models import Run

# Short: the demo model's context is 141 tokens (a default template's prompt is longer).
CONVERSATION = [{"role": "system", "content": "Judge the steps."},
                {"role": "user", "content": "5 + 3 = 8\nThe answer is 8"}]


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    """The demo model with a chat template, served by ``transformers serve``."""
    root = tmp_path_factory.mktemp("judge")
    model_dir = chat_model_dir(Path(django_settings.MODELS_DIR) / f"judge-{root.name}")
    proc, base_url = start_transformers_serve(model_dir, root / "serve.log")
    try:
        yield str(model_dir), base_url, root
    finally:
        stop_process(proc)
        shutil.rmtree(model_dir, ignore_errors=True)


def settings_for(model_dir, **extra) -> GeneratorSettings:
    return GeneratorSettings.from_dict({"model": model_dir, "temperature": 1.0, "top_p": 1.0,
                                        "retries": 0, "timeout": 60, **extra})


def test_chat_completions_give_n_answers_per_conversation(chat_model):
    model_dir, base_url, root = chat_model
    proxy, url = start_flaky_proxy(base_url, 0, root / "proxy.log")
    try:
        backend = backend_for(settings_for(model_dir, backend="openai", base_url=url))
        (answers,) = backend.chat([CONVERSATION], n=3, max_new_tokens=24, temperature=1.0, seed=7)
    finally:
        stop_process(proxy)
    assert len(answers) == 3 and all(a.tokens > 0 for a in answers)
    seen = (root / "proxy.log").read_text()
    assert "/chat/completions" in seen and "/v1/completions" not in seen
    for answer in answers:  # the demo model writes arithmetic, not verdicts: nothing is read
        assert [v.rating for v in parse(STEP_VERDICTS.style, answer.text, 2)] == [None, None]


def test_in_process_chat_uses_the_models_chat_template(chat_model):
    model_dir, _, _ = chat_model
    backend = backend_for(settings_for(model_dir))
    prompt = backend.chat_prompt(CONVERSATION)
    assert prompt.startswith("system: Judge the steps.") and prompt.endswith("assistant:")
    (answers,) = backend.chat([CONVERSATION], n=2, max_new_tokens=16, temperature=1.0, seed=3)
    assert len(answers) == 2
    again = backend.chat([CONVERSATION], n=2, max_new_tokens=16, temperature=1.0, seed=3)[0]
    assert [a.text for a in again] == [a.text for a in answers]  # a retried Run asks the same


def test_a_plain_model_gets_role_lines():
    from generation.backends.base import Backend

    class Plain(Backend):
        tokenizer = object()

        def complete(self, *args, **kwargs):
            raise AssertionError

    text = Plain(settings_for("x")).chat_prompt([{"role": "user", "content": " 2 + 2? "}])
    assert text == "User: 2 + 2?\n\nAssistant:"


# The demo model's context is short: a project's own template, versioned like the defaults.
SHORT = {"name": "short", "version": 1, "style": "step_verdicts", "user": "{steps}\nVerdicts:"}


@pytest.mark.django_db(transaction=True)
def test_a_judge_run_records_unreadable_answers_through_a_failing_then_recovering_server(
        chat_model, celery_worker, tmp_path):
    model_dir, base_url, _ = chat_model
    proxy, url = start_flaky_proxy(base_url, 2, tmp_path / "proxy.log")
    try:
        project = Project.objects.create(name="judged", slug="judged", generator={
            "model": model_dir, "backend": "openai", "base_url": url, "delimiter": "\n",
            "max_new_tokens": 48, "max_step_tokens": 16, "retries": 3, "timeout": 60})
        seed_demo_content(project, n_problems=2, solutions_per_problem=2, seed=3)
        run = wait_for_run(start_judge(project=project, judge={
            "source": "demo-lm", "template": SHORT, "samples": 2, "temperature": 1.0,
            "max_new_tokens": 12}))
        assert run.status == Run.Status.SUCCEEDED, run.error
        labels = PreAnnotation.objects.filter(kind=PreAnnotation.Kind.JUDGE, source="demo-lm")
        assert labels.count() == run.result["steps"] == run.result["unparsed"] > 0
        assert run.result["solutions"] == 4 and run.result["generated_tokens"] > 0
        for label in labels:  # the demo model answers arithmetic: nothing read, nothing guessed
            assert label.rating is None and label.provenance["unparsed"]
            assert len(label.provenance["answers"]) == 2 and label.scope
        seen = (tmp_path / "proxy.log").read_text().split()
        assert seen[:4] == ["500", "/v1/chat/completions", "500", "/v1/chat/completions"]
        assert "200" in seen

        again = redeliver(run)  # the same Run again: the same rows, rewritten
        assert again.status == Run.Status.SUCCEEDED
        assert labels.count() == run.result["steps"]
        version = {s.spec: s.version for s in available_sources(project)}["judge:demo-lm"]
        assert version["prompt_version"] == "short@1" and version["samples"] == 2
    finally:
        stop_process(proxy)


@pytest.mark.django_db
@pytest.mark.parametrize("judge, message", [
    ({}, "Name the judge"),
    ({"source": "j", "samples": 3}, "need a temperature above 0"),
    ({"source": "j", "template": "nope"}, "No judge template 'nope'"),
    ({"source": "j", "template": {**SHORT, "user": "no steps"}}, "must contain {steps}"),
    ({"source": "j", "template": {**SHORT, "user": "{steps} {oops}"}}, "may use {problem}"),
    ({"source": "j", "generator": {"model_path": "/etc"}}, "Unknown judge generator settings"),
    ({"source": "j", "generator": {"model": "/etc"}}, "No model of that name"),
    ({"source": "j", "generator": {"backend": "openai", "base_url": "http://10.9.8.7:8000/v1"}},
     "judge's server is not allowed"),
])
def test_judge_settings_are_checked_before_the_run(judge, message, make_user):
    from rest_framework.test import APIClient

    from annotate.models import Membership

    admin = make_user("judge-admin")
    project = Project.objects.create(name="j", slug="j", generator={"model": "demo"})
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    seed_demo_content(project, n_problems=1, solutions_per_problem=1, seed=1)
    client = APIClient()
    client.force_login(admin)
    r = client.post("/api/runs/", {"kind": "judge", "project": project.pk,
                                   "params": {"judge": judge}}, format="json")
    assert r.status_code == 400 and message in json.dumps(r.json()), r.content
    assert not Run.objects.filter(kind="judge").exists()
