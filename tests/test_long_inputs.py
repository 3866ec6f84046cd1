"""Inputs longer than the model's context (training/windows.py) on the demo test model, whose
context is 141 positions: a solution several times longer trains and scores with every step's
label and score present, the windows are the same in the dataset builder, the in-process
scorer and what the vLLM backend sends, and the policy is saved with the model and on its card.
"""

from __future__ import annotations

import json
import random

import pytest
from rest_framework.test import APIClient

from annotate.models import Membership, Project
from demo.testing import build_test_model
from tests.prm_factories import rule_examples
from training.data import IGNORE, StepExample, separator_id
from training.windows import TRUNCATE, LongInputPolicy, encode_windows

SEP = "<|step|>"
PROMPT = "problem 7 solve ?"


def long_example(n_steps: int = 60, seed: int = 5, bad_at: int | None = 50) -> StepExample:
    """A running sum in the demo tokenizer's words (digits, + and =); ``bad_at`` adds wrong."""
    rng = random.Random(seed)
    total, steps = rng.randint(1, 9), []
    for i in range(n_steps):
        add = rng.randint(1, 9)
        steps.append(f"{total} + {add} = {total + add + (1 if i == bad_at else 0)}")
        total += add
    labels = [0 if i == bad_at else 1 for i in range(n_steps)]
    return StepExample(group=f"long-{seed}", prompt=PROMPT, steps=steps, labels=labels)


@pytest.fixture(scope="module")
def demo_base():
    from training.trainer import load_base

    path = build_test_model()
    model, tokenizer = load_base(str(path))
    return {"path": path, "tokenizer": tokenizer, "limit": model.config.n_positions,
            "sep": separator_id(tokenizer, SEP)}


@pytest.fixture(scope="module")
def windowed_prm(tmp_path_factory, demo_base):
    """A PRM trained from the demo test model at its full context, on the rule and on
    solutions several contexts long."""
    from training.trainer import TrainConfig, train

    out = tmp_path_factory.mktemp("long-prm") / "prm"
    examples = rule_examples(24, seed=1) + [long_example(60, seed=s, bad_at=40 + s)
                                            for s in range(4)]
    summary = train(examples, str(demo_base["path"]), out,
                    TrainConfig(epochs=2, learning_rate=3e-3, batch_size=16,
                                max_length=demo_base["limit"], early_stopping_patience=0,
                                val_fraction=0.0))
    return {"path": out, "summary": summary, "examples": examples}


@pytest.mark.portable
def test_windows_label_every_step_once_within_the_context(demo_base):
    tok, limit, sep = demo_base["tokenizer"], demo_base["limit"], demo_base["sep"]
    ex = long_example(80)
    windows = encode_windows(tok, ex.prompt, ex.steps, ex.labels, separator=SEP, sep_id=sep,
                             max_length=limit, policy=LongInputPolicy())
    whole = len(tok(ex.prompt + "\n" + "".join(s + SEP for s in ex.steps))["input_ids"])
    assert whole > 3 * limit and len(windows) > 3
    owned = [s for w in windows for s in w["owns"] if s is not None]
    assert owned == list(range(len(ex.steps)))  # every step once, in order
    prompt_ids = tok(ex.prompt + "\n")["input_ids"]
    for w in windows:
        assert len(w["input_ids"]) <= limit
        assert w["input_ids"][:len(prompt_ids)] == prompt_ids  # the problem in every window
        assert w["owns"].count(None) <= 2  # at most two preceding steps of context
        for pos, step in zip(w["positions"], w["owns"]):
            want = IGNORE if step is None else ex.labels[step]
            assert w["labels"][pos] == want
    assert [n for n, w in enumerate(windows) if w["owns"][0] is None] == \
        list(range(1, len(windows)))  # every later window opens with context
    truncated = encode_windows(tok, ex.prompt, ex.steps, ex.labels, separator=SEP, sep_id=sep,
                               max_length=limit, policy=TRUNCATE)
    assert len(truncated) == 1 and truncated[0]["owns"] == owned[:len(truncated[0]["owns"])]
    assert len(truncated[0]["owns"]) < len(ex.steps)


@pytest.mark.portable
def test_a_step_longer_than_the_context_keeps_its_first_tokens(demo_base):
    tok, limit, sep = demo_base["tokenizer"], demo_base["limit"], demo_base["sep"]
    steps = ["add 2 so", "then we get " + "4 + 4 = 8 , " * 80, "then 5"]
    windows = encode_windows(tok, PROMPT, steps, [1, 0, 1], separator=SEP, sep_id=sep,
                             max_length=limit, policy=LongInputPolicy(context_steps=1))
    assert [s for w in windows for s in w["owns"] if s is not None] == [0, 1, 2]
    cut = next(w for w in windows if 1 in w["owns"])
    assert len(cut["input_ids"]) <= limit
    assert cut["labels"][cut["positions"][cut["owns"].index(1)]] == 0
    text = tok.decode(cut["input_ids"])
    assert "4 + 4 = 8" in text and text.endswith(SEP)  # the step's head, then its separator


