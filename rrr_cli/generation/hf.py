"""The transformers backend (`--backend hf`): Hugging Face folders, GGUF files and in-memory PPO policies.

The N sequences of a prompt are one batched `generate` call with `num_return_sequences=N`, on CPU or
CUDA. Log-probabilities come from the raw logits (`output_logits`), not the temperature/top-p-processed
scores, so they mean the same as the llama.cpp backend's. Transformers samples all N sequences from one
random stream, so a seeded run repeats exactly, but sequence j is not tied to seed + j on its own.
"""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Any

from rrr_cli.errors import RrrError
from rrr_cli.generation.base import Backend, Generation, SamplingParams


def _torch():
    try:
        import torch
    except ImportError:
        raise RrrError("the hf backend needs torch and transformers: pip install 'rrr[train]'") from None
    return torch


def default_device() -> str:
    """"cuda" when torch sees a GPU, else "cpu"."""
    return "cuda" if _torch().cuda.is_available() else "cpu"


@contextlib.contextmanager
def quiet_loading():
    """transformers without its loading chatter: no per-tensor progress bars ("Converting and
    de-quantizing GGUF tensors", "Loading weights") and only errors logged. rrr reports its own steps."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # The GGUF reader uses tqdm directly, outside transformers' progress-bar switch.
    try:
        import transformers.modeling_gguf_pytorch_utils as gguf_utils
    except ImportError:  # pragma: no cover - no GGUF support in this transformers
        gguf_utils = None
    gguf_tqdm = getattr(gguf_utils, "tqdm", None)
    if gguf_tqdm is not None:
        gguf_utils.tqdm = functools.partial(gguf_tqdm, disable=True)
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        if gguf_tqdm is not None:
            gguf_utils.tqdm = gguf_tqdm


class HFBackend(Backend):
    """A transformers causal LM and its tokenizer; `model` may be a live PPO policy being trained."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, name: str = "", device: str | None = None) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.model_name = name or getattr(getattr(model, "config", None), "_name_or_path", "") or "hf-model"
        self.device = device or str(next(model.parameters()).device)

    @classmethod
    def from_path(cls, path: str | os.PathLike, *, name: str = "", device: str | None = None,
                  threads: int | None = None) -> "HFBackend":
        """Load a Hugging Face model folder, or a GGUF file (dequantised; needs the `gguf` package)."""
        torch = _torch()
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if threads:
            torch.set_num_threads(int(threads))
        device = device or default_device()
        kwargs: dict[str, Any] = {}
        if path.is_file():
            folder, kwargs["gguf_file"] = path.parent, path.name
        elif path.is_dir():
            folder = path
        else:
            raise RrrError(f"{path}: no such model file or folder")
        # bfloat16 on a GPU halves memory; CPUs get float32, which they compute fastest.
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        try:
            with quiet_loading():
                tokenizer = AutoTokenizer.from_pretrained(folder, **kwargs)
                model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, **kwargs)
        except ImportError as exc:
            raise RrrError(f"cannot load {path} with transformers: {exc}") from None
        except (OSError, ValueError) as exc:
            raise RrrError(f"cannot load {path} with transformers: {str(exc).splitlines()[0]}") from None
        model.to(device).eval()
        return cls(model, tokenizer, name=name or path.stem, device=device)

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The tokenizer's chat template with the generation prompt."""
        if not getattr(self.tokenizer, "chat_template", None):
            raise RrrError(f"{self.model_name} has no chat template; use the completion prompt style")
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def _encode(self, prompt: str):
        bos = getattr(self.tokenizer, "bos_token", None)
        # A rendered chat prompt already carries its BOS; adding another would change the model's input.
        special = not (bos and prompt.startswith(bos))
        ids = self.tokenizer(prompt, add_special_tokens=special, return_tensors="pt").input_ids
        if ids.shape[1] == 0:
            raise RrrError("cannot generate from an empty prompt")
        return ids.to(self.device)

    def _eos_ids(self) -> set[int]:
        ids = self.model.generation_config.eos_token_id
        if ids is None:
            ids = self.tokenizer.eos_token_id
        if ids is None:
            return set()
        return set(ids) if isinstance(ids, (list, tuple)) else {int(ids)}

    def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        """N generations per prompt from one batched `generate` call each."""
        torch = _torch()
        out = []
        for prompt in prompts:
            input_ids = self._encode(prompt)
            greedy = params.is_greedy
            # Greedy decoding gives N identical sequences: decode one and repeat it.
            count = 1 if greedy else params.n
            options: dict[str, Any] = dict(
                max_new_tokens=params.max_tokens,
                num_return_sequences=count,
                do_sample=not greedy,
                return_dict_in_generate=True,
                output_logits=True,
                pad_token_id=self.tokenizer.pad_token_id
                if self.tokenizer.pad_token_id is not None
                else next(iter(self._eos_ids()), 0),
            )
            if not greedy:
                options.update(temperature=float(params.temperature), top_p=float(params.top_p), top_k=0)
            else:
                options.update(temperature=None, top_p=None, top_k=None)
            if params.stop:
                options.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
            devices = [torch.cuda.current_device()] if self.device.startswith("cuda") else []
            # A policy under training may be in train mode: sample without dropout, then restore.
            was_training = self.model.training
            self.model.eval()
            try:
                with torch.random.fork_rng(devices=devices), torch.inference_mode():
                    torch.manual_seed(0 if params.seed is None else int(params.seed))
                    result = self.model.generate(
                        input_ids=input_ids, attention_mask=torch.ones_like(input_ids), **options
                    )
            finally:
                self.model.train(was_training)
            new_tokens = result.sequences[:, input_ids.shape[1]:]
            logprobs = torch.stack([step.float().log_softmax(-1) for step in result.logits], dim=1)
            chosen = logprobs.gather(-1, new_tokens.unsqueeze(-1)).squeeze(-1)
            gens = [
                self._finish(new_tokens[row].tolist(), chosen[row].tolist(), params)
                for row in range(new_tokens.shape[0])
            ]
            out.append(gens * params.n if greedy else gens)
        return out

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=True)

    def _finish(self, tokens: list[int], logprobs: list[float], params: SamplingParams) -> Generation:
        """Cut one sequence at EOS or its first stop string; count and score the tokens kept."""
        eos = self._eos_ids()
        n, finish = len(tokens), "length"
        for k, token in enumerate(tokens):
            if token in eos:
                n, finish = k + 1, "eos"  # the EOS token counts, as it does in the llama.cpp backend
                break
        text = self._decode([t for t in tokens[:n] if t not in eos])
        stops = [s for s in params.stop if s]
        cuts = [(text.find(s), s) for s in stops if s in text]
        if cuts:
            cut, stop = min(cuts)
            text = text[:cut]
            # The fewest tokens whose text holds the stop string: the token that completed it is kept.
            lo, hi = 1, n
            while lo < hi:
                mid = (lo + hi) // 2
                if stop in self._decode(tokens[:mid])[: cut + len(stop)]:
                    hi = mid
                else:
                    lo = mid + 1
            n, finish = lo, "stop"
        total = float(sum(logprobs[:n]))
        return Generation(text=text, n_tokens=n, logprob_sum=total if params.logprobs else None,
                          finish_reason=finish, token_logprobs=list(logprobs[:n]) if params.logprobs else [])

    def close(self) -> None:
        """Drop the references (an in-memory policy stays alive where its trainer holds it)."""
        self.model = None
        self.tokenizer = None
