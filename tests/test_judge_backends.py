"""Judges ask the generation backends in conversations: ``chat`` on the ``openai`` backend is
``/v1/chat/completions`` against a real server (``transformers serve``), in process it is the
model's chat template; ``n`` answers per conversation either way, and what the demo model
answers (no verdicts) parses as unreadable, never as a verdict."""

import json
import shutil
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from demo.testing import build_test_model
from generation.backends import backend_for
from generation.config import GeneratorSettings
from generation.judging.parsing import parse
from generation.judging.templates import STEP_VERDICTS
from tests.conftest import stop_process
from tests.inference_server import sampling_model_dir, start_flaky_proxy, start_transformers_serve

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant:{% endif %}")
# Short: the demo model's context is 141 tokens (a default template's prompt is longer).
CONVERSATION = [{"role": "system", "content": "Judge the steps."},
                {"role": "user", "content": "5 + 3 = 8\nThe answer is 8"}]


@pytest.fixture(scope="module")
def chat_model(tmp_path_factory):
    """The demo model with a chat template, served by ``transformers serve``."""
    root = tmp_path_factory.mktemp("judge")
    model_dir = sampling_model_dir(build_test_model(),
                                   Path(django_settings.MODELS_DIR) / f"judge-{root.name}")
    config_path = model_dir / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    config_path.unlink()  # a link into the shared model: write a copy of our own
    config_path.write_text(json.dumps({**config, "chat_template": CHAT_TEMPLATE}))
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
