"""reranked@1 per scorer per language from an eval run, with paired bootstrap intervals.

    python benchmarks/scorer_comparison.py RUN_DIR_OR_REPORT.json [--against public_examples]
        [--resamples 10000] [--json]

Reads the report `rrr eval` writes (`runs/eval-*/report.json`; its `tasks` rows hold each task's
reranked@1 per scorer). Prints, per language and on the average over languages: pass@1, the oracle,
each scorer's reranked@1 and the share of the pass@1 → oracle gap it recovers, and, for every scorer
against `--against`, the difference with a paired 95% interval from resampling tasks (the same tasks
for both scorers, within each language). An interval that contains 0 is no evidence of a difference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="an eval run directory or its report.json")
    parser.add_argument("--against", default=None, help="the scorer every other is paired with "
                        "(default: public_examples if present, else the first)")
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()

    from rrr_cli.metrics import gap_recovered, mean, paired_bootstrap
    from rrr_cli.records import RecordError, read_json_file

    path = Path(args.run)
    try:
        report = read_json_file(path / "report.json" if path.is_dir() else path, "report")
    except RecordError as exc:
        raise SystemExit(str(exc)) from None
    if not isinstance(report, dict) or not isinstance(report.get("tasks"), list) or "scorers" not in report:
        raise SystemExit(f"{args.run}: not an `rrr eval` report (no per-task rows)")
    rows, scorers = report["tasks"], report["scorers"]
    against = args.against or ("public_examples" if "public_examples" in scorers else scorers[0])
    if against not in scorers:
        raise SystemExit(f"{against}: not a scorer of this run (it has: {', '.join(scorers)})")
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)

    def summary(selected: dict[str, list[dict]]) -> dict:
        pass1 = mean([mean([r["pass@1"] for r in g]) for g in selected.values()])
        oracle = mean([mean([r["oracle"] for r in g]) for g in selected.values()])
        out = {"tasks": sum(len(g) for g in selected.values()), "pass@1": pass1, "oracle": oracle, "scorers": {}}
        for name in scorers:
            value = mean([mean([r["reranked@1"][name] for r in g]) for g in selected.values()])
            entry = {"reranked@1": value, "gap_recovered": gap_recovered(value, pass1, oracle)}
            if name != against:
                diff, low, high = paired_bootstrap(
                    {k: [r["reranked@1"][name] for r in g] for k, g in selected.items()},
                    {k: [r["reranked@1"][against] for r in g] for k, g in selected.items()},
                    resamples=args.resamples)
                entry[f"minus_{against}"] = {"difference": diff, "ci95": [low, high]}
            out["scorers"][name] = entry
        return out

    result = {"against": against, "groups": {name: summary({name: g}) for name, g in groups.items()},
              "average": summary(groups)}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    header = ["group", "tasks", "pass@1", "oracle"] + [f"{s}" for s in scorers]
    print(" | ".join(header))
    for name, entry in [*result["groups"].items(), ("average", result["average"])]:
        cells = [name, str(entry["tasks"]), f"{entry['pass@1']:.3f}", f"{entry['oracle']:.3f}"]
        for scorer in scorers:
            value = entry["scorers"][scorer]
            cell = f"{value['reranked@1']:.3f}"
            paired = value.get(f"minus_{against}")
            if paired:
                low, high = paired["ci95"]
                cell += f" ({paired['difference']:+.3f} [{low:+.3f}, {high:+.3f}])"
            cells.append(cell)
        print(" | ".join(cells))
    print(f"(differences are against {against}, paired 95% bootstrap intervals over tasks)")


if __name__ == "__main__":
    main()
