"""Throughput of the transformers backend (CPU or CUDA): N sequences per prompt in one `generate` call
versus N calls of one sequence each, same prompts and settings, in one run.

With `--model` it loads a real model (a Hugging Face folder or a GGUF file). With `--random CONFIG_DIR
--tokenizer DIR` it builds a randomly initialised model of that architecture instead (where the weights
cannot travel, e.g. to a lent GPU machine): such a model never stops early, so every sequence runs to
--max-tokens and the figure is pure decoding throughput.

    python benchmarks/hf_generation.py --model ~/.cache/rrr/models/smollm2-135m-instruct.Q4_1.gguf --n 4
    python benchmarks/hf_generation.py --random cfg/ --tokenizer tok/ --n 8 16 --max-tokens 256
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.hf import HFBackend, default_device

PROMPT = "Write a Python function `is_palindrome(s: str) -> bool` that ignores case and punctuation."


def build(args) -> HFBackend:
    device = args.device or default_device()
    if args.model:
        return HFBackend.from_path(args.model, device=device, threads=args.threads)
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(args.random)
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype).to(device).eval()
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    model.generation_config.eos_token_id = None  # random weights: time full-length sequences
    return HFBackend(model, tokenizer, name=f"random {config.model_type}", device=device)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="a Hugging Face folder or GGUF file")
    source.add_argument("--random", help="a folder with config.json: random weights of that architecture")
    parser.add_argument("--tokenizer", help="tokenizer folder (with --random)")
    parser.add_argument("--n", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--device", default=None)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    backend = build(args)
    prompt = backend.render_chat([{"role": "user", "content": PROMPT}])
    prompts = [prompt + "#" * k for k in range(args.prompts)]  # distinct prompts, same length class
    print(f"{backend.model_name} on {backend.device}", file=sys.stderr)
    backend.generate(prompts[:1], SamplingParams(n=2, max_tokens=8))  # warm-up (CUDA kernels, caches)

    def timed(params: SamplingParams, one_at_a_time: bool) -> tuple[int, float]:
        if backend.device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        if one_at_a_time:
            gens = [g for j in range(params.n) for row in backend.generate(
                prompts, SamplingParams(n=1, temperature=params.temperature, top_p=params.top_p,
                                        max_tokens=params.max_tokens, seed=params.seed + j)) for g in row]
        else:
            gens = [g for row in backend.generate(prompts, params) for g in row]
        if backend.device.startswith("cuda"):
            torch.cuda.synchronize()
        return sum(g.n_tokens for g in gens), time.perf_counter() - start

    for n in args.n:
        params = SamplingParams(n=n, temperature=0.8, top_p=0.95, max_tokens=args.max_tokens, seed=0)
        run = {"device": backend.device, "model": backend.model_name, "n": n, "prompts": len(prompts)}
        for mode, one in (("sequential", True), ("batched", False)):
            tokens, seconds = timed(params, one)
            run[mode] = {"tokens": tokens, "seconds": round(seconds, 2), "tokens_per_s": round(tokens / seconds, 1)}
        run["speedup"] = round(run["batched"]["tokens_per_s"] / run["sequential"]["tokens_per_s"], 2)
        print(json.dumps(run), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
