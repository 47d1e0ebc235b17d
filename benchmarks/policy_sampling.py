"""Sampling a PPO policy on the CPU: transformers (adapter merged) vs llama.cpp (quantised base + the
adapter exported to GGUF), tokens/s on the same tasks and settings, in one run.

    python benchmarks/policy_sampling.py --tasks 8 -n 4 [--model qwen2.5-coder-0.5b-instruct]

The policy is a LoRA adapter (r=8, all linear layers) with random B factors, so that it really moves
the model: sampling speed does not depend on what the adapter learned. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--benchmark", default="mbpp")
    parser.add_argument("--tasks", type=int, default=8)
    parser.add_argument("-n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=256)
    args = parser.parse_args()

    import peft
    import torch

    from rrr_cli.generation.backends import open_backend
    from rrr_cli.generation.base import SamplingParams
    from rrr_cli.generation.gguf_lora import export_lora_gguf
    from rrr_cli.generation.hf import HFBackend
    from rrr_cli.generation.sampling import sample_candidates
    from rrr_cli.models import resolve_model
    from rrr_cli.tasks import load_tasks

    path = Path(resolve_model(args.model))
    tasks = load_tasks([args.benchmark], limit=args.tasks)
    params = SamplingParams(n=args.n, temperature=0.8, max_tokens=args.max_tokens, seed=0)
    result: dict = {"model": args.model, "tasks": len(tasks), "n": args.n, "threads": torch.get_num_threads()}
    with tempfile.TemporaryDirectory() as folder:
        hf = HFBackend.from_path(path, name="policy")
        torch.manual_seed(0)
        lora = peft.get_peft_model(hf.model, peft.LoraConfig(r=8, lora_alpha=16, target_modules="all-linear",
                                                             init_lora_weights=False))
        with torch.no_grad():
            for name, weight in lora.named_parameters():
                if "lora_B" in name:
                    weight.normal_(0, 0.02)
        lora.save_pretrained(Path(folder) / "policy")
        started = time.perf_counter()
        adapter = export_lora_gguf(Path(folder) / "policy", path, Path(folder) / "policy.gguf")
        result["export_s"] = round(time.perf_counter() - started, 2)
        hf.model = lora.merge_and_unload()
        for label, backend in (("transformers", hf), ("llama.cpp+adapter", None)):
            backend = backend or open_backend(str(path), "llama.cpp", lora_path=adapter)
            started = time.perf_counter()
            candidates = list(sample_candidates(tasks, backend, params, "chat"))
            seconds = time.perf_counter() - started
            tokens = sum(c.n_tokens or 0 for c in candidates)
            result[label] = {"seconds": round(seconds, 1), "tokens": tokens, "tokens_per_s": round(tokens / seconds, 1)}
            backend.close()
    result["speedup"] = round(result["llama.cpp+adapter"]["tokens_per_s"] / result["transformers"]["tokens_per_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
