"""The trainer's engine features on the tiny base: bf16 autocast, activation checkpointing,
LoRA (trained, merged, scoring like its adapter), and the memory plan's refusals."""

import pytest

from tests.prm_factories import build_tiny_base, rule_examples
from training.config import TrainConfig
from training.trainer import train

pytestmark = pytest.mark.portable

CFG = dict(epochs=4, learning_rate=3e-3, batch_size=16, max_length=96,
           early_stopping_patience=0, val_fraction=0.25)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return build_tiny_base(tmp_path_factory.mktemp("engine") / "base")


def _watch(on_begin):
    from transformers import TrainerCallback

    class Watch(TrainerCallback):
        def on_train_begin(self, args, state, control, model=None, **kwargs):
            on_begin(model)

    return Watch()


def _epoch_losses(summary):
    return [p["train_loss"] for p in summary["curve"] if "val_loss" in p]


def test_bf16_autocast_on_cpu_trains_the_tiny_model(base, tmp_path):
    import torch

    seen = []

    def hook_classifier(model):
        # Under autocast a linear layer computes, and returns, bf16 (fp32 weights stay).
        model.classifier.register_forward_hook(
            lambda mod, args, out: seen.append((out.dtype, mod.weight.dtype)))

    summary = train(rule_examples(30, seed=3), str(base), tmp_path / "out",
                    TrainConfig(**CFG, precision="bf16"), callbacks=[_watch(hook_classifier)])
    assert summary["precision"] == "bf16"
    assert seen and all(got == (torch.bfloat16, torch.float32) for got in seen[:5]), seen[:5]
    losses = _epoch_losses(summary)
    assert losses[-1] < 0.9 * losses[0], summary["curve"]


def test_activation_checkpointing_recomputes_layers_and_trains(base, tmp_path):
    calls = {"forward": 0}

    def count_layer(model):
        assert model.is_activation_checkpointing
        model.bert.encoder.layer[0].attention.register_forward_hook(
            lambda *a: calls.__setitem__("forward", calls["forward"] + 1))

    summary = train(rule_examples(30, seed=3), str(base), tmp_path / "out",
                    TrainConfig(**{**CFG, "val_fraction": 0.0}, activation_checkpointing="on"),
                    callbacks=[_watch(count_layer)])
    assert summary["activation_checkpointing"] is True
    # Each training step runs the layer twice: once forward, once recomputed in backward.
    assert calls["forward"] == 2 * summary["steps"], (calls, summary["steps"])
    losses = _epoch_losses(summary)
    assert losses[-1] < 0.9 * losses[0], summary["curve"]


