"""Batched vs sequential llama.cpp sampling next to the hardware's ceiling: tokens/s and pass@1, one run.

For each N, the tasks are sampled with the same seeds sequentially (`batched=False`, one sequence at
a time) and with continuous batching at each `--parallel` slot count (up to that many sequences
decoded together, drawn from several tasks per backend call, a finished slot refilled at once). The
order of the paths rotates between values of N, each timed run starts with an empty KV cache, and
throughput is reported per wall second and per process CPU-second. The candidates of every path are
executed in the sandbox for pass@1.

The ceiling is measured in the same process, on the same model, context and threads, before every
timed run and after the last (the median is reported): `--ceiling-width` tokens of one sequence
(16, the width issue #16 fixes) evaluated together per llama_decode, after a few hundred tokens of
context, with logits for every token (as sampling needs them); one token at a time, the same
batches with the last token's logits only (prompt-evaluation style), and the widest slot count's
width when it differs are shown for reference. The CPU's model and SIMD flags are printed with the
figures, since they differ from machine to machine. Each run also says where its wall time went
(the backend's `stats`): seconds evaluating prompts, and the decode steps' mean width and rate alone,
so a gap to the ceiling shows as prompts, a thin batch at the end of a call, or slow steps.

    python benchmarks/batched_sampling.py                      # default model and slots, N = 8 and 16, 10 tasks
    python benchmarks/batched_sampling.py --n 8 --parallel 16 32   # two slot counts against one sequential run
    python benchmarks/batched_sampling.py --model smollm2-135m-instruct --tasks 3 --n 8
    python benchmarks/batched_sampling.py --json out.json      # also write the figures as JSON
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

from cpu import cpu_description  # benchmarks/cpu.py, beside this script
from rrr_cli.atomic import atomic_write_text
from rrr_cli.errors import RrrError
from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.llamacpp import DEFAULT_PARALLEL, LlamaCppBackend
from rrr_cli.generation.sampling import DEFAULT_STYLE, render_prompt, sample_candidates
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


def ceiling(backend: LlamaCppBackend, width: int, n_tokens: int, context: int, all_logits: bool = True) -> dict:
    """Tokens/s (wall and CPU) of `width` tokens of one sequence per llama_decode (see decode_rate)."""
    tokens, wall, cpu = backend.decode_rate(width, n_tokens=n_tokens, context=context, all_logits=all_logits)
    return {"tokens_per_s": tokens / wall, "tokens_per_cpu_s": tokens / cpu}


def median_rates(samples: list[dict]) -> dict:
    return {key: round(statistics.median(s[key] for s in samples), 2) for key in samples[0]}


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
    parser.add_argument("--parallel", type=int, nargs="+", default=[DEFAULT_PARALLEL],
                        help=f"slot counts to time batched sampling at (default: rrr's, {DEFAULT_PARALLEL})")
    parser.add_argument("--ceiling-width", type=int, default=16, help="tokens per decode of the ceiling")
    parser.add_argument("--workers", type=int, default=None, help="sandbox workers for pass@1")
    parser.add_argument("--no-exec", action="store_true", help="throughput only")
    parser.add_argument("--ceiling-tokens", type=int, default=256, help="tokens per ceiling measurement")
    parser.add_argument("--ceiling-context", type=int, default=256, help="tokens in the cache before them")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    args = parser.parse_args(argv)
    if min(args.parallel) < 1 or args.ceiling_width < 1 or args.tasks < 1 or min(args.n) < 1:
        parser.error("--tasks, --n, --parallel and --ceiling-width must be positive")

    tasks = load_tasks([args.source], limit=args.tasks)
    try:
        path = resolve_model(args.model)
    except RrrError as exc:
        parser.error(str(exc))
    slot_counts = sorted(set(args.parallel))
    backend = LlamaCppBackend(path, model_name=args.model, threads=args.threads, max_parallel=max(slot_counts))
    slot_counts = sorted({min(p, backend.max_parallel) for p in slot_counts})  # llama.cpp's own cap
    cpu = cpu_description()
    print(f"cpu {cpu['model']}, {cpu['cpus']} logical CPUs, {' '.join(cpu['simd'])}", file=sys.stderr)
    print(f"model {args.model} ({path.name}), {len(tasks)} tasks of {args.source}, threads {backend.threads}, "
          f"slots {' '.join(map(str, slot_counts))}, T={args.temperature} top_p={args.top_p} "
          f"max_tokens={args.max_tokens}", file=sys.stderr)
    # Warm up on a real prompt: allocate the KV cache every timed run needs (stop after one token).
    warm = render_prompt(tasks[0], backend, DEFAULT_STYLE)
    backend.generate([warm] * 2, SamplingParams(n=backend.max_parallel, max_tokens=args.max_tokens,
                                                stop=tuple(chr(c) for c in range(32, 127)) + ("\n",)))
    width = args.ceiling_width
    references = [("ceiling", width, True), ("one_token", 1, True), ("last_logits", width, False)]
    if max(slot_counts) != width:
        references.append((f"ceiling_{max(slot_counts)}", max(slot_counts), True))

    def measure_ceiling() -> None:
        for key, w, all_logits in references:
            n_tokens = args.ceiling_tokens if w > 1 else max(16, args.ceiling_tokens // 4)
            ceilings.setdefault(key, []).append(ceiling(backend, w, n_tokens, args.ceiling_context, all_logits))
        backend.forget_prompt()
        rates = ceilings["ceiling"][-1]
        print(f"  ceiling ({width} tokens per decode): {rates['tokens_per_s']:.1f} tok/s wall, "
              f"{rates['tokens_per_cpu_s']:.1f} tok/CPU-s", file=sys.stderr, flush=True)

    ceilings: dict[str, list[dict]] = {}
    report = {"model": args.model, "cpu": cpu, "tasks": len(tasks), "threads": backend.threads,
              "slots": slot_counts, "temperature": args.temperature, "top_p": args.top_p,
              "max_tokens": args.max_tokens, "runs": []}
    slots_of = {"sequential": 1, **{f"batched@{p}": p for p in slot_counts}}
    modes = list(slots_of)
    for round_index, n in enumerate(args.n):
        params = SamplingParams(n=n, temperature=args.temperature, top_p=args.top_p,
                                max_tokens=args.max_tokens, seed=args.seed)
        seconds, cpu_seconds, candidates, load, stages = {}, {}, {}, {}, {}
        shift = round_index % len(modes)
        for mode in modes[shift:] + modes[:shift]:  # the order rotates between values of N
            measure_ceiling()
            backend.batched = mode != "sequential"
            backend.max_parallel = slots_of[mode]
            backend.forget_prompt()
            before = dict(backend.stats)
            start, start_cpu = time.perf_counter(), time.process_time()
            candidates[mode] = list(sample_candidates(tasks, backend, params))
            seconds[mode] = time.perf_counter() - start
            cpu_seconds[mode] = time.process_time() - start_cpu
            stages[mode] = {key: backend.stats[key] - before[key] for key in before}
            load[mode] = os.getloadavg()[0]  # other work on the machine slows every path, unevenly
            tokens = sum(c.n_tokens for c in candidates[mode])
            print(f"  N={n} {mode}: {tokens} tokens, {tokens / seconds[mode]:.1f} tok/s wall, "
                  f"{tokens / cpu_seconds[mode]:.1f} tok/CPU-s (load {load[mode]:.2f})", file=sys.stderr, flush=True)
        run = {"n": n}
        for mode in modes:
            tokens = sum(c.n_tokens for c in candidates[mode])
            run[mode] = {"tokens": tokens, "seconds": round(seconds[mode], 2),
                         "tokens_per_s": round(tokens / seconds[mode], 2),
                         "cpu_seconds": round(cpu_seconds[mode], 2),
                         "tokens_per_cpu_s": round(tokens / cpu_seconds[mode], 2), "load_1min": round(load[mode], 2),
                         # Where the wall time went: evaluating prompts, and the decode steps (their mean
                         # width: sequences per step) with their rate alone.
                         "prompt_tokens": stages[mode]["prompt_tokens"], "prompt_s": round(stages[mode]["prompt_s"], 2),
                         "decode_s": round(stages[mode]["decode_s"], 2),
                         "mean_width": round(stages[mode]["sampled_tokens"] / max(stages[mode]["steps"], 1), 2),
                         "decode_tokens_per_s": round(stages[mode]["sampled_tokens"] / max(stages[mode]["decode_s"], 1e-9), 2)}
            if not args.no_exec:
                rate = pass_rate(tasks, candidates[mode], args.workers)
                if rate is not None:
                    run[mode]["pass@1"], run[mode]["pass@1_stderr"] = round(rate[0], 4), round(rate[1], 4)
            if mode != "sequential":
                sequential = run["sequential"]
                run[mode]["speedup"] = round(run[mode]["tokens_per_s"] / sequential["tokens_per_s"], 3)
                run[mode]["speedup_cpu"] = round(run[mode]["tokens_per_cpu_s"] / sequential["tokens_per_cpu_s"], 3)
                same = sum(a.completion == b.completion for a, b in zip(candidates["sequential"], candidates[mode]))
                run[mode]["identical_samples"] = f"{same}/{len(candidates[mode])}"
        report["runs"].append(run)
        print(json.dumps(run), flush=True)
    measure_ceiling()
    report["ceiling"] = {"width": width, "context": args.ceiling_context, "measurements": len(ceilings["ceiling"]),
                         **{key: median_rates(samples) for key, samples in ceilings.items()}}
    top = report["ceiling"]["ceiling"]
    for run in report["runs"]:
        run["sequential_of_one_token"] = round(
            run["sequential"]["tokens_per_s"] / report["ceiling"]["one_token"]["tokens_per_s"], 3)
        for mode in modes[1:]:
            run[mode]["of_ceiling"] = round(run[mode]["tokens_per_s"] / top["tokens_per_s"], 3)
            run[mode]["of_ceiling_cpu"] = round(run[mode]["tokens_per_cpu_s"] / top["tokens_per_cpu_s"], 3)
            run[mode]["decode_steps_of_ceiling"] = round(run[mode]["decode_tokens_per_s"] / top["tokens_per_s"], 3)

    def per_run(value) -> dict:
        return {run["n"]: {mode: value(run[mode]) for mode in modes[1:]} for run in report["runs"]}

    print(json.dumps({"cpu": f"{cpu['model']} ({' '.join(cpu['simd'])})", "threads": backend.threads,
                      "ceiling": report["ceiling"],
                      "batched_of_ceiling": per_run(lambda r: r["of_ceiling"]),
                      "batched_decode_steps_of_ceiling": per_run(lambda r: r["decode_steps_of_ceiling"]),
                      "batched_mean_width": per_run(lambda r: r["mean_width"]),
                      "batched_prompt_share": per_run(lambda r: round(r["prompt_s"] / r["seconds"], 3)),
                      "batched_over_sequential": per_run(lambda r: r["speedup"])}), flush=True)
    backend.close()
    if args.json:
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
