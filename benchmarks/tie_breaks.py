"""How each scorer breaks the examples' ties: the room an example-first selector has, and who uses it.

    python benchmarks/tie_breaks.py RUN_DIR [--json]

Reads an `rrr eval` run directory's logs (verdicts.jsonl, scores-public_examples-*.jsonl and every
other scores-*.jsonl). Per task, the top tier is the candidates that pass the most of the prompt's
examples. Where that tier holds both candidates that pass the hidden tests and candidates that fail
them, the pick depends on the tie-break alone. Over those tasks (and only the tasks every scorer's log
covers), this prints the expected number of right picks when each scorer breaks the tie (its own ties
counted as a random pick among them), next to a random pick and the number of such tasks, the most
any tie-break could get.

`--groups` also sorts those tasks by what the consensus scorer saw in that tier (its behaviour groups
recomputed from the probe and verdict caches, the generator's probes from the probe cache): the biggest
group all right, all wrong, holding both (the probes did not separate right from wrong), or several
groups of the biggest size (mean log-prob decides). Each kind is a different way to improve consensus.
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


KINDS = ("biggest group right", "biggest group wrong", "probes do not separate", "equal biggest groups")


def group_kinds(run: Path, tiers: dict[str, dict[int, bool]]) -> dict[str, dict[str, float]]:
    """The tasks of `tiers` (task -> its top tier's sample ids -> passed) by the kind of `KINDS`
    their consensus groups make within the tier, each with the chance that consensus picks right there."""
    from rrr_cli.errors import RrrError
    from rrr_cli.evaluation.runs import executed_run
    from rrr_cli.ranking.consensus import ConsensusScorer
    from rrr_cli.ranking.probe_cache import GeneratedProbes

    try:
        executed = executed_run(run)
    except RrrError as exc:
        raise SystemExit(str(exc)) from None
    generator = GeneratedProbes(str(executed.settings["model"]))
    groups = [(task, executed.candidates[task.task_id]) for task in executed.tasks if task.task_id in tiers]
    missing = [task.task_id for task, _ in groups if generator.cached(task) is None]
    if missing:
        raise SystemExit(f"{len(missing)} tasks have no generated probes in the cache (first: {missing[0]}); "
                         "run `rrr eval ... --scorers consensus` on this run first")
    scorer = ConsensusScorer(generator=generator)
    scores: dict[str, dict[int, float]] = {}
    for start in range(0, len(groups), 8):
        chunk = groups[start:start + 8]
        for (task, candidates), task_scores in zip(chunk, scorer.score_many(chunk)):
            scores[task.task_id] = {c.sample_id: score for c, score in zip(candidates, task_scores)}
    kinds: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}
    for task, _ in groups:
        right = tiers[task.task_id]
        in_tier = [[i for i in group.members if i in right] for group in scorer.results[task.task_id].groups]
        biggest = max(len(members) for members in in_tier)
        leading = [members for members in in_tier if len(members) == biggest]
        if len(leading) > 1:
            kind = KINDS[3]
        else:
            outcomes = {right[i] for i in leading[0]}
            kind = KINDS[2] if len(outcomes) == 2 else KINDS[0] if True in outcomes else KINDS[1]
        kinds[kind][task.task_id] = expected_right(list(right), right, scores[task.task_id].__getitem__)
    return kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--groups", action="store_true", help="also sort the tasks by their consensus groups")
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
    tiers: dict[str, dict[int, bool]] = {}
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
        tiers[task_id] = right
        totals["random"] += sum(right.values()) / len(tier)
        for name, log in scorers.items():
            # A score of null (the scorer had nothing to go on) ranks last, as in `rrr eval`.
            totals[name] += expected_right(tier, right, lambda i: _or_last(log[task_id, i]["score"]))
    result = {"run": str(args.run), "tasks": covered, "mixed_top_tier": mixed,
              "expected_right": {name: round(value, 2) for name, value in totals.items()}}
    if args.groups and tiers:
        result["groups"] = group_kinds(args.run, tiers)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{covered} tasks; on {mixed} the candidates passing the most examples include both right and wrong ones")
    for name, value in sorted(result["expected_right"].items(), key=lambda item: -item[1]):
        print(f"  {name:<60} {value:6.2f} right of {mixed}")
    if "groups" in result:
        print("consensus's groups within that tier:")
        for kind, tasks in result["groups"].items():
            print(f"  {kind:<40} {len(tasks):3d} tasks, consensus right on {sum(tasks.values()):6.2f}")


if __name__ == "__main__":
    main()
