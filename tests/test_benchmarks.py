"""Every benchmark script parses its arguments and says how to run it: `--help` works for each, so a
script that no test runs cannot silently rot (a moved import, a renamed function)."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.name != "cpu.py")  # cpu.py is a module they import


def _help(script: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300,
                          cwd=BENCHMARKS.parent)


def test_every_benchmark_answers_help():
    assert len(SCRIPTS) >= 30
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(_help, SCRIPTS))
    broken = [(script.name, result.returncode, result.stderr[-500:]) for script, result in zip(SCRIPTS, done)
              if result.returncode != 0 or "usage:" not in result.stdout]
    assert not broken, broken
