"""The cascade's threshold chosen on one half of the tasks and judged on the other, with paired intervals.

    python benchmarks/cascade_threshold.py CASCADE_REPORT.json --greedy GREEDY_REPORT.json --cost COST.json
        [--mode replace|join] [--json out.json]

CASCADE_REPORT.json is the `--json` output of `rrr eval --cascade MODEL` (per task: the confidence of
the pick, whether the pick alone, joined and replaced passed); GREEDY_REPORT.json that of `rrr eval
--model MODEL -n 1 --temperature 0` on the same tasks; COST.json that of `benchmarks/cascade_cost.py`
(seconds per task of the cascade at each threshold and of MODEL alone with the same n, timed side by
side).

The rule: among the thresholds of the sweep, the one whose seconds spent on MODEL buy the most accuracy,
(accuracy − the small model's alone) / (seconds per task − the small model's alone); plain accuracy
per second would always pick no cascade at all. It is chosen on each half of
the tasks (problem number mod 2, `tasks.folds.fold_of`, so a problem's translations stay together) and
judged on the other: accuracy against the greedy pass@1 and against the small model's pick alone, as
paired 95% bootstrap intervals over tasks within each language. The full sweep over all tasks is
printed first.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def read(path: Path, what: str) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: cannot read {what} ({exc})") from None


def outcomes(rows: list[dict], greedy: dict[str, float], threshold: float, mode: str) -> dict[str, dict[str, list]]:
    """Per language, per task: the cascade's pick (escalated below `threshold`), the small model's
    pick alone and the greedy pass@1, as three aligned columns."""
    out: dict[str, dict[str, list]] = defaultdict(lambda: {"cascade": [], "alone": [], "greedy": []})
    for row in rows:
        escalate = row["confidence"] < threshold and mode in row
        column = out[row["group"]]
        column["cascade"].append(float(row[mode] if escalate else row["base"]))
        column["alone"].append(float(row["base"]))
        column["greedy"].append(greedy[row["task_id"]])
    return out


def average(columns: dict[str, dict[str, list]], key: str) -> float:
    return sum(sum(c[key]) / len(c[key]) for c in columns.values()) / len(columns)


def choose(rows: list[dict], greedy: dict[str, float], costs: dict[float, float], small: float, mode: str) -> float:
    """The rule of the module docstring, on these rows (`small`: the small model's seconds per task)."""
    alone = average(outcomes(rows, greedy, 0.0, mode), "alone")
    gains = [((average(outcomes(rows, greedy, t, mode), "cascade") - alone) / max(costs[t] - small, 1e-9), t)
             for t in sorted(costs)]
    return max(gains)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--greedy", type=Path, required=True)
    parser.add_argument("--cost", type=Path, required=True)
    parser.add_argument("--mode", choices=("replace", "join"), default="join")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from rrr_cli.atomic import atomic_write_text
    from rrr_cli.metrics import paired_bootstrap
    from rrr_cli.tasks.folds import fold_of

    cascade = read(args.report, "an rrr eval --cascade report").get("cascade") or {}
    greedy_report = read(args.greedy, "an rrr eval report")
    cost = read(args.cost, "a cascade_cost.py result")
    rows = cascade.get("tasks", [])
    greedy = {t["task_id"]: float(t["pass@1"]) for t in greedy_report.get("tasks", [])}
    missing = [r["task_id"] for r in rows if r["task_id"] not in greedy]
    if not rows or missing:
        raise SystemExit(f"{args.greedy}: no greedy outcome for {len(missing)} of the cascade's {len(rows)} "
                         f"tasks (e.g. {missing[:1]})")
    try:
        costs = {t["below"]: t["cascade"] for t in cost["thresholds"]}
        big_alone, small_alone = cost["thresholds"][0]["big"], cost["thresholds"][0]["small"]  # alike in every row
    except (KeyError, TypeError, IndexError) as exc:
        raise SystemExit(f"{args.cost}: not a cascade_cost.py result ({exc!r})") from None
    if set(costs) - {step["below"] for step in cascade.get("sweep", [])}:
        raise SystemExit(f"{args.cost}: timed for another cascade report than {args.report}")

    def judged(subset: list[dict], threshold: float) -> dict:
        columns = outcomes(subset, greedy, threshold, args.mode)
        by = {key: {g: c[key] for g, c in columns.items()} for key in ("cascade", "alone", "greedy")}
        return {"below": threshold, "tasks": len(subset),
                "escalated": sum(r["confidence"] < threshold and args.mode in r for r in subset) / len(subset),
                "accuracy": average(columns, "cascade"), "alone": average(columns, "alone"),
                "greedy": average(columns, "greedy"),
                "vs_greedy": paired_bootstrap(by["cascade"], by["greedy"]),
                "vs_alone": paired_bootstrap(by["cascade"], by["alone"]),
                "seconds_per_task": costs[threshold], "relative_to_big": costs[threshold] / big_alone}

    def line(r: dict) -> str:
        d, lo, hi = r["vs_greedy"]
        e, elo, ehi = r["vs_alone"]
        return (f"{r['below']:>6g}{r['tasks']:>6}{100 * r['escalated']:>10.1f}%{100 * r['accuracy']:>9.1f}"
                f"{100 * d:>+8.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]{100 * e:>+8.1f} [{100 * elo:+.1f}, {100 * ehi:+.1f}]"
                f"{r['seconds_per_task']:>8.1f}{r['relative_to_big']:>8.2f}")

    header = (f"{'below':>6}{'tasks':>6}{'escalated':>11}{'accuracy':>9}{'vs greedy [95%]':>24}"
              f"{'vs alone [95%]':>24}{'s/task':>8}{'x big':>8}")
    result = {"mode": args.mode, "cpu": cost.get("cpu"), "small_seconds_per_task": small_alone,
              "big_seconds_per_task": big_alone, "sweep": [judged(rows, t) for t in sorted(costs)], "halves": []}
    print(f"{cost.get('cpu')}; cascade to {cascade.get('model')} ({args.mode}), its picks by {cascade.get('scorer')}; "
          f"seconds per task: small model alone {small_alone:.1f}, {cascade.get('model')} alone with the same n "
          f"{big_alone:.1f}\nall tasks:\n{header}")
    for r in result["sweep"]:
        print(line(r))
    for chosen_on in (0, 1):
        pick = choose([r for r in rows if fold_of(r["task_id"], 2) == chosen_on], greedy, costs, small_alone,
                      args.mode)
        held = judged([r for r in rows if fold_of(r["task_id"], 2) != chosen_on], pick)
        result["halves"].append({"chosen_on_fold": chosen_on, **held})
        print(f"chosen on half {chosen_on}: below {pick:g}; judged on half {1 - chosen_on}:\n{header}\n{line(held)}")
    result["chosen_on_all"] = choose(rows, greedy, costs, small_alone, args.mode)
    print(f"chosen on all tasks: below {result['chosen_on_all']:g}")
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
