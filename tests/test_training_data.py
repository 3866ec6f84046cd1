"""Training examples: label options, the split, and the TRL-style encoding."""

import json

import pytest

from annotate.models import Project
from tests.prm_factories import build_tiny_base, rule_examples, seed_project
from training.data import (
    IGNORE,
    StepExample,
    encode,
    examples_from_project,
    examples_from_snapshot,
    rating_labels,
    separator_id,
    split_by_problem,
)

pytestmark = pytest.mark.portable


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from training.trainer import load_base

    base = build_tiny_base(tmp_path_factory.mktemp("tiny") / "base")
    return load_base(str(base))[1]


def test_neutral_option_and_first_error_cut():
    ratings = [1, 0, -1, 1, None]
    assert rating_labels(ratings, neutral="good", after_first_error="drop") == [1, 1, 0]
    assert rating_labels(ratings, neutral="bad", after_first_error="drop") == [1, 0]
    assert rating_labels(ratings, neutral="good", after_first_error="keep") == [1, 1, 0, 1, None]
    assert rating_labels(ratings, neutral="bad", after_first_error="mask") == [1, 0, None, None, None]
    with pytest.raises(ValueError):
        rating_labels(ratings, neutral="maybe")


def test_split_is_by_problem_never_by_row():
    examples = rule_examples(20, per_problem=4)
    train, val = split_by_problem(examples, 0.25, seed=3)
    assert {e.group for e in train}.isdisjoint({e.group for e in val})
    assert len({e.group for e in val}) == 5 and len(train) + len(val) == len(examples)
    assert split_by_problem(examples, 0.25, seed=3)[1] == val  # deterministic


def test_separator_is_one_special_token_and_labels_sit_on_it(tokenizer):
    sep = separator_id(tokenizer, "<|step|>")
    assert tokenizer.convert_ids_to_tokens(sep) == "<|step|>"
    out = encode(tokenizer, "problem 1 solve ?", ["add 2 so", "oops 3", "then 4"], [1, 0, None],
                 separator="<|step|>", sep_id=sep, max_length=64)
    ids, labels = out["input_ids"], out["labels"]
    assert [i for i, t in enumerate(ids) if t == sep] == out["positions"]
    assert [labels[p] for p in out["positions"]] == [1, 0, IGNORE]
    others = [lab for i, lab in enumerate(labels) if i not in out["positions"]]
    assert set(others) == {IGNORE}


def test_long_input_keeps_whole_steps_only(tokenizer):
    sep = separator_id(tokenizer, "<|step|>")
    steps = ["add 1 so then we get the sum"] * 10
    out = encode(tokenizer, "problem 2 solve ?", steps, [1] * 10, separator="<|step|>",
                 sep_id=sep, max_length=40)
    assert len(out["input_ids"]) <= 40
    assert 0 < len(out["positions"]) < 10
    assert out["input_ids"][-1] == sep  # truncation never leaves a half step


def test_separator_must_be_a_single_token(tokenizer):
    with pytest.raises(ValueError, match="tokens, expected 1"):
        separator_id(tokenizer, "add so")


def test_snapshot_reader_takes_trl_rows_and_rejects_bad_ones(tmp_path):
    path = tmp_path / "snap.jsonl"
    rows = [{"prompt": "p", "completions": ["a", "b", "c"], "labels": [True, False, True]},
            {"prompt": "q", "completions": ["x"], "labels": [True]}]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    examples = examples_from_snapshot(path, after_first_error="drop")
    assert [(e.group, e.steps, e.labels) for e in examples] == [
        ("p", ["a", "b"], [1, 0]), ("q", ["x"], [1])]
    assert examples_from_snapshot(path, after_first_error="keep")[0].labels == [1, 0, 1]
    masked = examples_from_snapshot(path)[0]  # the default
    assert (masked.steps, masked.labels) == (["a", "b", "c"], [1, 0, None])
    path.write_text(json.dumps({"prompt": "p", "completions": ["a"], "labels": []}))
    with pytest.raises(ValueError, match="line 1: 1 completions, 0 labels"):
        examples_from_snapshot(path)


@pytest.mark.django_db
def test_project_examples_come_from_consensus_ratings(make_user):
    user = make_user("ann")
    project = Project.objects.create(name="P", slug="p-data")
    ex = [StepExample(group="g1", prompt="problem 1 solve ?", steps=["add 1", "oops 2", "then 3"],
                      labels=[1, 0, None]),
          StepExample(group="g2", prompt="problem 2 solve ?", steps=["add 4", "so 5"], labels=[1, 1])]
    sols = seed_project(project, ex, user)
    seed_project(project, [StepExample(group="g3", prompt="x", steps=["a"], labels=[1])], user,
                 labeled=False)
    got = sorted(examples_from_project(project, after_first_error="drop"),
                 key=lambda e: e.solution_id)
    assert [e.solution_id for e in got] == [s.pk for s in sols]  # the unlabeled one is left out
    assert got[0].steps == ["add 1", "oops 2"] and got[0].labels == [1, 0]
    assert got[1].labels == [1, 1] and got[1].group != got[0].group


