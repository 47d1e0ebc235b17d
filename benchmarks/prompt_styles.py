"""Chat vs completion prompt style: pass@1 and tokens/s on the first K tasks of a benchmark.

    python benchmarks/prompt_styles.py --tasks 20 --benchmark humaneval-python [--model NAME] [-n 1 -t 0]

Samples each task in each style with the same settings and model, executes every candidate in the
sandbox, and prints one JSON line per style plus a summary (pass@1 = mean share of passing samples).
"""

from __future__ import annotations

import argparse
import json
import time

from rrr_cli.execution import execute
from rrr_cli.generation.backends import open_backend
from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.sampling import sample_candidates
from rrr_cli.tasks import load_tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", default="humaneval-python")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--model", default=None)
    parser.add_argument("-n", type=int, default=1)
    parser.add_argument("-t", "--temperature", type=float, default=0.0)
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--styles", default="chat,completion")
    args = parser.parse_args()
    tasks = load_tasks([args.benchmark], limit=args.tasks)
    params = SamplingParams(n=args.n, temperature=args.temperature, max_tokens=args.max_tokens, seed=0)
    results = {}
    with open_backend(args.model) as backend:
        for style in args.styles.split(","):
            started = time.perf_counter()
            candidates = list(sample_candidates(tasks, backend, params, style))
            seconds = time.perf_counter() - started
            verdicts = list(execute(tasks, candidates))
            passed = sum(v.passed for v in verdicts)
            tokens = sum(c.n_tokens for c in candidates)
            results[style] = {
                "style": style, "benchmark": args.benchmark, "tasks": len(tasks), "n": args.n,
                "temperature": args.temperature, "pass@1": round(passed / len(verdicts), 4),
                "tasks_solved_by_any": len({v.task_id for v in verdicts if v.passed}),
                "tokens": tokens, "sampling_s": round(seconds, 1),
                "tokens_per_s": round(tokens / seconds, 1), "model": backend.model_name,
            }
            print(json.dumps(results[style]), flush=True)


if __name__ == "__main__":
    main()
