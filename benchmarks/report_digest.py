"""A digest of an `rrr eval --json` report without its seconds, to tell whether two runs gave the same results.

Every field whose name ends in `_s` or `_s_per_task`, and `timings`, `run_dir` and `seconds`, depend on
the clock or the machine, not on the results; the digest leaves them out. Two versions of rrr behave the
same on a run when their digests agree:

    rrr eval -b humaneval-python -b humaneval-cpp --limit 3 -n 4 --seed 0 --json > report.json
    python benchmarks/report_digest.py report.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

CLOCK_FIELDS = ("timings", "run_dir", "seconds")


def without_clock(value):
    if isinstance(value, dict):
        return {k: without_clock(v) for k, v in value.items()
                if not (k.endswith("_s") or k.endswith("_s_per_task") or k in CLOCK_FIELDS)}
    if isinstance(value, list):
        return [without_clock(v) for v in value]
    return value


def digest(report: dict) -> str:
    return hashlib.sha256(json.dumps(without_clock(report), sort_keys=True).encode()).hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="report JSON files (rrr eval --json)")
    args = parser.parse_args()
    for path in args.reports:
        try:
            report = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            sys.exit(f"report_digest.py: {path}: {exc}")
        print(f"{digest(report)}  {path}")


if __name__ == "__main__":
    main()
