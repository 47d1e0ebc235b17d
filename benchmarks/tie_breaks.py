"""How each scorer breaks the examples' ties: the room an example-first selector has, and who uses it.

    python benchmarks/tie_breaks.py RUN_DIR [--json]

Reads an `rrr eval` run directory's logs (verdicts.jsonl, scores-public_examples-*.jsonl and every
other scores-*.jsonl). Per task, the top tier is the candidates that pass the most of the prompt's
examples. Where that tier holds both candidates that pass the hidden tests and candidates that fail
them, the pick depends on the tie-break alone. Over those tasks (and only the tasks every scorer's log
covers), this prints the expected number of right picks when each scorer breaks the tie (its own ties
counted as a random pick among them), next to a random pick and the number of such tasks, the most
any tie-break could get.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path


def _log(path: Path, schema) -> dict[tuple[str, int], dict]:
    """A run log's records by (task, sample), read as `rrr eval` reads them (read only: an eval may be
    appending); a damaged log is one line."""
    from rrr_cli.errors import RrrError
    from rrr_cli.evaluation.runs import JsonlLog

    try:
        return {(r["task_id"], r["sample_id"]): r for r in JsonlLog(path).load(schema, repair=False)}
    except RrrError as exc:
        raise SystemExit(str(exc)) from None


def expected_right(tier: list[int], right: dict[int, bool], key) -> float:
    """The chance that the candidate of `tier` with the highest `key` (a random one among equals) is right."""
    best = max(key(i) for i in tier)
    winners = [i for i in tier if key(i) == best]
    return sum(right[i] for i in winners) / len(winners)


def _or_last(score: float | None) -> float:
    return float("-inf") if score is None else score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    examples_logs = sorted(args.run.glob("scores-public_examples*.jsonl"))
    if not examples_logs or not (args.run / "verdicts.jsonl").is_file():
        raise SystemExit(f"{args.run}: needs verdicts.jsonl and a scores-public_examples log (an `rrr eval` "
                         "run with --scorers public_examples)")
    from rrr_cli.evaluation.runs import SCORE_FIELDS
    from rrr_cli.records import Verdict

    examples = _log(examples_logs[-1], {**SCORE_FIELDS, "examples_passed": int})
    passed = {key: record["status"] == "passed" for key, record in _log(args.run / "verdicts.jsonl", Verdict).items()}
    scorers = {path.stem.removeprefix("scores-"): _log(path, SCORE_FIELDS)
               for path in sorted(args.run.glob("scores-*.jsonl")) if path != examples_logs[-1]}
    by_task: dict[str, list[int]] = defaultdict(list)
    for task_id, sample_id in examples:
        by_task[task_id].append(sample_id)

    totals = dict.fromkeys(["random", *scorers], 0.0)
    mixed = covered = 0
    for task_id, ids in by_task.items():
        if not all((task_id, i) in log for log in scorers.values() for i in ids):
            continue
        covered += 1
        most = max(examples[task_id, i]["examples_passed"] for i in ids)
        tier = [i for i in ids if examples[task_id, i]["examples_passed"] == most]
        right = {i: passed[task_id, i] for i in tier}
        if len(set(right.values())) < 2:
            continue
        mixed += 1
        totals["random"] += sum(right.values()) / len(tier)
        for name, log in scorers.items():
            # A score of null (the scorer had nothing to go on) ranks last, as in `rrr eval`.
            totals[name] += expected_right(tier, right, lambda i: _or_last(log[task_id, i]["score"]))
    result = {"run": str(args.run), "tasks": covered, "mixed_top_tier": mixed,
              "expected_right": {name: round(value, 2) for name, value in totals.items()}}
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{covered} tasks; on {mixed} the candidates passing the most examples include both right and wrong ones")
    for name, value in sorted(result["expected_right"].items(), key=lambda item: -item[1]):
        print(f"  {name:<60} {value:6.2f} right of {mixed}")


if __name__ == "__main__":
    main()
