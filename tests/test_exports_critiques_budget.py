"""The ``critiques`` export's token budget (exports/chat_budget.py): with a tokenizer and
max_length, each row's chat is rendered with the tokenizer's chat template and counted as
TRL's SFTTrainer tokenizes it (the reference: the trainer itself); the rows over budget and
the step verdicts a max_length cut would drop, per row and in the snapshot's metadata; bad
budgets are 400s with their reason."""

import json
import re

import pytest

from exports.models import ExportSnapshot
from exports.services import build_snapshot, snapshot_file
from exports.spec import normalize_spec
from tests.test_exports_critiques import case  # noqa: F401  (the labeled solutions)

pytestmark = [pytest.mark.django_db, pytest.mark.portable]

CHAT_TEMPLATE = ("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}assistant: {% endif %}")
VERDICT = re.compile(r"The step is (?:correct|incorrect)\.")


@pytest.fixture
def chat_model(settings, tmp_path):
    """The demo model with a chat template, as a model folder under MODELS_DIR."""
    from demo.testing import build_test_model

    settings.MODELS_DIR = tmp_path / "models"
    folder = settings.MODELS_DIR / "chat-demo"
    folder.mkdir(parents=True)
    for item in build_test_model().iterdir():
        if item.name != "tokenizer_config.json":
            (folder / item.name).symlink_to(item)
    config = json.loads((build_test_model() / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config,
                                                              "chat_template": CHAT_TEMPLATE}))
    return folder


def export(lab, settings, tmp_path, **budget):
    settings.EXPORTS_DIR = tmp_path / "exports"
    spec = normalize_spec({"projects": [lab["project"].pk], "format": "critiques", **budget})
    snap = ExportSnapshot.objects.create(name=f"critiques-budget-{tmp_path.name}", version=1, format="critiques",
                                         filters=spec)
    build_snapshot(snap.pk)
    snap.refresh_from_db()
    assert snap.status == "ready", snap.error
    path = snapshot_file(snap, None)
    return snap, path, [json.loads(line) for line in path.read_text().splitlines()]


def test_rows_count_their_chat_and_cut_verdicts_as_sft_trainer_tokenizes_them(
        case, chat_model, settings, tmp_path):  # noqa: F811
    import datasets
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tokenizer = AutoTokenizer.from_pretrained(str(chat_model))
    max_length = 180  # the rows have 163 to 195 tokens: one fits, two lose verdicts
    snap, path, rows = export(case, settings, tmp_path / "b", tokenizer="chat-demo",
                              max_length=max_length)
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(str(chat_model)), train_dataset=ds,
        processing_class=tokenizer,
        args=SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=0, report_to=[],
                       max_length=None, dataset_num_proc=None, use_cpu=True))
    full = [r["input_ids"] for r in trainer.train_dataset]
    total = over = 0
    for row, ids in zip(rows, full):
        # transformers' own rendering and offsets: the trainer's tokens, and where each
        # verdict line ends among them
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        assert enc["input_ids"] == ids
        start = text.rfind(row["messages"][-1]["content"])
        ends = [start + m.end() for m in VERDICT.finditer(row["messages"][-1]["content"])]
        holding = [next(k for k, (a, b) in enumerate(enc["offset_mapping"]) if a < end <= b)
                   for end in ends]
        assert row["stepwise"]["tokens"] == len(ids)
        assert row["stepwise"]["cut_steps"] == sum(k >= max_length for k in holding)
        total += row["stepwise"]["cut_steps"]
        over += len(ids) > max_length
    assert total > 0 and over > 0 and any(r["stepwise"]["cut_steps"] == 0 for r in rows)
    assert snap.options["token_budget"] == {
        "tokenizer": "chat-demo", "max_length": max_length, "layout": "sft_chat",
        "rows": len(rows), "rows_over": over, "cut_steps": total,
        "labeled_steps": sum(len(r["stepwise"]["verdicts"]) for r in rows)}


def test_bad_critiques_budgets_are_400s(case, chat_model, settings, make_user):  # noqa: F811
    from rest_framework.test import APIClient

    from annotate.models import Membership
    from demo.testing import build_test_model

    settings.STEPWISE_MODEL_DIRS = [*settings.STEPWISE_MODEL_DIRS, str(build_test_model().parent)]
    reviewer = make_user("budget-reviewer")
    Membership.objects.create(project=case["project"], user=reviewer, role=Membership.Role.REVIEWER)
    client = APIClient()
    client.force_login(reviewer)
    base = {"projects": [case["project"].pk], "format": "critiques", "max_length": 64}
    for extra, field, says in [
        ({"tokenizer": build_test_model().name}, "tokenizer", "has no chat template"),
        ({"tokenizer": "chat-demo", "step_separator": "\n"}, "step_separator", "PRM layout only"),
        ({"tokenizer": "chat-demo", "max_prompt_length": 8}, "max_prompt_length",
         "PRM layout only"),
        ({"tokenizer": "chat-demo", "max_length": 4}, "max_length", "from 16 to"),
    ]:
        resp = client.post("/api/exports/", {"spec": {**base, **extra}}, format="json")
        assert resp.status_code == 400, (extra, resp.content)
        assert says in json.dumps(resp.json()[field]), (extra, resp.json())
    assert ExportSnapshot.objects.count() == 0
