"""The vLLM backend (`--backend vllm`, the `rrr[gpu]` extra): batched sampling on a CUDA GPU.

`LLM.generate` with `SamplingParams(n=N, ...)` samples a prompt's N sequences together; prefix caching
shares a prompt's KV blocks between them. vllm is imported only when this backend is opened. vLLM
draws a request's N sequences from one generator seeded with `seed`: a seeded run repeats, but
sequence j is not tied to seed + j on its own.

A model too big for one GPU is split over several with tensor parallelism: the setting
`vllm.tensor_parallel_size` (RRR_VLLM_TENSOR_PARALLEL_SIZE, or `[vllm] tensor_parallel_size` in the
config file) is vLLM's own `tensor_parallel_size`. Data-parallel replicas are Ray sampling workers, one
engine each (`rrr eval --executor ray --backend vllm --ray-gpus-per-worker K`, K = the tensor-parallel size).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from rrr_cli import config
from rrr_cli.errors import RrrError
from rrr_cli.generation.base import Backend, Generation, SamplingParams


def sampling_kwargs(params: SamplingParams) -> dict[str, Any]:
    """rrr's sampling options as keyword arguments of `vllm.SamplingParams`.

    Greedy decoding (temperature 0) asks for one sequence; the caller repeats it N times.
    """
    greedy = params.is_greedy
    kwargs: dict[str, Any] = {
        "n": 1 if greedy else params.n,
        "temperature": float(params.temperature),
        "top_p": 1.0 if greedy else float(params.top_p),
        "max_tokens": int(params.max_tokens),
        "stop": [s for s in params.stop if s],
        "seed": params.seed,
        "skip_special_tokens": True,
        "include_stop_str_in_output": False,
    }
    if params.logprobs:
        kwargs["logprobs"] = 1  # also fills `cumulative_logprob`, the sum rrr records
    return kwargs


def engine_kwargs(model: str | os.PathLike, n_ctx: int | None = None, *, supported: set[str] | None = None,
                  gpu_memory_utilization: float = 0.85, tensor_parallel_size: int = 1) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM` for a model folder or GGUF file.

    `supported` is the set of engine argument names of the installed vllm; options it lacks are
    left out (`logprobs_mode` came in vLLM 0.10.2).
    """
    kwargs: dict[str, Any] = {
        "model": str(model),
        "enable_prefix_caching": True,
        "gpu_memory_utilization": gpu_memory_utilization,
        "seed": 0,
        # Log-probs of the raw model, before temperature and top-p, as the other backends record.
        "logprobs_mode": "raw_logprobs",
        "tensor_parallel_size": int(tensor_parallel_size),  # GPUs the model's layers are split over
    }
    if n_ctx:
        kwargs["max_model_len"] = int(n_ctx)
    if supported is not None:
        kwargs = {k: v for k, v in kwargs.items() if k == "model" or k in supported}
    return kwargs


def to_generation(output: Any, params: SamplingParams) -> Generation:
    """One vLLM `CompletionOutput` as a Generation.

    vLLM reports finish_reason "stop" for both EOS and a stop string; `stop_reason` tells them
    apart (None for EOS, the string or token id that stopped it otherwise).
    """
    if output.finish_reason == "length":
        finish = "length"
    elif output.finish_reason == "stop":
        finish = "eos" if output.stop_reason is None else "stop"
    else:
        finish = str(output.finish_reason or "length")
    logprob_sum = output.cumulative_logprob if params.logprobs else None
    return Generation(
        text=output.text,
        n_tokens=len(output.token_ids),
        logprob_sum=None if logprob_sum is None else float(logprob_sum),
        finish_reason=finish,
    )


class VLLMBackend(Backend):
    """A model served by an in-process vLLM engine."""

    name = "vllm"

    def __init__(self, model_path: str | os.PathLike, *, name: str = "", n_ctx: int | None = None,
                 gpu_memory_utilization: float = 0.85, tensor_parallel_size: int | None = None) -> None:
        try:
            import vllm
            from vllm.engine.arg_utils import EngineArgs
        except ImportError as exc:
            raise RrrError(f"the vllm backend needs vllm and a CUDA GPU: pip install 'rrr[gpu]' ({exc})") from None
        self._vllm = vllm
        parallel = config.resolved("vllm.tensor_parallel_size", tensor_parallel_size,
                                   lambda v: isinstance(v, int) and v >= 1, "must be at least 1")
        path = Path(model_path)
        supported = {f.name for f in dataclasses.fields(EngineArgs)}
        self.model_name = name or path.stem
        try:
            self.llm = vllm.LLM(**engine_kwargs(path, n_ctx, supported=supported,
                                                gpu_memory_utilization=gpu_memory_utilization,
                                                tensor_parallel_size=parallel))
        except Exception as exc:  # vLLM raises many kinds; the user needs the one line
            raise RrrError(f"vLLM could not load {path}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The model's chat template (from its tokenizer) with the generation prompt."""
        tokenizer = self.llm.get_tokenizer()
        if not getattr(tokenizer, "chat_template", None):
            raise RrrError(f"{self.model_name} has no chat template; use the completion prompt style")
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        """All prompts in one `LLM.generate` call; N sequences per prompt."""
        vllm_params = self._vllm.SamplingParams(**sampling_kwargs(params))
        results = self.llm.generate(prompts, vllm_params, use_tqdm=False)
        out = []
        for result in results:
            gens = [to_generation(o, params) for o in result.outputs]
            out.append(gens * params.n if params.is_greedy else gens)
        return out

    def close(self) -> None:
        """Drop the engine (vLLM frees the GPU when it is collected)."""
        self.llm = None
