"""What a task costs to sample with each model, in one run: the ratio a cascade's seconds rest on.

    python benchmarks/model_cost.py [--models qwen2.5-coder-0.5b-instruct qwen2.5-coder-1.5b-instruct]
        [--benchmark multipl-e] [--limit 2] [-n 8] [--rounds 2] [--threads N]

Samples the same tasks (the first `--limit` of each language of `--benchmark`) with every model, n
candidates at T=0.8 through `sample_candidates`, alternating the models over `--rounds` so the machine's
drift falls on all of them; prints seconds per task and tokens per second per model (median over the
rounds) and each model's seconds per task relative to the first. `rrr eval --cascade` reports seconds
from runs that may have been sampled at other times, under other loads; this ratio is measured side by
side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b-instruct", "qwen2.5-coder-1.5b-instruct"])
    parser.add_argument("--benchmark", default="multipl-e")
    parser.add_argument("--limit", type=int, default=2, help="tasks per language")
    parser.add_argument("-n", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    from cpu import cpu_description
    from rrr_cli.generation.backends import open_backend
    from rrr_cli.generation.base import SamplingParams
    from rrr_cli.generation.sampling import sample_candidates
    from rrr_cli.tasks import load_tasks
    from rrr_cli.tasks.benchmarks import ALIASES

    tasks = load_tasks(ALIASES.get(args.benchmark, [args.benchmark]), limit=args.limit)
    params = SamplingParams(n=args.n, temperature=0.8, top_p=0.95, max_tokens=512, seed=0)
    engines = {name: open_backend(name, threads=args.threads) for name in args.models}
    seconds: dict[str, list[float]] = {name: [] for name in args.models}
    tokens: dict[str, list[int]] = {name: [] for name in args.models}
    for round_index in range(args.rounds):
        order = args.models if round_index % 2 == 0 else args.models[::-1]
        for name in order:
            engine = engines[name]
            if hasattr(engine, "forget_prompt"):
                engine.forget_prompt()
            started = time.perf_counter()
            candidates = list(sample_candidates(tasks, engine, params))
            seconds[name].append(time.perf_counter() - started)
            tokens[name].append(sum(c.n_tokens for c in candidates))
            print(f"  round {round_index + 1} {name}: {seconds[name][-1]:.1f} s, {tokens[name][-1]} tokens",
                  file=sys.stderr, flush=True)
    for engine in engines.values():
        engine.close()
    cpu = cpu_description()
    first = statistics.median(seconds[args.models[0]])
    result = {"cpu": f"{cpu['model']} ({' '.join(cpu['simd'])})", "tasks": len(tasks), "n": args.n,
              "models": {name: {"seconds_per_task": round(statistics.median(seconds[name]) / len(tasks), 2),
                                "tokens_per_s": round(statistics.median(t / s for t, s in zip(tokens[name], seconds[name])), 1),
                                "relative_to_first": round(statistics.median(seconds[name]) / first, 2)}
                         for name in args.models}}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
