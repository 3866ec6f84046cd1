"""The offline demo model: tokenizer, save/load with the Auto classes, cache, quality band."""

import json
import random
import shutil

import pytest

from demo import domain
from demo.model import BuildConfig, build_tokenizer, ensure_demo_model, training_text
from demo.testing import build_test_model

pytestmark = [pytest.mark.portable]


def test_tokenizer_splits_digits_and_round_trips_exactly():
    rng = random.Random(0)
    texts = [a + b for a, b in (training_text(domain.random_problem(rng)) for _ in range(200))]
    tok = build_tokenizer(texts)
    assert len(tok) < 80  # a closed word-level vocabulary
    sample = "Problem: Ann has 17 pens.\nSolution:\n17 + 5 = 22\n# Answer: 22"
    pieces = tok.tokenize("17 + 5 = 22")
    assert [p for p in pieces if p.strip("Ġ").isdigit()] == ["1", "7", "5", "2", "2"]
    assert tok.decode(tok(sample, add_special_tokens=False)["input_ids"]) == sample


def test_demo_model_loads_with_auto_classes_and_writes_well_formed_solutions():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from demo.model import evaluate_demo_model

    path = build_test_model()
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert model.config.model_type == "gpt2" and tokenizer.eos_token == "<eos>"
    stats = evaluate_demo_model(path, n_problems=48, temperature=0.8)
    assert stats["well_formed"] >= 0.9
    # A realistic share wrong: neither a perfect solver nor noise.
    assert 0.15 <= stats["answers_correct"] <= 0.7, stats


def test_a_cached_build_is_not_rebuilt(tmp_path):
    out = tmp_path / "m"
    out.mkdir()
    (out / "stepwise_demo.json").write_text(json.dumps({"train_seconds": 1.0}))
    result = ensure_demo_model(out, BuildConfig(steps=1), log=lambda _m: None)
    assert result["cached"] is True
    assert not (out / "config.json").exists()  # nothing was trained or written


def test_a_build_is_kept_for_the_next_clone_on_the_machine(tmp_path, monkeypatch):
    from demo import testing

    monkeypatch.setenv("STEPWISE_CACHE_DIR", str(tmp_path / "cache"))
    tiny = BuildConfig(steps=2, layers=1, width=16, heads=2, batch_size=4, train_problems=50,
                       seed=7)
    out = testing.build_test_model(tiny)
    shared = testing.machine_cache_dir("demo-arith", tiny)
    assert (shared / "stepwise_demo.json").exists() and (shared / "config.json").exists()
    try:
        # A fresh clone: no model in the checkout; the machine's copy is taken, not retrained.
        (shared / "kept.txt").write_text("from the machine cache")
        shutil.rmtree(out)
        again = testing.build_test_model(tiny)
        assert again == out and (out / "kept.txt").read_text() == "from the machine cache"
    finally:
        shutil.rmtree(out, ignore_errors=True)