def test_effective_batch_accumulates_gradients(base, tmp_path):
    summary = train(rule_examples(30, seed=3), str(base), tmp_path / "out",
                    TrainConfig(**{**CFG, "batch_size": 4, "epochs": 1, "val_fraction": 0.0},
                                effective_batch_size=16))
    per_epoch = -(-summary["train_examples"] // 16)
    assert summary["steps"] in (per_epoch, per_epoch - 1)  # optimizer steps, not batches
    with pytest.raises(ValueError, match="multiple of batch_size"):
        TrainConfig.from_dict({"batch_size": 4, "effective_batch_size": 10})


def test_lora_trains_merges_and_scores_like_its_adapter(base, tmp_path):
    from transformers import AutoModelForTokenClassification

    from training.scoring import PrmScorer

    out = tmp_path / "lora"
    summary = train(rule_examples(60, seed=1), str(base), out,
                    TrainConfig(**{**CFG, "epochs": 6, "learning_rate": 1e-2}, lora_rank=8))
    losses = _epoch_losses(summary)
    assert losses[-1] < 0.8 * losses[0], summary["curve"]
    # The merged directory is a plain token classifier: no peft files, loads without peft.
    assert not (out / "adapter_config.json").exists() and (out / "adapter" / "adapter_config.json").exists()
    plain = AutoModelForTokenClassification.from_pretrained(out)
    assert not any("lora" in name for name, _ in plain.named_parameters())
    items = [("problem 3 solve ?", ["add 2 so", "oops wrong 4", "then 5"]),
             ("problem 7 solve ?", ["we get 9", "the sum is 12"])]
    merged, adapter = PrmScorer(out).score(items), PrmScorer(out / "adapter").score(items)
    for m_row, a_row in zip(merged, adapter):
        assert m_row == pytest.approx(a_row, abs=1e-4)
    assert merged[0][1] < merged[0][0]  # it learned: the "wrong" step scores lower


def test_adapter_only_keeps_the_adapter(base, tmp_path):
    from training.scoring import PrmScorer

    out = tmp_path / "adapter-only"
    train(rule_examples(20, seed=2), str(base), out,
          TrainConfig(**{**CFG, "epochs": 1}, lora_rank=4, lora_save="adapter"))
    assert (out / "adapter_config.json").exists() and not (out / "model.safetensors").exists()
    assert len(PrmScorer(out).score([("problem 1 solve ?", ["add 2", "then 3"])])[0]) == 2


def _qwen2_shaped(path, hidden, layers, heads, kv_heads, intermediate):
    from transformers import Qwen2Config

    Qwen2Config(vocab_size=152064, hidden_size=hidden, num_hidden_layers=layers,
                num_attention_heads=heads, num_key_value_heads=kv_heads,
                intermediate_size=intermediate).save_pretrained(path)
    return str(path)


def test_memory_plan_refuses_what_cannot_fit_and_says_what_would(tmp_path):
    from training.memory import GIB, MemoryPlanError, check_plan

    seven_b = _qwen2_shaped(tmp_path / "7b", 3584, 28, 28, 4, 18944)
    cfg = TrainConfig(batch_size=4, max_length=2048, precision="bf16",
                      activation_checkpointing="off")
    with pytest.raises(MemoryPlanError) as refused:
        check_plan(seven_b, cfg, capacity=80 * GIB)
    message = str(refused.value)
    # Qwen2.5-7B's shape without its LM head: 7.07B parameters, ~130 GiB to train in full.
    assert "7.07B parameters" in message and "GiB per device" in message, message
    assert "Would fit: " in message and "LoRA (lora_rank 16)" in message, message
    # The suggestion holds: LoRA with checkpointing on a 7B-shaped base fits an 80 GB GPU.
    lora = check_plan(seven_b, TrainConfig(batch_size=4, max_length=2048, precision="bf16",
                                           activation_checkpointing="on", lora_rank=16),
                      capacity=80 * GIB)
    assert lora.fits and lora.total < 40 * GIB
    # Full fine-tuning fits once sharded over eight 80 GB GPUs with ZeRO-3.
    sharded = check_plan(seven_b, TrainConfig(batch_size=4, max_length=2048, precision="bf16",
                                              activation_checkpointing="on", processes=8,
                                              strategy="zero3"), capacity=80 * GIB)
    assert sharded.fits and sharded.weights < sharded.gradients * 1.01


def test_training_is_refused_before_loading_when_the_device_is_too_small(base, tmp_path, monkeypatch):
    from training.memory import MemoryPlanError

    monkeypatch.setenv("STEPWISE_TRAIN_DEVICE_MEMORY_GB", "0.0001")  # 100 KB
    with pytest.raises(MemoryPlanError, match="more than the"):
        train(rule_examples(10, seed=3), str(base), tmp_path / "out", TrainConfig(**CFG))
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("values, message", [
    ({"attention": "flash_attention_2"}, "flash_attention_2 needs"),
    ({"lora_rank": 8, "quantization": "4bit"}, "4-bit QLoRA needs"),
    ({"precision": "fp16"}, "fp16 mixed precision needs a GPU"),
])
def test_settings_this_machine_cannot_run_are_refused_with_a_message(base, tmp_path, values,
                                                                     message):
    with pytest.raises(ValueError, match=message):
        train(rule_examples(10, seed=3), str(base), tmp_path / "out", TrainConfig(**CFG, **values))
