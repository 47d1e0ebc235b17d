"""Python candidates per second: bare `python3 prog.py` loop vs the sandbox, and the pool by workers.

The programs are HumanEval-Python's canonical solutions with their tests (the same programs for every
mode); the cache is off, so every program really runs. Ratios come from one run on one machine.
The bare loop and the one-at-a-time sandbox alternate program by program, so a change in the machine's
load during the run weighs on both alike (this machine is shared). The sandbox starts through rrr-jail;
the fallback chain it replaces where no C compiler exists (setpriv, bwrap, prlimit) is timed alongside.

    nice python benchmarks/sandbox_overhead.py --tasks 60 --workers 1 2
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rrr_cli.execution import Limits, assemble, run_program, run_programs, sandbox
from rrr_cli.execution.languages import get_language
from rrr_cli.tasks import load_tasks


def bare_once(python: str, folder: str, program: str) -> float:
    path = Path(folder) / "prog.py"
    start = time.monotonic()
    path.write_text(program)
    subprocess.run([python, str(path)], capture_output=True, timeout=30, cwd=folder)
    return time.monotonic() - start


def sandboxed_once(program: str, limits: Limits) -> float:
    start = time.monotonic()
    run_program("python", program, limits)
    return time.monotonic() - start


def fallback_once(program: str, limits: Limits) -> float:
    jail_sandboxes = sandbox._jail_sandboxes
    sandbox._jail_sandboxes = lambda: False
    try:
        return sandboxed_once(program, limits)
    finally:
        sandbox._jail_sandboxes = jail_sandboxes


def bare_vs_sandboxed(programs: list[str], limits: Limits) -> tuple[float, float, float]:
    """Total seconds for the bare loop, the sandbox and the fallback chain, alternating program by program."""
    python = get_language("python").argv(("python3",))[0]  # the same interpreter the sandbox runs
    base = serial = fallback = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for program in programs:
            base += bare_once(python, folder, program)
            serial += sandboxed_once(program, limits)
            fallback += fallback_once(program, limits)
    return base, serial, fallback


def pooled(programs: list[str], limits: Limits, workers: int) -> float:
    start = time.monotonic()
    run_programs([("python", p) for p in programs], limits, workers=workers, cache=False)
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    tasks = load_tasks(["humaneval-python"], limit=args.tasks)
    programs = [assemble(t, t.extra["canonical_solution"]) for t in tasks]
    limits = Limits(timeout_s=30.0)
    bare_vs_sandboxed(programs[:5], limits)  # warm the page cache
    n = len(programs)
    base, serial, fallback = bare_vs_sandboxed(programs, limits)
    print(f"programs: {n}")
    print(f"bare python3 loop:         {n / base:7.1f} candidates/s  ({1000 * base / n:6.1f} ms each)")
    print(f"sandbox, one at a time:    {n / serial:7.1f} candidates/s  ({1000 * serial / n:6.1f} ms each)"
          f"  cost ratio {serial / base:.2f}x bare")
    print(f"fallback chain (setpriv):  {n / fallback:7.1f} candidates/s  ({1000 * fallback / n:6.1f} ms each)"
          f"  cost ratio {fallback / base:.2f}x bare")
    for workers in args.workers:
        took = pooled(programs, limits, workers)
        print(f"sandbox + pool, {workers:2d} workers: {n / took:7.1f} candidates/s"
              f"  ({base / took:.2f}x bare loop throughput)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