def _tiny_trainer(tmp_path, items, **cfg_values):
    from tokenizers import Tokenizer, models
    from transformers import BertConfig, BertForTokenClassification, PreTrainedTokenizerFast

    from training.trainer import TrainConfig, make_trainer

    model = BertForTokenClassification(BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=2))
    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel(
        vocab={"[PAD]": 0, "[UNK]": 1}, unk_token="[UNK]")), pad_token="[PAD]")
    cfg = TrainConfig(**{"learning_rate": 1e-4, **cfg_values})
    return model, make_trainer(model, tok, items, [], cfg, tmp_path)


def test_training_batches_cover_every_example_once_and_can_group_by_length(tmp_path):
    import random

    rng = random.Random(3)
    items = [{"input_ids": [2 + i % 40] * rng.randint(5, 120), "labels": [i] * 1}
             for i in range(400)]
    for item in items:
        item["labels"] = [item["labels"][0]] + [-100] * (len(item["input_ids"]) - 1)

    def batches(**cfg):
        loader = _tiny_trainer(tmp_path, items, batch_size=16, **cfg)[1].get_train_dataloader()
        return [b for b in loader]

    def padding(bs):
        return int(sum((b["attention_mask"] == 0).sum() for b in bs))

    def ids(bs):
        return [int(v) for b in bs for v in b["labels"][:, 0]]

    grouped, shuffled = batches(group_by_length=True), batches()
    assert sorted(ids(grouped)) == list(range(400)) == sorted(ids(shuffled))
    assert all(len(b["input_ids"]) <= 16 for b in grouped)
    assert padding(grouped) < padding(shuffled) / 3  # grouped by length: little padding
    assert ids(shuffled) != list(range(400))


def test_head_learning_rate_gives_the_new_head_its_own_parameter_group():
    from transformers import BertConfig, BertForTokenClassification

    from training.trainer import TrainConfig, parameter_groups

    model = BertForTokenClassification(BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=2))
    head = {id(model.classifier.weight), id(model.classifier.bias)}
    every = {id(p) for p in model.parameters()}

    single = parameter_groups(model, TrainConfig(learning_rate=1e-4))
    assert len(single) == 1 and {id(p) for p in single[0]["params"]} == every

    body_group, head_group = parameter_groups(
        model, TrainConfig(learning_rate=1e-4, head_learning_rate=2e-3))
    assert {id(p) for p in head_group["params"]} == head and head_group["lr"] == 2e-3
    assert {id(p) for p in body_group["params"]} == every - head and body_group["lr"] == 1e-4


def test_the_trainer_optimizes_the_head_at_its_own_learning_rate(tmp_path):
    model, trainer = _tiny_trainer(tmp_path, [], learning_rate=1e-4, head_learning_rate=2e-3)
    optimizer = trainer.create_optimizer()
    assert [g["lr"] for g in optimizer.param_groups] == [1e-4, 2e-3]
    assert {id(p) for p in optimizer.param_groups[1]["params"]} == {
        id(model.classifier.weight), id(model.classifier.bias)}


def test_train_config_rejects_bad_values_with_a_message():
    from training.trainer import TrainConfig

    assert TrainConfig.from_dict({"group_by_length": True}).group_by_length is True
    assert TrainConfig.from_dict({}).group_by_length is False
    for bad, message in [({"group_by_length": "yes"}, "group_by_length"), ({"epochs": 0}, "epochs"),
                         ({"learning_rate": 2}, "learning_rate"), ({"val_fraction": 1}, "val_fraction"),
                         ({"head_learning_rate": 0}, "head_learning_rate")]:
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict(bad)


def test_left_to_right_models_train_without_the_closing_tail():
    """A decoder's separator scores ignore the closing [SEP], so training drops it; an
    encoder's depend on it, so it stays."""
    import torch
    from transformers import BertConfig, BertForTokenClassification, GPT2Config, GPT2ForTokenClassification

    from demo.bases import build_tokenizer
    from training.data import format_text
    from training.trainer import predicts_left_to_right

    prompt, steps = "Ann has 3 apples.", ["3 + 2 = 5", "# Answer: 5"]
    tok = build_tokenizer([format_text(prompt, steps, "<|step|>")])
    sep = separator_id(tok, "<|step|>")
    kept = encode(tok, prompt, steps, [1, 1], separator="<|step|>", sep_id=sep, max_length=64)
    cut = encode(tok, prompt, steps, [1, 1], separator="<|step|>", sep_id=sep, max_length=64,
                 keep_tail=False)
    assert kept["input_ids"][-1] == tok.sep_token_id
    assert cut["input_ids"] == kept["input_ids"][:-1] and cut["positions"] == kept["positions"]
    assert cut["labels"] == kept["labels"][:-1]

    torch.manual_seed(0)
    decoder = GPT2ForTokenClassification(GPT2Config(
        vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, num_labels=2)).eval()
    encoder = BertForTokenClassification(BertConfig(
        vocab_size=len(tok), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=2)).eval()
    assert predicts_left_to_right(decoder) and not predicts_left_to_right(encoder)

    def at_separators(model, item):
        with torch.no_grad():
            return model(input_ids=torch.tensor([item["input_ids"]])).logits[0, item["positions"]]

    assert torch.allclose(at_separators(decoder, kept), at_separators(decoder, cut), atol=1e-5)
    assert not torch.allclose(at_separators(encoder, kept), at_separators(encoder, cut), atol=1e-5)
