"""Where the reward model's pooled final states can come from, measured side by side on the same texts.

The reward model reads the mean of the final (normed) hidden states over a candidate's completion
and end token (`RewardModelSettings.pooling = "mean"`), from the generator's own weights. Two ways to
get them, for the same candidates (sampled here from the default model):

- **torch**: the trunk in transformers (the GGUF dequantised to float32, kept under the cache's
  `trunks/` after the first load), `TrunkStates.pooled_after` (`model.source`): what `rrr train-reranker` and the
  shipped recipe use today;
- **llama.cpp**: a second context, with embeddings on, on the model already loaded for sampling
  (`LlamaCppBackend.pooled_states`): the prompt evaluated once into a stream, each completion after it
  in a copy of it.

For each it prints the seconds to get ready (loading the trunk vs nothing) and to pool the texts, and
how close the two are: cosine similarity and relative L2 distance per text. The CPU is printed too.

    python benchmarks/pooled_state_sources.py --tasks 2 -n 8
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from cpu import cpu_description  # benchmarks/, beside this script
from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.llamacpp import LlamaCppBackend
from rrr_cli.generation.sampling import sample_candidates
from rrr_cli.models import resolve_model
from rrr_cli.tasks import load_tasks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--source", default="humaneval-python")
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("-n", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)

    cpu = cpu_description()
    print(f"cpu {cpu['model']}, {cpu['cpus']} logical CPUs, {' '.join(cpu['simd'])}", file=sys.stderr)
    tasks = load_tasks([args.source], limit=args.tasks)
    backend = LlamaCppBackend(resolve_model(args.model), model_name=args.model, threads=args.threads)
    candidates = list(sample_candidates(tasks, backend, SamplingParams(n=args.n, temperature=0.8, seed=0)))

    from rrr_cli.reranker import RewardModel, RewardModelSettings

    started = time.perf_counter()
    model = RewardModel.from_base(args.model, RewardModelSettings(trainable_layers=0))
    torch_load = time.perf_counter() - started
    encoded = [model.encode(c.prompt, c.completion) for c in candidates]
    groups: dict[tuple[int, ...], list[int]] = {}
    for k, e in enumerate(encoded):
        groups.setdefault(tuple(e[:e.start]), []).append(k)

    torch_states, llama_states = [None] * len(encoded), [None] * len(encoded)
    started = time.perf_counter()
    for prefix, members in groups.items():
        for k, state in zip(members, model.source.pooled_after(list(prefix), [list(encoded[k][encoded[k].start:])
                                                                               for k in members])):
            torch_states[k] = state.float().numpy()
    torch_s = time.perf_counter() - started
    started = time.perf_counter()
    for prefix, members in groups.items():
        for k, state in zip(members, backend.pooled_states(list(prefix), [list(encoded[k][encoded[k].start:])
                                                                           for k in members])):
            llama_states[k] = state
    llama_s = time.perf_counter() - started

    a, b = np.stack(torch_states), np.stack(llama_states)
    cosine = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    relative = np.linalg.norm(a - b, axis=1) / np.linalg.norm(a, axis=1)
    # How far apart two different candidates' states are, for scale.
    spread = float(np.mean([np.linalg.norm(a[i] - a[j]) / np.linalg.norm(a[i])
                            for i in range(len(a)) for j in range(i + 1, len(a))]))
    tokens = sum(len(e) - e.start for e in encoded)
    report = {"cpu": f"{cpu['model']} ({' '.join(cpu['simd'])})", "texts": len(encoded), "tasks": len(groups),
              "completion_tokens": tokens, "torch_bf16": model.use_bf16,
              "torch": {"load_s": round(torch_load, 1), "pool_s": round(torch_s, 2)},
              "llama.cpp": {"load_s": 0.0, "pool_s": round(llama_s, 2)},
              "cosine": {"mean": round(float(cosine.mean()), 5), "min": round(float(cosine.min()), 5)},
              "relative_l2": {"mean": round(float(relative.mean()), 4), "max": round(float(relative.max()), 4)},
              "relative_l2_between_candidates": round(spread, 4)}
    print(json.dumps(report))
    backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
