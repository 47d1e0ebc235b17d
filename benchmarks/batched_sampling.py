"""Batched vs sequential llama.cpp sampling: aggregate tokens/s and pass@1, in one run, same settings.

For each N, every task is sampled twice with the same seeds, once with the N sequences decoded
together in one batch and once one after another; the two paths alternate task by task so a change in
machine load hits both alike, and each timed run starts with an empty KV cache (both pay for the
prompt once). The candidates of both paths are then executed in the sandbox and pass@1 is reported.

    python benchmarks/batched_sampling.py                      # default model, N = 8 and 16, 10 tasks
    python benchmarks/batched_sampling.py --model smollm2-135m-instruct --tasks 3 --n 8
    python benchmarks/batched_sampling.py --json out.json      # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

from rrr_cli.atomic import atomic_write_text
from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.llamacpp import LlamaCppBackend
from rrr_cli.generation.sampling import sample_candidates
from rrr_cli.models import resolve_model
from rrr_cli.tasks import load_tasks


def pass_rate(tasks, candidates, workers: int | None) -> tuple[float, float] | None:
    """(pass@1 over all samples, its standard error), or None when the executor is unavailable."""
    try:
        from rrr_cli.execution.pool import execute
    except ImportError:
        return None
    verdicts = list(execute(tasks, candidates, workers=workers))
    passed = [v.passed for v in verdicts]
    p = sum(passed) / len(passed)
    return p, math.sqrt(p * (1 - p) / len(passed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--source", default="humaneval-python")
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--n", type=int, nargs="+", default=[8, 16])
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--top-p", type=float, default=0.95)
    parser.add_argument("--max-tokens", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: every core)")
    parser.add_argument("--workers", type=int, default=None, help="sandbox workers for pass@1")
    parser.add_argument("--no-exec", action="store_true", help="throughput only")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args(argv)

    tasks = load_tasks([args.source], limit=args.tasks)
    path = resolve_model(args.model)
    backend = LlamaCppBackend(path, model_name=args.model, threads=args.threads)
    print(f"model {args.model} ({path.name}), {len(tasks)} tasks of {args.source}, threads {backend.threads}, "
          f"T={args.temperature} top_p={args.top_p} max_tokens={args.max_tokens}", file=sys.stderr)
    # Warm up: allocate the KV cache for the largest N before any timing (stop after one token).
    backend.generate(["Hello"], SamplingParams(n=max(args.n), max_tokens=args.max_tokens,
                                               stop=tuple(chr(c) for c in range(32, 127)) + ("\n",)))
    report = {"model": args.model, "tasks": len(tasks), "threads": backend.threads,
              "temperature": args.temperature, "top_p": args.top_p, "max_tokens": args.max_tokens, "runs": []}
    for n in args.n:
        params = SamplingParams(n=n, temperature=args.temperature, top_p=args.top_p,
                                max_tokens=args.max_tokens, seed=args.seed)
        seconds = {"sequential": 0.0, "batched": 0.0}
        cpu = {"sequential": 0.0, "batched": 0.0}  # process CPU time: steadier than wall time on a shared machine
        candidates = {"sequential": [], "batched": []}
        for index, task in enumerate(tasks):
            order = ("sequential", "batched") if index % 2 == 0 else ("batched", "sequential")
            for mode in order:
                backend.batched = mode == "batched"
                backend.forget_prompt()
                start, start_cpu = time.perf_counter(), time.process_time()
                got = list(sample_candidates([task], backend, params))
                seconds[mode] += time.perf_counter() - start
                cpu[mode] += time.process_time() - start_cpu
                candidates[mode].extend(got)
            print(f"  N={n} task {index + 1}/{len(tasks)}: " + ", ".join(
                f"{m} {sum(c.n_tokens for c in candidates[m]) / seconds[m]:.1f} tok/s" for m in seconds),
                file=sys.stderr)
        run = {"n": n}
        for mode in ("sequential", "batched"):
            tokens = sum(c.n_tokens for c in candidates[mode])
            run[mode] = {"tokens": tokens, "seconds": round(seconds[mode], 2),
                         "tokens_per_s": round(tokens / seconds[mode], 2),
                         "cpu_seconds": round(cpu[mode], 2), "tokens_per_cpu_s": round(tokens / cpu[mode], 2)}
            if not args.no_exec:
                rate = pass_rate(tasks, candidates[mode], args.workers)
                if rate is not None:
                    run[mode]["pass@1"], run[mode]["pass@1_stderr"] = round(rate[0], 4), round(rate[1], 4)
        run["speedup"] = round(run["batched"]["tokens_per_s"] / run["sequential"]["tokens_per_s"], 3)
        run["speedup_cpu"] = round(run["batched"]["tokens_per_cpu_s"] / run["sequential"]["tokens_per_cpu_s"], 3)
        same = sum(a.completion == b.completion for a, b in zip(candidates["sequential"], candidates["batched"]))
        run["identical_samples"] = f"{same}/{len(candidates['batched'])}"
        report["runs"].append(run)
        print(json.dumps(run), flush=True)
    backend.close()
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
