"""How many verdicts of an eval run change under today's harness: per language, old status -> new status.

An eval run's `verdicts.jsonl` keeps every verdict it logged; one logged before the proof that the tests
finished carries no `harness` (or another one), and `rrr eval` runs such candidates again and logs the
new verdict beside the old. This script pairs the two by (task, sample, completion) and counts the
changes, listing each candidate that went from passed to failed with the reason. Run the same
`rrr eval` command once more first, so every candidate has a verdict under today's harness.

    rrr eval --benchmark multipl-e --limit 10 -n 8          # the old run, re-executed under the new harness
    python benchmarks/verdict_flips.py ~/.cache/rrr/runs/eval-<key> [--json flips.json]
"""

from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

from rrr_cli.errors import RrrError
from rrr_cli.evaluation.runs import JsonlLog
from rrr_cli.execution.cache import harness_key
from rrr_cli.records import Candidate, Verdict


def flips(run: Path, log_name: str = "verdicts.jsonl") -> dict:
    records = JsonlLog(run / log_name).load(Verdict)
    if not records:
        raise RrrError(f"{run / log_name}: no verdicts")
    samples = "greedy-samples.jsonl" if log_name.startswith("greedy") else "samples.jsonl"
    languages = {c["task_id"]: c["language"] for c in JsonlLog(run / samples).load(Candidate)}
    current = {lang: harness_key(lang) for lang in set(languages.values()) if _known(lang)}
    old, new = {}, {}
    for record in records:
        key = (record["task_id"], record["sample_id"], record.get("completion_sha"))
        language = languages[record["task_id"]]
        if record.get("harness") == current.get(language):
            new[key] = record
        else:
            old[key] = record
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    flipped = []
    for key, before in old.items():
        after = new.get(key)
        if after is None:
            continue
        language = languages[key[0]]
        counts[language][f"{before['status']} -> {after['status']}"] += 1
        if before["status"] == "passed" and after["status"] != "passed":
            flipped.append({"task_id": key[0], "sample_id": key[1], "status": after["status"],
                            "reason": after.get("reason"), "stderr_tail": after.get("stderr_tail", "")[-300:]})
    return {"run": str(run), "paired": sum(sum(c.values()) for c in counts.values()),
            "by_language": {lang: dict(c) for lang, c in sorted(counts.items())}, "passed_to_not": flipped}


def _known(language: str) -> bool:
    try:
        harness_key(language)
        return True
    except RrrError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="an eval run folder (runs/eval-<key>)")
    parser.add_argument("--log", default="verdicts.jsonl", help="the verdict log (greedy-verdicts.jsonl too)")
    parser.add_argument("--json", type=Path, help="also write the counts here")
    args = parser.parse_args()
    try:
        result = flips(args.run, args.log)
    except RrrError as exc:
        sys.exit(f"verdict_flips.py: {exc}")
    print(f"{result['paired']} candidates with a verdict under both harnesses ({result['run']})")
    for language, changes in result["by_language"].items():
        moved = {k: v for k, v in changes.items() if k.split(" -> ")[0] != k.split(" -> ")[1]}
        print(f"{language:8} {sum(changes.values()):5d} paired; changed: {moved or 'none'}")
    for flip in result["passed_to_not"]:
        print(f"  passed -> {flip['status']}: {flip['task_id']} #{flip['sample_id']} ({flip['reason']})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
