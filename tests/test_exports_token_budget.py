"""An export's token budget (exports/token_budget.py): with a tokenizer and max_length, each
TRL / ProcessBench row says how many labeled steps TRL's PRM trainer would cut off, and the
snapshot's metadata the totals, counted exactly as the trainer tokenizes (its tokenize_row,
copied below as the reference); a tokenizer the deployment does not allow is a 400."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from itertools import chain

import pytest
from rest_framework.test import APIClient

from api.services import issue_token
from demo.testing import build_test_model
from exports.models import ExportSnapshot
from exports.services import build_snapshot
from exports.spec import normalize_spec
from tests.conftest import wait_for_run
from tests.exports_data import build

_names = itertools.count()


def api(user):
    _, key = issue_token(user=user, name=f"budget-{next(_names)}", scope="write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def trl_tokenize_row(features, tokenizer, step_separator, max_length, max_prompt_length,
                     max_completion_length=None, train_on_last_step_only=False, is_eval=False):
    """TRL's ``PRMTrainer.tokenize_row`` (trl 0.12-0.19), as it is: the reference."""
    prompt_ids = tokenizer(features["prompt"], add_special_tokens=False)["input_ids"]
    completions_ids = [tokenizer(completion, add_special_tokens=False)["input_ids"]
                       for completion in features["completions"]]
    if train_on_last_step_only and not is_eval:
        labels = [-100] * (len(features["labels"]) - 1) + [int(features["labels"][-1])]
    else:
        labels = [int(label) for label in features["labels"]]
    separator_ids = tokenizer.encode(step_separator, add_special_tokens=False)
    completions_ids = [completion + separator_ids for completion in completions_ids]
    labels = [[-100] * (len(completion) - 1) + [label]
              for completion, label in zip(completions_ids, labels)]
    completion_ids = list(chain(*completions_ids))
    labels = list(chain(*labels))
    if tokenizer.bos_token_id is not None:
        prompt_ids = [tokenizer.bos_token_id] + prompt_ids
    if max_prompt_length is not None:
        prompt_ids = prompt_ids[-max_prompt_length:]
    if max_completion_length is not None:
        completion_ids = completion_ids[:max_completion_length]
        labels = labels[:max_completion_length]
    input_ids = prompt_ids + completion_ids
    labels = [-100] * len(prompt_ids) + labels
    if max_length is not None:
        input_ids = input_ids[:max_length]
        labels = labels[:max_length]
    return {"input_ids": input_ids, "labels": labels}


def expected_cut(row, tokenizer, max_length, max_prompt_length=512, separator="\n"):
    features = {"prompt": row.get("prompt", row.get("problem")),
                "completions": row.get("completions", row.get("steps")),
                "labels": row.get("labels", [True] * len(row.get("steps", [])))}
    whole = trl_tokenize_row(features, tokenizer, separator, None, max_prompt_length)
    cut = trl_tokenize_row(features, tokenizer, separator, max_length, max_prompt_length)
    return (len(whole["input_ids"]),
            sum(v != -100 for v in whole["labels"]) - sum(v != -100 for v in cut["labels"]))


@pytest.fixture(scope="module")
def demo_name():
    """The demo test model by its folder name (under STEPWISE_MODEL_DIRS in the test settings)."""
    return build_test_model().name


@pytest.fixture(scope="module")
def demo_tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(build_test_model())


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_snapshot_counts_the_steps_the_trainer_would_cut(make_user, celery_worker, demo_name,
                                                           demo_tokenizer):
    lab = build(make_user, slug="budget")
    reviewer = api(lab["users"]["reviewer"])
    spec = {"projects": [lab["project"].pk], "format": "trl", "tokenizer": demo_name,
            "max_length": 28}
    resp = reviewer.post("/api/exports/", {"spec": spec}, format="json")
    assert resp.status_code == 201, resp.content
    snap = ExportSnapshot.objects.get(pk=resp.json()["id"])
    run = wait_for_run(snap.run, timeout=120)
    assert run.status == "succeeded", run.error
    detail = reviewer.get(f"/api/exports/{snap.pk}/").json()
    data = b"".join(reviewer.get(f"/api/exports/{snap.pk}/download/").streaming_content)
    rows = [json.loads(line) for line in data.decode().splitlines()]
    assert len(rows) == 3
    total = 0
    for row in rows:
        tokens, cut = expected_cut(row, demo_tokenizer, 28)
        assert row["stepwise"] == {"tokens": tokens, "cut_steps": cut}
        total += cut
    assert total > 0 and any(r["stepwise"]["cut_steps"] == 0 for r in rows)
    assert detail["metadata"]["token_budget"] == {
        "tokenizer": demo_name, "max_length": 28, "max_prompt_length": 512,
        "step_separator": "\n", "layout": "trl_prm", "rows": 3,
        "rows_cut": sum(r["stepwise"]["cut_steps"] > 0 for r in rows),
        "labeled_steps": sum(len(r["labels"]) for r in rows), "cut_steps": total}
    assert detail["filters"]["tokenizer"] == demo_name  # the name, never the server's path


