"""What the proof that the tests finished costs per candidate: the sandbox with and without it, per language.

"Without" is each language's definition with `tests_done` removed, which is how every run was judged
before the proof existed (exit status alone); "with" is the definition as shipped. The programs are
real: HumanEval-Python's canonical solutions with their tests, and elsewhere MultiPL-E's `add` task with
a known-good body (`tests/early_exit.py`). The two alternate program by program in one process, so a
change in the machine's load weighs on both alike; the cache is off, so every program really runs.

    nice python benchmarks/harness_overhead.py --repeats 20
    nice python benchmarks/harness_overhead.py --languages python cpp --repeats 40 --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from early_exit import FORMS, good_completion, task_for  # noqa: E402  (the tests' own table of tasks)
from rrr_cli.execution import Limits, assemble, run_program, toolchain_missing  # noqa: E402
from rrr_cli.execution.languages import languages  # noqa: E402
from rrr_cli.tasks import load_tasks  # noqa: E402

from cpu import cpu_description  # noqa: E402  (benchmarks/cpu.py, beside this script)


def programs_for(language: str, python_tasks: int) -> list[str]:
    if language == "python":
        return [assemble(t, t.extra["canonical_solution"]) for t in load_tasks(["humaneval-python"], limit=python_tasks)]
    task = task_for(language)
    return [assemble(task, good_completion(language, task))]


def timed(language: str, program: str, limits: Limits) -> tuple[float, str]:
    start = time.monotonic()
    result = run_program(language, program, limits)
    return time.monotonic() - start, result.status


def measure(language: str, programs: list[str], repeats: int, limits: Limits) -> dict:
    registry = languages()
    shipped = registry[language]
    without = dataclasses.replace(shipped, tests_done=None)
    seconds = {"without": [], "with": []}
    statuses = set()
    for _ in range(repeats):
        for program in programs:
            # Alternate which goes first, so neither always runs on a warmer page cache.
            order = ("without", "with") if len(seconds["with"]) % 2 == 0 else ("with", "without")
            for arm in order:
                registry[language] = without if arm == "without" else shipped
                try:
                    took, status = timed(language, program, limits)
                finally:
                    registry[language] = shipped
                seconds[arm].append(took)
                statuses.add((arm, status))
    mean = {arm: statistics.fmean(values) for arm, values in seconds.items()}
    low, high = ratio_interval(seconds["with"], seconds["without"])
    return {"language": language, "runs_per_arm": len(seconds["with"]),
            "ms_without": 1000 * mean["without"], "ms_with": 1000 * mean["with"],
            "ratio": mean["with"] / mean["without"], "ratio_ci95": [low, high],
            "statuses": sorted(f"{a}: {s}" for a, s in statuses)}


def ratio_interval(with_: list[float], without: list[float], resamples: int = 5000, seed: int = 0) -> tuple[float, float]:
    """A 95% percentile interval of mean(with) / mean(without), resampling the pairs (run i of each arm
    ran back to back) with replacement."""
    rng = random.Random(seed)
    n = len(with_)
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(n) for _ in range(n)]
        ratios.append(sum(with_[i] for i in picks) / sum(without[i] for i in picks))
    ratios.sort()
    return ratios[int(0.025 * (resamples - 1))], ratios[int(0.975 * (resamples - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--languages", nargs="+", default=list(FORMS))
    parser.add_argument("--repeats", type=int, default=20, help="runs of each program per arm (python: per task)")
    parser.add_argument("--python-tasks", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    limits = Limits(timeout_s=30.0)
    rows = []
    cpu = cpu_description()
    print(f"CPU: {cpu['model']}, {cpu['cpus']} logical CPUs, {' '.join(cpu['simd'])}")
    print(f"{'language':10} {'runs':>5} {'without ms':>11} {'with ms':>9} {'ratio':>7} {'95% interval':>15}  statuses")
    for language in args.languages:
        if language not in languages() or toolchain_missing(language):
            print(f"{language:10} skipped: {toolchain_missing(language) if language in languages() else 'not installed'}")
            continue
        programs = programs_for(language, args.python_tasks)
        measure(language, programs[:1], 1, limits)  # warm the toolchain's files into the page cache
        repeats = max(1, args.repeats // len(programs)) if language == "python" else args.repeats
        row = measure(language, programs, repeats, limits)
        rows.append(row)
        print(f"{language:10} {row['runs_per_arm']:5d} {row['ms_without']:11.1f} {row['ms_with']:9.1f} "
              f"{row['ratio']:7.3f} [{row['ratio_ci95'][0]:.3f}, {row['ratio_ci95'][1]:.3f}]  {', '.join(row['statuses'])}")
    if args.json:
        args.json.write_text(json.dumps({"cpu": cpu, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
