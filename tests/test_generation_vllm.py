"""The vLLM backend: the mapping of rrr's options onto vLLM's documented API, and (on a GPU) a real run."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.vllm_backend import engine_kwargs, sampling_kwargs, to_generation

# vllm.SamplingParams fields as documented (https://docs.vllm.ai/en/v0.8.3/api/inference_params.html,
# unchanged in later releases for these names).
DOCUMENTED_SAMPLING = {
    "n", "best_of", "presence_penalty", "frequency_penalty", "repetition_penalty", "temperature", "top_p",
    "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos", "max_tokens", "min_tokens", "logprobs",
    "prompt_logprobs", "detokenize", "skip_special_tokens", "spaces_between_special_tokens",
    "logits_processors", "include_stop_str_in_output", "truncate_prompt_tokens", "output_kind",
}
# vllm.LLM / EngineArgs names (https://docs.vllm.ai/en/v0.10.2/configuration/engine_args.html).
DOCUMENTED_ENGINE = {"model", "enable_prefix_caching", "gpu_memory_utilization", "seed", "max_model_len",
                     "logprobs_mode", "tensor_parallel_size"}

HAVE_VLLM = importlib.util.find_spec("vllm") is not None


def test_sampling_options_map_onto_vllm_names():
    params = SamplingParams(n=8, temperature=0.8, top_p=0.95, max_tokens=256, stop=("\n```", ""), seed=3)
    kwargs = sampling_kwargs(params)
    assert set(kwargs) <= DOCUMENTED_SAMPLING
    assert kwargs["n"] == 8 and kwargs["temperature"] == 0.8 and kwargs["top_p"] == 0.95
    assert kwargs["max_tokens"] == 256 and kwargs["seed"] == 3
    assert kwargs["stop"] == ["\n```"]  # empty stop strings dropped
    assert kwargs["logprobs"] == 1 and kwargs["include_stop_str_in_output"] is False
    assert "logprobs" not in sampling_kwargs(SamplingParams(logprobs=False))


def test_greedy_asks_for_one_sequence():
    kwargs = sampling_kwargs(SamplingParams(n=5, temperature=0))
    assert kwargs["n"] == 1 and kwargs["temperature"] == 0 and kwargs["top_p"] == 1.0


def test_engine_options_use_documented_names_and_drop_unsupported(tmp_path):
    kwargs = engine_kwargs(tmp_path / "model.gguf", 4096)
    assert set(kwargs) <= DOCUMENTED_ENGINE
    assert kwargs["enable_prefix_caching"] is True and kwargs["max_model_len"] == 4096
    assert kwargs["logprobs_mode"] == "raw_logprobs"
    old = engine_kwargs(tmp_path / "model.gguf", None, supported={"enable_prefix_caching", "seed"})
    assert set(old) == {"model", "enable_prefix_caching", "seed"}
    assert kwargs["tensor_parallel_size"] == 1
    assert engine_kwargs(tmp_path / "model.gguf", tensor_parallel_size=2)["tensor_parallel_size"] == 2


def test_tensor_parallel_size_is_a_setting(monkeypatch):
    from rrr_cli import config

    monkeypatch.setenv("RRR_VLLM_TENSOR_PARALLEL_SIZE", "2")
    assert config.get("vllm.tensor_parallel_size") == 2


def _output(finish, stop_reason, tokens=(5, 6, 7), cumulative=-2.5, text="x = 1"):
    return SimpleNamespace(text=text, token_ids=list(tokens), cumulative_logprob=cumulative,
                           finish_reason=finish, stop_reason=stop_reason)


def test_completion_outputs_become_generations():
    params = SamplingParams(n=1)
    eos = to_generation(_output("stop", None), params)
    assert (eos.finish_reason, eos.n_tokens, eos.logprob_sum, eos.text) == ("eos", 3, -2.5, "x = 1")
    assert eos.mean_logprob == pytest.approx(-2.5 / 3)
    assert to_generation(_output("stop", "\n```"), params).finish_reason == "stop"
    assert to_generation(_output("stop", 151643), params).finish_reason == "stop"
    assert to_generation(_output("length", None), params).finish_reason == "length"
    assert to_generation(_output("length", None), SamplingParams(logprobs=False)).logprob_sum is None


@pytest.mark.skipif(HAVE_VLLM, reason="vllm is installed")
def test_without_vllm_the_backend_says_how_to_get_it(tmp_path):
    from rrr_cli.generation.vllm_backend import VLLMBackend

    with pytest.raises(RrrError, match=r"rrr\[gpu\]"):
        VLLMBackend(tmp_path / "model.gguf")


@pytest.mark.skipif(not HAVE_VLLM, reason="vllm is not installable on this machine (no CUDA GPU, no wheel)")
def test_vllm_accepts_the_mapped_options():
    import inspect

    import vllm

    names = set(inspect.signature(vllm.SamplingParams).parameters) | set(getattr(vllm.SamplingParams, "__struct_fields__", ()))
    assert set(sampling_kwargs(SamplingParams(n=2, stop=("\n",)))) <= names
    vllm.SamplingParams(**sampling_kwargs(SamplingParams(n=2, stop=("\n",))))


@pytest.mark.model
@pytest.mark.skipif(not HAVE_VLLM, reason="vllm is not installable on this machine (no CUDA GPU, no wheel)")
def test_vllm_samples_seeded_sequences():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vllm needs a CUDA GPU")
    from rrr_cli.generation.backends import open_backend

    with open_backend("smollm2-135m-instruct", backend="vllm", n_ctx=2048) as engine:
        prompt = engine.render_chat([{"role": "user", "content": "Write a Python function that adds two numbers."}])
        params = SamplingParams(n=4, temperature=0.8, max_tokens=32, seed=1)
        first = engine.generate([prompt], params)
        assert engine.generate([prompt], params) == first
        assert all(0 < g.n_tokens <= 32 and g.logprob_sum <= 0 for g in first[0])