@pytest.mark.portable
@pytest.mark.django_db
def test_processbench_and_parquet_rows_carry_the_counts(make_user, tmp_path, settings, demo_name,
                                                        demo_tokenizer):
    import pyarrow.parquet as pq

    settings.EXPORTS_DIR = tmp_path / "exports"
    lab = build(make_user)
    out = {}
    for fmt in ("processbench", "parquet"):
        spec = normalize_spec({"projects": [lab["project"].pk], "format": fmt,
                               "tokenizer": demo_name, "max_length": 18,
                               "max_prompt_length": 6, "step_separator": " ;"})
        snap = ExportSnapshot.objects.create(name=f"b-{fmt}", version=1, format=fmt,
                                             filters=spec)
        build_snapshot(snap.pk)
        snap.refresh_from_db()
        assert snap.status == "ready", snap.error
        out[fmt] = snap
    bench = out["processbench"]
    path = settings.EXPORTS_DIR / bench.files["all"]["path"]
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows
    for row in rows:
        tokens, cut = expected_cut(row, demo_tokenizer, 18, 6, " ;")
        label_cut = row["label"] >= 0 and row["label"] >= len(row["steps"]) - cut
        assert row["stepwise"] == {"tokens": tokens, "cut_steps": cut, "label_cut": label_cut}
    assert bench.options["token_budget"]["labels_cut"] == sum(
        r["stepwise"]["label_cut"] for r in rows)
    table = pq.read_table(settings.EXPORTS_DIR / out["parquet"].files["all"]["path"]).to_pylist()
    for row in table:
        tokens, cut = expected_cut(row, demo_tokenizer, 18, 6, " ;")
        assert row["stepwise"] == {"tokens": tokens, "cut_steps": cut}
    assert out["parquet"].options["token_budget"]["cut_steps"] == sum(
        r["stepwise"]["cut_steps"] for r in table) > 0


@pytest.mark.portable
@pytest.mark.django_db
def test_bad_budgets_are_400s_with_their_reason(make_user, tmp_path, demo_name, settings):
    lab = build(make_user, slug="budget-bad")
    reviewer = api(lab["users"]["reviewer"])
    # Another project's trained PRM sits in the private tree: not this export's to name.
    foreign = tmp_path / "models" / "prm" / "999-1-other"
    foreign.mkdir(parents=True)
    (foreign / "config.json").write_text("{}")
    (foreign / "tokenizer.json").write_text("{}")
    settings.MODELS_DIR = tmp_path / "models"
    base = {"projects": [lab["project"].pk], "format": "trl"}
    cases = [
        ({"tokenizer": "/etc", "max_length": 64}, "tokenizer", "No tokenizer '/etc'"),
        ({"tokenizer": str(foreign), "max_length": 64}, "tokenizer", "No tokenizer"),
        ({"tokenizer": "../../etc", "max_length": 64}, "tokenizer", "No tokenizer"),
        ({"tokenizer": demo_name}, "max_length", "Give max_length"),
        ({"max_length": 64}, "tokenizer", "Name the model"),
        ({"tokenizer": demo_name, "max_length": 8}, "max_length", "from 16 to 131072"),
        ({"tokenizer": demo_name, "max_length": "64"}, "max_length", "from 16 to 131072"),
        ({"tokenizer": demo_name, "max_length": 64, "max_prompt_length": 0},
         "max_prompt_length", "from 1 to"),
        ({"tokenizer": demo_name, "max_length": 64, "step_separator": ""}, "step_separator",
         "non-empty"),
        ({"tokenizer": demo_name, "max_length": 64, "format": "openrlhf"}, "tokenizer",
         "trl, parquet, processbench, critiques rows"),
    ]
    for extra, field, says in cases:
        resp = reviewer.post("/api/exports/", {"spec": {**base, **extra}}, format="json")
        assert resp.status_code == 400, (extra, resp.content)
        assert says in json.dumps(resp.json()[field]), (extra, resp.json())
    assert ExportSnapshot.objects.count() == 0
    assert str(tmp_path) not in json.dumps(resp.json())


@pytest.mark.portable
def test_checking_the_tokenizer_in_the_web_process_imports_no_torch(demo_name):
    """The web process checks the name (a config file read); the export worker tokenizes with
    the tokenizers library alone, as transformers would."""
    code = (
        "import sys, django; django.setup()\n"
        "from exports.token_budget import TokenBudget, tokenizer_folder\n"
        f"folder = tokenizer_folder({demo_name!r}, [1])\n"
        f"budget = TokenBudget({{'tokenizer': {demo_name!r}, 'max_length': 16, "
        "'max_prompt_length': 512, 'step_separator': '\\n', 'format': 'trl', 'projects': [1]}, "
        "__import__('generation.tokenizer', fromlist=['x']).load_tokenizer(folder))\n"
        "row = {'prompt': 'What is 2+3?', 'completions': ['2+3 = 5.', 'So 5.'], 'labels': [1, 1]}\n"
        "budget.mark(row)\n"
        "print(row['stepwise']['tokens'])\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert result.returncode == 0, result.stderr[-3000:]
    tokens, modules = result.stdout.strip().splitlines()[-2:]
    assert modules == "[]"
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(build_test_model())
    row = {"prompt": "What is 2+3?", "completions": ["2+3 = 5.", "So 5."], "labels": [1, 1]}
    assert int(tokens) == expected_cut(row, reference, 16)[0]
