"""The per-step cost of drawing tokens: `_TokenSampler` on one step's rows of logits, split across two
threads vs on one, same rows, same draws.

Every decode step of llama.cpp sampling draws each live sequence's next token from a full-vocabulary
row of logits (152k for Qwen2.5); on 2 cores the numpy passes over 16 rows take milliseconds, while
llama.cpp's threads wait. Rows are random logits with a few dominant tokens, like a code model's.

    python benchmarks/token_sampler.py --rows 16 8 4 --repeats 200
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from cpu import cpu_description  # benchmarks/, beside this script
from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.llamacpp import _TokenSampler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[16, 8, 4])
    parser.add_argument("--vocab", type=int, default=151936)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    logits = (rng.standard_normal((max(args.rows), args.vocab)) * 3).astype(np.float32)
    logits[:, :5] += 25
    cpu = cpu_description()
    result = {"cpu": f"{cpu['model']} ({' '.join(cpu['simd'])})", "vocab": args.vocab, "ms_per_step": {}}
    for rows in args.rows:
        times = {}
        for mode, split_at in (("two_threads", _TokenSampler.SPLIT_ROWS), ("one_thread", rows + 1)):
            sampler = _TokenSampler(SamplingParams(temperature=0.8, top_p=0.95), rows, args.vocab)
            sampler.SPLIT_ROWS = split_at
            rngs = [np.random.default_rng(k) for k in range(rows)]
            sampler.sample(logits[:rows], rngs)  # warm up (and start the helper thread)
            started = time.perf_counter()
            for _ in range(args.repeats):
                sampler.sample(logits[:rows], rngs)
            times[mode] = round((time.perf_counter() - started) / args.repeats * 1000, 2)
        times["ratio"] = round(times["two_threads"] / times["one_thread"], 3)
        result["ms_per_step"][rows] = times
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
