"""How many tasks one llama.cpp call takes: short windows vs one long streamed call, same run, same seeds.

`sample_candidates` hands a backend up to `prompt_window` consecutive tasks per call. Every call ends
in a thin batch (its last long samples decoding alone), so short windows pay that tail again and
again; the llama.cpp backend hands each task back as its last sample ends (`generate_stream`), so a
long window costs nothing in how steadily candidates come out. This samples the same tasks with each
window size, alternating the order over `--rounds`, and prints tokens per wall second, the decode
steps' mean width and (unless --no-exec) pass@1, with the CPU named.

    python benchmarks/prompt_window.py                              # 30 HumanEval-Python tasks, N=8, windows 10 and 40
    python benchmarks/prompt_window.py --source humaneval-cpp --tasks 40 --windows 10 40 --rounds 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

from batched_sampling import pass_rate  # benchmarks/, beside this script
from cpu import cpu_description
from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.llamacpp import LlamaCppBackend
from rrr_cli.generation.sampling import sample_candidates
from rrr_cli.models import resolve_model
from rrr_cli.tasks import load_tasks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--source", default="humaneval-python")
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("-n", type=int, default=8)
    parser.add_argument("--windows", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--rounds", type=int, default=1, help="each window size this many times, order alternating")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-exec", action="store_true", help="throughput only")
    args = parser.parse_args(argv)

    tasks = load_tasks([args.source], limit=args.tasks)
    backend = LlamaCppBackend(resolve_model(args.model), model_name=args.model, threads=args.threads)
    cpu = cpu_description()
    print(f"cpu {cpu['model']}, {cpu['cpus']} logical CPUs, {' '.join(cpu['simd'])}; {len(tasks)} tasks of "
          f"{args.source}, n={args.n}, threads {backend.threads}", file=sys.stderr)
    params = SamplingParams(n=args.n, temperature=0.8, top_p=0.95, max_tokens=512, seed=0)
    rates: dict[int, list[float]] = {w: [] for w in args.windows}
    report: dict = {"cpu": cpu["model"], "simd": cpu["simd"], "tasks": len(tasks), "n": args.n, "windows": {}}
    for round_index in range(args.rounds):
        order = args.windows if round_index % 2 == 0 else list(reversed(args.windows))
        for window in order:
            backend.prompt_window = window
            backend.forget_prompt()
            before = dict(backend.stats)
            started = time.perf_counter()
            candidates = list(sample_candidates(tasks, backend, params))
            seconds = time.perf_counter() - started
            tokens = sum(c.n_tokens for c in candidates)
            steps = backend.stats["steps"] - before["steps"]
            rates[window].append(tokens / seconds)
            row = {"window": window, "round": round_index, "tokens": tokens, "seconds": round(seconds, 1),
                   "tokens_per_s": round(tokens / seconds, 2),
                   "prompt_s": round(backend.stats["prompt_s"] - before["prompt_s"], 1),
                   "mean_width": round((backend.stats["sampled_tokens"] - before["sampled_tokens"]) / max(steps, 1), 2)}
            if not args.no_exec and round_index == 0:
                rate = pass_rate(tasks, candidates, None)
                if rate is not None:
                    row["pass@1"], row["pass@1_stderr"] = round(rate[0], 4), round(rate[1], 4)
            report["windows"].setdefault(window, []).append(row)
            print(json.dumps(row), flush=True)
    base = args.windows[0]
    summary = {w: round(statistics.median(r), 2) for w, r in rates.items()}
    print(json.dumps({"cpu": f"{cpu['model']} ({' '.join(cpu['simd'])})", "median_tokens_per_s": summary,
                      "over_window_" + str(base): {w: round(summary[w] / summary[base], 3) for w in summary}}))
    backend.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
