"""`rrr solve` wall time and its stages, per scorer, as a user runs it (a new process each time).

Each round solves FILE once with every scorer given, in turn, with the same seed; the seed changes
from round to round (and from run to run: it starts from the clock), so every round samples new
candidates and the first scorer of a round finds nothing in the verdict cache or the kept pooled
states, as on a user's first solve of a new task. The scorers after it in a round read the examples'
verdicts the first one ran (the same candidates), so the order is rotated each round. One warm-up round is not counted.
Prints, per scorer, the median wall seconds and the median of each stage (`--json`'s
`stage_seconds`: model load, sampling, ranking — for a reranker its states and the execution evidence
— and confidence), with the CPU.

    python benchmarks/solve_time.py examples/is_palindrome.py --scorers weighted,reranker:NAME --rounds 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

from cpu import cpu_description  # benchmarks/, beside this script


def solve(path: str, scorer: str, seed: int, n: int) -> dict:
    command = ["rrr", "solve", path, "--json", "--seed", str(seed), "-n", str(n)]
    if scorer != "default":
        command += ["--scorer", scorer]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode not in (0, 4):  # 4: abstained (--min-confidence), still a solve
        sys.exit(f"{' '.join(command)} failed: {done.stderr.strip()}")
    result = json.loads(done.stdout)
    return {"wall": wall, "reranker": result.get("reranker"), **result["stage_seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--scorers", default="default", help="comma-separated --scorer values (default: rrr's default)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("-n", type=int, default=8)
    parser.add_argument("--seed", type=int, default=None, help="first round's seed (default: from the clock)")
    args = parser.parse_args(argv)
    scorers = args.scorers.split(",")
    runs: dict[str, list[dict]] = {s: [] for s in scorers}
    # Seeds no earlier run of this script used: their candidates, verdicts and states are in no cache.
    base = args.seed if args.seed is not None else int(time.time()) % 100_000 * 100
    for round_ in range(args.rounds + 1):
        for k in range(len(scorers)):
            scorer = scorers[(round_ + k) % len(scorers)]
            run = solve(args.file, scorer, seed=base + round_, n=args.n)
            if round_:  # round 0 warms up
                runs[scorer].append(run)
    cpu = cpu_description()
    out = {"cpu": f"{cpu['model']} ({' '.join(cpu['simd'])})", "file": args.file, "n": args.n, "rounds": args.rounds}
    for scorer, rows in runs.items():
        stages = sorted({k for row in rows for k in row if k not in ("wall", "reranker")})
        out[scorer] = {"wall_median": round(statistics.median(r["wall"] for r in rows), 2),
                       "wall_range": [round(min(r["wall"] for r in rows), 2), round(max(r["wall"] for r in rows), 2)],
                       "reranker": rows[0]["reranker"],
                       "stages_median": {k: round(statistics.median(r.get(k, 0.0) for r in rows), 2) for k in stages}}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