@pytest.mark.portable
def test_a_long_solution_trains_and_scores_with_every_step(windowed_prm, demo_base):
    from training.scoring import PrmScorer

    path = windowed_prm["path"]
    config = json.loads((path / "config.json").read_text())
    assert config["long_inputs"] == {"policy": "window", "context_steps": 2}
    # The long solutions became several windows each: more examples than rows given.
    assert windowed_prm["summary"]["train_examples"] > len(windowed_prm["examples"]) + 8
    scorer = PrmScorer(path)
    assert scorer.max_length == demo_base["limit"] and scorer.policy == LongInputPolicy()
    ex = long_example(90, seed=11, bad_at=70)
    scores = scorer.score([(ex.prompt, ex.steps), (PROMPT, ex.steps[:3])])
    assert len(scores[0]) == 90 and None not in scores[0]
    assert scores[1] == pytest.approx(scores[0][:3], abs=1e-5)  # the first window is as before
    assert scorer.token_counts([(ex.prompt, ex.steps)])[0] > 3 * demo_base["limit"]
    scorer.policy = TRUNCATE  # what a model without the policy does: the tail unscored
    cut = scorer.score([(ex.prompt, ex.steps)])[0]
    assert cut[0] == scores[0][0] and cut[-1] is None


@pytest.mark.portable
def test_the_vllm_backend_sends_the_same_windows(windowed_prm):
    from training.backends.vllm_pooling import VllmPoolingScorer
    from training.scoring import PrmScorer
    from training.serving import pooling_spec

    path = windowed_prm["path"]
    spec = pooling_spec(path)
    assert spec["long_inputs"] == {"policy": "window", "context_steps": 2}
    pooled = VllmPoolingScorer(urls=["http://127.0.0.1:9"], served_model="stepwise-prm-1",
                               model_path=str(path), spec=spec, timeout=1.0)
    local = PrmScorer(path)
    ex = long_example(70, seed=3)
    for prompt, steps in [(ex.prompt, ex.steps), (PROMPT, ex.steps[:2])]:
        sent = pooled._encode(prompt, steps)
        assert [w["input_ids"] for w in sent] == [w["input_ids"] for w in local._encode(prompt, steps)]
        assert [w["owns"] for w in sent] == [w["owns"] for w in local._encode(prompt, steps)]
    assert pooled.token_counts([(ex.prompt, ex.steps)]) == local.token_counts([(ex.prompt, ex.steps)])


@pytest.mark.django_db
def test_the_training_run_records_the_policy_on_the_model_card(tmp_path, demo_base, make_user,
                                                               settings):
    from training.models import PrmModel
    from training.pipeline import train_and_evaluate

    rows = [{"prompt": ex.prompt, "completions": ex.steps, "labels": [bool(v) for v in ex.labels]}
            for ex in rule_examples(8, seed=2) + [long_example(50, seed=9, bad_at=45)]]
    snapshot = tmp_path / "train.jsonl"
    snapshot.write_text("".join(json.dumps(r) + "\n" for r in rows))
    project = Project.objects.create(name="Long", slug="long")
    model = PrmModel.objects.create(
        project=project, name="long", base_model=str(demo_base["path"]),
        artifact_path=str(tmp_path / "prm"), data_source={"kind": "snapshot", "path": str(snapshot)},
        hyperparameters={"epochs": 1, "max_length": 120, "batch_size": 8, "val_fraction": 0.3,
                         "long_inputs": "window", "window_context_steps": 3,
                         "early_stopping_patience": 0})
    train_and_evaluate(model)
    model.refresh_from_db()
    assert model.status == PrmModel.Status.READY
    want = {"policy": "window", "context_steps": 3}
    assert model.model_card["long_inputs"] == {**want, "max_length": 120}
    assert model.model_card["hyperparameters"]["long_inputs"] == "window"
    assert model.model_card["serving"]["long_inputs"] == want
    card = json.loads((tmp_path / "prm" / "model_card.json").read_text())
    assert card["long_inputs"] == {**want, "max_length": 120}

    # The reward service scores a trajectory longer than the context: every assistant turn.
    admin = make_user("long-admin")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    client = APIClient()
    client.force_login(admin)
    ex = long_example(40, seed=4, bad_at=None)
    messages = [{"role": "user", "content": PROMPT}] + [
        {"role": "assistant", "content": s} for s in ex.steps]
    answer = client.post(f"/api/prm/{model.pk}/score/", {"items": [{"messages": messages}]},
                         format="json")
    assert answer.status_code == 200, answer.content
    got = answer.json()["results"][0]["step_scores"]
    assert len(got) == 40 and None not in got


@pytest.mark.portable
def test_a_bad_policy_is_refused_with_its_message():
    from training.config import TrainConfig

    with pytest.raises(ValueError, match="long_inputs must be one of truncate, window"):
        TrainConfig.from_dict({"long_inputs": "squash"})
    with pytest.raises(ValueError, match="window_context_steps must be between 0 and 64"):
        TrainConfig.from_dict({"window_context_steps": 500})


@pytest.mark.portable
@pytest.mark.django_db
def test_the_training_api_takes_the_policy_and_refuses_a_bad_one(make_user):
    from api.services import issue_token

    admin = make_user("long-api")
    project = Project.objects.create(name="LongApi", slug="long-api")
    Membership.objects.create(project=project, user=admin, role=Membership.Role.ADMIN)
    _, key = issue_token(user=admin, name="t", scope="write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    for hp, message in [({"long_inputs": "squash"}, "long_inputs must be one of truncate, window"),
                        ({"window_context_steps": -1}, "window_context_steps must be between"),
                        ({"window_context_steps": True}, "window_context_steps must be between")]:
        r = client.post("/api/runs/", {"kind": "train_prm", "project": project.pk,
                                       "params": {"name": "m", "hyperparameters": hp}},
                        format="json")
        assert r.status_code == 400 and message in r.json()["params"], (hp, r.content)
