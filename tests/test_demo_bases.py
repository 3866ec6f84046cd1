"""The domain-pretrained PRM bases of the demo (demo.bases): built offline, load
as any Hugging Face base, and its tokenizer keeps numbers and the step separator whole."""

from dataclasses import replace

import pytest

from demo import domain
from demo.bases import BaseConfig, ensure_demo_base
from training.data import DEFAULT_SEPARATOR, encode, separator_id
from training.trainer import load_base

pytestmark = pytest.mark.portable

TINY = BaseConfig(steps=30, layers=1, width=32, heads=2, batch_size=16, train_problems=300)


@pytest.mark.parametrize("causal", [False, True])
def test_built_base_loads_as_a_token_classifier_with_whole_number_tokens(tmp_path, causal):
    out = tmp_path / ("decoder" if causal else "encoder")
    built = ensure_demo_base(out, replace(TINY, causal=causal), log=lambda _m: None)
    assert built["cached"] is False and built["vocab_size"] > 200
    assert ensure_demo_base(out, replace(TINY, causal=causal))["cached"] is True

    model, tokenizer = load_base(str(out))
    assert model.config.model_type == ("gpt2" if causal else "bert")
    sep = separator_id(tokenizer, DEFAULT_SEPARATOR)  # one token, already in the vocabulary
    problem = domain.ArithProblem(start=17, ops=[("+", 5), ("-", 3)], phrases=["buys 5 more", "loses 3"])
    steps = domain.correct_steps(problem)
    enc = encode(tokenizer, problem.statement, steps, [1, 1, 1], separator=DEFAULT_SEPARATOR,
                 sep_id=sep, max_length=128)
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"])
    assert ["17", "+", "5", "=", "22", DEFAULT_SEPARATOR] == tokens[tokens.index("?") + 1:][:6]
    assert [enc["labels"][p] for p in enc["positions"]] == [1, 1, 1]
    assert tokenizer.unk_token not in tokens
    logits = model(input_ids=__import__("torch").tensor([enc["input_ids"]])).logits
    assert logits.shape == (1, len(enc["input_ids"]), 2)
