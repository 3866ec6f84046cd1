"""Generation backends without a server or vLLM: settings, request building, and the
errors a worker without vLLM or without its API key gives."""

import importlib.util

import pytest

from generation.backends import backend_for, request_seed
from generation.backends.openai_server import ServerError, api_key, completion_request
from generation.backends.vllm_engine import (
    VllmMissing,
    engine_kwargs,
    require_vllm,
    sampling_kwargs,
)
from generation.config import GeneratorSettings
from workers.runs import RunFailure

pytestmark = [pytest.mark.portable]

SERVER = {"model": "/models/qwen", "backend": "openai", "base_url": "http://vllm:8000/v1/"}


def test_settings_choose_and_check_the_backend():
    assert GeneratorSettings.from_dict({"model": "m"}).backend == "transformers"
    settings = GeneratorSettings.from_dict({**SERVER, "served_model": "qwen-math"})
    assert settings.base_url == "http://vllm:8000/v1" and settings.model_name == "qwen-math"
    assert GeneratorSettings.from_dict(SERVER).model_name == "/models/qwen"
    with pytest.raises(ValueError, match="needs base_url"):
        GeneratorSettings.from_dict({**SERVER, "base_url": ""})
    with pytest.raises(ValueError, match="one of the server secrets") as refused:
        GeneratorSettings.from_dict({**SERVER, "api_key_env": "sk-abc123"})
    assert "sk-abc123" not in str(refused.value)
    with pytest.raises(ValueError, match="Unknown generation backend 'sglang'"):
        GeneratorSettings.from_dict({"model": "m", "backend": "sglang"})
    with pytest.raises(ValueError, match="concurrency"):
        GeneratorSettings.from_dict({**SERVER, "concurrency": 0})
    assert GeneratorSettings.from_dict({"model": "m", "prefix_caching": "false"}).prefix_caching is False


def test_a_deployment_server_serves_projects_that_name_none(settings):
    settings.GENERATION_SERVER_URL = "http://vllm:8000/v1"
    assert GeneratorSettings.from_dict({**SERVER, "base_url": ""}).base_url == "http://vllm:8000/v1"
    own = GeneratorSettings.from_dict({**SERVER, "base_url": "http://sglang:30000/v1"})
    assert own.base_url == "http://sglang:30000/v1"
    assert GeneratorSettings.from_dict({"model": "m"}).base_url == ""


def test_provenance_records_the_sampling_not_the_connection(settings):
    settings.STEPWISE_SERVER_SECRETS = "VLLM_KEY"
    provenance = GeneratorSettings.from_dict({**SERVER, "api_key_env": "VLLM_KEY"}).provenance(run=3)
    assert provenance["backend"] == "openai" and provenance["base_url"] == "http://vllm:8000/v1"
    assert provenance["run"] == 3 and provenance["temperature"] == 0.8
    for name in ("api_secret", "api_key_env", "concurrency", "timeout", "retries", "batch_size"):
        assert name not in provenance


def test_request_seeds_are_fixed_by_the_call_and_distinct_per_request():
    seeds = [request_seed(7, i) for i in range(50)]
    assert seeds == [request_seed(7, i) for i in range(50)] and len(set(seeds)) == 50
    assert request_seed(8, 0) not in seeds and request_seed(None, 3) is None
    assert all(0 <= s < 2**31 for s in seeds)


def test_completion_request_body():
    settings = GeneratorSettings.from_dict({**SERVER, "served_model": "qwen-math"})
    body = completion_request(settings, "Problem: 1+1", n=4, max_new_tokens=32, temperature=0.7,
                              top_p=0.9, stop="\n\n", seed=12)
    assert body == {"model": "qwen-math", "prompt": "Problem: 1+1", "n": 4, "max_tokens": 32,
                    "temperature": 0.7, "top_p": 0.9, "stop": ["\n\n"], "seed": 12}
    greedy = completion_request(settings, "p", n=1, max_new_tokens=8, temperature=0.0, top_p=0.9,
                                stop=None, seed=None)
    assert greedy == {"model": "qwen-math", "prompt": "p", "n": 1, "max_tokens": 8, "temperature": 0.0}


def test_the_api_key_comes_from_the_operators_named_secret(monkeypatch, settings):
    settings.STEPWISE_SERVER_SECRETS = "vllm=STEPWISE_TEST_KEY"
    generator = GeneratorSettings.from_dict({**SERVER, "api_secret": "vllm"})
    monkeypatch.delenv("STEPWISE_TEST_KEY", raising=False)
    with pytest.raises(ServerError, match="secret 'vllm' has no value") as info:
        api_key(generator)
    assert "STEPWISE_TEST_KEY" not in str(info.value)
    assert info.value.reason == "The generation server's API key is not set up"
    monkeypatch.setenv("STEPWISE_TEST_KEY", " secret ")
    assert api_key(generator) == "secret"
    assert api_key(GeneratorSettings.from_dict(SERVER)) == "EMPTY"


def test_vllm_sampling_params_share_one_prefix_per_prompt():
    assert sampling_kwargs(n=8, max_new_tokens=64, temperature=1.0, top_p=0.95, stop="\n\n",
                           seed=3) == {"n": 8, "max_tokens": 64, "temperature": 1.0,
                                       "top_p": 0.95, "seed": 3, "stop": ["\n\n"]}
    greedy = sampling_kwargs(n=8, max_new_tokens=64, temperature=0, top_p=0.95, stop=None, seed=None)
    assert greedy == {"n": 1, "max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": None}


def test_vllm_engine_arguments_use_the_workers_gpus():
    settings = GeneratorSettings.from_dict({"model": "/models/qwen", "backend": "vllm",
                                            "dtype": "bfloat16", "prefix_caching": False})
    assert engine_kwargs(settings, 4) == {
        "model": "/models/qwen", "dtype": "bfloat16", "tensor_parallel_size": 4,
        "gpu_memory_utilization": 0.85, "enable_prefix_caching": False, "seed": 0}
    two = GeneratorSettings.from_dict({"model": "m", "backend": "vllm", "tensor_parallel_size": 2})
    assert engine_kwargs(two, 4)["tensor_parallel_size"] == 2
    with pytest.raises(RunFailure, match="tensor_parallel_size 8 needs more GPUs .* \\(4\\)"):
        engine_kwargs(GeneratorSettings.from_dict({"model": "m", "backend": "vllm",
                                                   "tensor_parallel_size": 8}), 4)


def test_a_worker_without_vllm_says_what_to_install(settings, tmp_path):
    # A model the worker may load (generation.modeldirs), so the engine is what is missing.
    settings.MODELS_DIR = tmp_path
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    settings = GeneratorSettings.from_dict({"model": "m", "backend": "vllm"})
    if importlib.util.find_spec("vllm") is not None:
        require_vllm()  # a GPU environment with vLLM: nothing to refuse
        return
    with pytest.raises(VllmMissing, match="requirements-vllm.txt") as info:
        backend_for(settings)
    assert info.value.reason == "The generator's engine is not installed on the worker"


def test_calls_hold_enough_prompts_to_keep_a_server_busy():
    from generation.backends.openai_server import OpenAIServerBackend

    server = OpenAIServerBackend(GeneratorSettings.from_dict(
        {**SERVER, "concurrency": 8, "batch_size": 16}))
    assert server.prompts_per_call(4) == 16  # two rounds of 8 requests in flight
    wide = OpenAIServerBackend(GeneratorSettings.from_dict(
        {**SERVER, "concurrency": 2, "batch_size": 64}))
    assert wide.prompts_per_call(1) == 64 and wide.prompts_per_call(8) == 8
