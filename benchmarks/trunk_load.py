"""Loading the reward model's trunk: dequantising the GGUF file vs reading the kept float32 copy.

`rrr_cli.reranker.load_trunk` keeps a GGUF base's dequantised trunk under `cache/trunks/` the first
time and reads it back after. This times both, alternating (GGUF, kept, GGUF, kept, ...), each load
in a fresh process so nothing is shared in memory. The GGUF loads use a scratch cache, so they never
find the kept copy, and they write none: that is the time of a load as it was before the copy. A
first, untimed load makes sure the copy exists (the load that writes it takes longer still).

    python benchmarks/trunk_load.py [--model qwen2.5-coder-0.5b-instruct] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

LOAD = """
import sys, time
from rrr_cli import reranker
info = reranker.base_model_info(sys.argv[1])
keep = sys.argv[2:] != ["--no-keep"]  # --no-keep: time the dequantising alone, as before the copy
started = time.perf_counter()
reranker.load_trunk(info, keep=keep)
print(time.perf_counter() - started)
"""


def timed(model: str, home: str | None) -> float:
    env = dict(os.environ)
    if home is not None:
        # A scratch cache whose models/ is the real one: the GGUF is found, the kept trunk is not.
        env["RRR_HOME"] = home
    extra = ["--no-keep"] if home is not None else []
    out = subprocess.run([sys.executable, "-c", LOAD, model, *extra], env=env, check=True, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from cpu import cpu_description  # benchmarks/cpu.py, beside this script
    from rrr_cli import config

    real = config.cache_dir()
    timed(args.model, None)  # make sure the kept copy exists (the first load writes it)
    gguf, kept = [], []
    with tempfile.TemporaryDirectory() as scratch:
        os.makedirs(os.path.join(scratch, "cache"))
        os.symlink(real / "models", os.path.join(scratch, "cache", "models"))
        for _ in range(args.repeats):
            gguf.append(timed(args.model, scratch))
            kept.append(timed(args.model, None))
    cpu = cpu_description()
    print(json.dumps({"cpu": cpu["model"], "model": args.model, "load_avg": os.getloadavg()[0],
                      "gguf_s": [round(x, 1) for x in gguf], "kept_s": [round(x, 1) for x in kept],
                      "median_ratio": round(statistics.median(gguf) / statistics.median(kept), 2)}))


if __name__ == "__main__":
    main()
