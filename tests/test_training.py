"""Training a tiny PRM in-process: it learns a rule, reloads with plain transformers,
resumes from a checkpoint, and the evaluation metrics compute what they claim."""

import pytest

from tests import prm_factories
from tests.prm_factories import rule_examples, trained_tiny_prm
from training.data import split_by_problem
from training.evaluate import (
    best_of_n,
    evaluate_examples,
    expected_calibration_error,
    first_error_metrics,
    sampled_best_of_n,
    step_metrics,
)
from training.trainer import CHECKPOINT, TrainConfig, last_checkpoint, train

pytestmark = pytest.mark.portable

CFG = dict(epochs=6, learning_rate=3e-3, batch_size=16, max_length=96,
           early_stopping_patience=0, val_fraction=0.25)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    # The same training the reward and active-learning tests reuse (once per process).
    out = trained_tiny_prm(tmp_path_factory.mktemp("prm"))
    examples = rule_examples(60, seed=1)
    train_ex, val_ex = split_by_problem(examples, CFG["val_fraction"], 0)
    return {"out": out, "base": out.parent / "base", "examples": examples, "val": val_ex,
            "train_groups": {e.group for e in train_ex},
            "curve": prm_factories._TRAINED["summary"]["curve"]}


def test_loss_falls_and_heldout_auroc_beats_chance(trained):
    from training.scoring import PrmScorer

    curve = trained["curve"]
    first, last = curve[0]["train_loss"], curve[-1]["train_loss"]
    assert last < 0.8 * first, curve
    val = trained["val"]
    assert val and not {e.group for e in val} & trained["train_groups"]
    metrics = evaluate_examples(PrmScorer(trained["out"]), val)
    assert metrics["step"]["auroc"] >= 0.75, metrics
    assert metrics["step"]["auprc_bad"] > metrics["step"]["bad_rate"]


def test_saved_model_reloads_with_plain_transformers_and_gives_same_scores(trained):
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    from training.scoring import PrmScorer

    out = trained["out"]
    assert (out / "config.json").exists() and not (out / CHECKPOINT).exists()
    prompt, steps = "problem 3 solve ?", ["add 2 so", "oops wrong 4", "then 5"]
    ours = PrmScorer(out).score([(prompt, steps)])[0]

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForTokenClassification.from_pretrained(out).eval()
    sep = model.config.step_separator
    text = prompt + "\n" + "".join(s + sep for s in steps)  # as docs/training.md shows
    enc = tok(text, return_tensors="pt")
    with torch.no_grad():
        probs = model(**enc).logits.softmax(-1)[0, :, 1]
    sep_id = tok.convert_tokens_to_ids(sep)
    plain = [float(p) for p, i in zip(probs, enc["input_ids"][0]) if i == sep_id]
    assert plain == pytest.approx(ours, abs=1e-4)
    assert ours[1] < ours[0]  # the rule was learned: the "wrong" step scores lower


def test_training_resumes_from_the_last_checkpoint(tmp_path, trained):
    class StopAfterEpoch(Exception):
        pass

    examples = rule_examples(16, seed=2)
    cfg = TrainConfig(**{**CFG, "epochs": 3})
    logs = []

    class Hooks:
        die = True

        def progress(self, done, total):
            if self.die and last_checkpoint(tmp_path / "out") is not None:
                raise StopAfterEpoch  # the worker "dies" once a checkpoint is on disk

        def log(self, message):
            logs.append(message)

        def curve(self, points):
            pass

    with pytest.raises(StopAfterEpoch):
        train(examples, str(trained["base"]), tmp_path / "out", cfg, Hooks())
    assert (last_checkpoint(tmp_path / "out") / "optimizer.pt").exists()
    hooks = Hooks()
    hooks.die = False
    summary = train(examples, str(trained["base"]), tmp_path / "out", cfg, hooks)
    assert summary["resumed"] and summary["epochs_run"] == 3
    assert any("resumed from checkpoint after epoch 1" in m for m in logs), logs
    assert [p["epoch"] for p in summary["curve"] if "val_loss" in p] == [1, 2, 3]


def test_step_metrics_and_calibration_on_known_values():
    labels = [[1, 1, 0], [1, 0]]
    perfect = step_metrics(labels, [[0.9, 0.8, 0.1], [0.7, 0.2]])
    assert perfect["auroc"] == 1.0 and perfect["auprc_bad"] == 1.0
    assert step_metrics(labels, [[0.1, 0.2, 0.9], [0.3, 0.8]])["auroc"] == 0.0
    assert expected_calibration_error([1, 0], [1.0, 0.0]) == 0.0
    assert expected_calibration_error([1, 1, 0, 0], [0.95, 0.95, 0.95, 0.95]) == pytest.approx(0.45)


def test_first_error_accuracy_and_processbench_f1():
    labels = [[1, 0], [1, 1, 0], [1, 1], [1, 1]]
    scores = [[0.9, 0.2], [0.2, 0.9, 0.1], [0.9, 0.8], [0.9, 0.4]]
    m = first_error_metrics(labels, scores)
    # erroneous: 1 of 2 found at the right step; all-correct: 1 of 2 left unflagged
    assert (m["accuracy_erroneous"], m["accuracy_correct"]) == (0.5, 0.5)
    assert m["processbench_f1"] == 0.5 and m["first_error_accuracy"] == 0.5


def test_best_of_n_against_majority_and_pass_at_n():
    groups = {
        "a": [{"scores": [0.9, 0.9], "answer": "1", "correct": True},
              {"scores": [0.9, 0.2], "answer": "2", "correct": False},
              {"scores": [0.5, 0.5], "answer": "2", "correct": False}],
        "b": [{"scores": [0.3], "answer": "5", "correct": False},
              {"scores": [0.4, 0.1], "answer": "6", "correct": True}],
    }
    r = best_of_n(groups)
    assert r["problems"] == 2 and r["pass_at_n"] == 1.0
    assert r["majority"] == 0.0  # "2" wins in a; b is a tie broken by first seen ("5")
    assert r["best_of_n_min"] == 0.5 and r["best_of_n_last"] == 0.5
    assert r["best_of_n_product"] == 0.5


def test_best_of_n_on_real_sampled_solutions(trained, shared_data):
    import json

    from training.scoring import PrmScorer

    path = shared_data / "sampled" / "qwen2.5-7b_math_n15_mc_labels.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    solvable = sum(any(o["label"] is True for o in row["outputs"]) for row in rows) / len(rows)
    r = sampled_best_of_n(PrmScorer(trained["out"]), path)
    assert r["problems"] == 10 and r["n_per_problem"] == 15
    assert r["pass_at_n"] == solvable and 0.0 <= r["best_of_n_min"] <= r["pass_at_n"]
    assert r["majority"] >= 0.5  # the real data: voting gets most of these right
