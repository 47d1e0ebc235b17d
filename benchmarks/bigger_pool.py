"""Scorers on a pool twice as big: two `rrr eval` runs that differ only in their seed, merged per task.

    python benchmarks/bigger_pool.py RUN_A RUN_B [--scorers public_examples,consensus] [--resamples 10000]
        [--json out.json]

RUN_A and RUN_B are eval run directories with the same model, temperature, top-p and n, and seeds at
least n apart (candidate j of a run is sampled with seed + j: `rrr eval ... --seed 8` beside the
default seed 0 for n = 8), so each task has 2n independent candidates. Per
task (the tasks both runs executed), each scorer ranks three pools: A's n, B's n and A+B's 2n
(B's samples renumbered after A's), and reranked@1 (ties at the top as a random pick among them) is
taken against the hidden tests' verdicts. A scorer whose score depends on the pool (consensus: the
size of a candidate's behaviour group) is run on each pool; the executions it needs come from the
caches both runs filled (`--scorers consensus` on both runs first, or they run here).

Printed, per language and on the average over languages: pass@1, the oracle and each scorer's
reranked@1 for n (per task, the mean of A's and B's: two draws of n) and for 2n; then paired 95%
bootstrap intervals over tasks (within languages) for each scorer against the first at n and at 2n,
and for each scorer's 2n against its own n.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

SAME = ("model", "backend", "n", "temperature", "top_p", "max_tokens", "prompt_style")


def load(run: Path):
    from rrr_cli.errors import RrrError
    from rrr_cli.evaluation.runs import executed_run

    try:
        return executed_run(run)
    except RrrError as exc:
        raise SystemExit(str(exc)) from None


def scorer_for(name: str, model: str):
    """A scorer as `rrr eval --scorers NAME` builds it (consensus reads the generator's cached probes)."""
    from rrr_cli.errors import RrrError
    from rrr_cli.ranking.consensus import ConsensusScorer
    from rrr_cli.ranking.probe_cache import GeneratedProbes
    from rrr_cli.ranking.registry import get_scorer

    try:
        scorer = get_scorer(name)
    except RrrError as exc:
        raise SystemExit(str(exc)) from None
    if isinstance(scorer, ConsensusScorer) and scorer.generator is None:
        def refuse():
            raise SystemExit(f"a task has no generated probes in the cache: run `rrr eval ... --scorers {name}` "
                             "on both runs first")
        scorer.generator = GeneratedProbes(model, open_backend=refuse)
    return scorer


def reranked(scorer, pools: list[tuple], passed: dict) -> list[float]:
    """reranked@1 of `scorer` on each (task, candidates) pool, in order."""
    from rrr_cli.metrics import reranked_at_1
    from rrr_cli.ranking.scorers import score_many

    out = []
    for start in range(0, len(pools), 8):
        chunk = pools[start:start + 8]
        for (task, candidates), scores in zip(chunk, score_many(scorer, chunk)):
            out.append(reranked_at_1(scores, [passed[(task.task_id, c.sample_id)] for c in candidates]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--scorers", default="public_examples,consensus",
                        help="comma-separated; the first is the one the others are paired with")
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from rrr_cli.atomic import atomic_write_text
    from rrr_cli.metrics import mean, oracle, paired_bootstrap

    a, b = load(args.run_a), load(args.run_b)
    differ = [k for k in SAME if a.settings.get(k) != b.settings.get(k)]
    if differ:
        raise SystemExit(f"the runs differ in {', '.join(differ)}: only the seed may differ")
    n = int(a.settings["n"])
    if abs(int(a.settings.get("seed", 0)) - int(b.settings.get("seed", 0))) < n:
        # candidate j of a run is sampled with seed + j: seeds closer than n share candidates
        raise SystemExit(f"the runs' seeds ({a.settings.get('seed')}, {b.settings.get('seed')}) are less than n = {n} "
                         "apart, so they share candidates: sample the second with --seed FIRST+N")
    b_tasks = {t.task_id for t in b.tasks}
    tasks = [t for t in a.tasks if t.task_id in b_tasks]
    if not tasks:
        raise SystemExit("the runs have no executed task in common")
    passed = {}
    pools = {"A": [], "B": [], "A+B": []}
    for task in tasks:
        mine = a.candidates[task.task_id]
        theirs = [replace(c, sample_id=c.sample_id + n) for c in b.candidates[task.task_id]]
        for c in mine:
            passed[(task.task_id, c.sample_id)] = a.passed[(task.task_id, c.sample_id)]
        for c, original in zip(theirs, b.candidates[task.task_id]):
            passed[(task.task_id, c.sample_id)] = b.passed[(task.task_id, original.sample_id)]
        pools["A"].append((task, mine))
        pools["B"].append((task, theirs))
        pools["A+B"].append((task, mine + theirs))

    names = [s for s in args.scorers.split(",") if s]
    values: dict[str, dict[str, list[float]]] = {}
    for name in names:
        scorer = scorer_for(name, str(a.settings["model"]))
        values[name] = {pool: reranked(scorer, groups, passed) for pool, groups in pools.items()}
        print(f"scored {name}", file=sys.stderr)
    base = {pool: [mean([passed[(t.task_id, c.sample_id)] for c in cs]) for t, cs in groups]
            for pool, groups in pools.items()}
    best = {pool: [oracle([passed[(t.task_id, c.sample_id)] for c in cs]) for t, cs in groups]
            for pool, groups in pools.items()}

    languages = list(dict.fromkeys(t.language for t in tasks))
    index = defaultdict(list)
    for i, task in enumerate(tasks):
        index[task.language].append(i)

    def by_language(column: list[float]) -> dict[str, list[float]]:
        return {lang: [column[i] for i in index[lang]] for lang in languages}

    def at_n(column: dict[str, list[float]]) -> dict[str, list[float]]:
        """Per language, per task: the mean of the A and B pools' values, the n-candidate figure."""
        return {lang: [(x + y) / 2 for x, y in zip(by_language(column["A"])[lang], by_language(column["B"])[lang])]
                for lang in languages}

    def avg(by: dict[str, list[float]]) -> float:
        return sum(sum(v) / len(v) for v in by.values()) / len(by)

    rows = {"pass@1": base, "oracle": best, **values}
    table = {}
    header = f"{'':<18}" + "".join(f"{lang:>8}" for lang in languages) + f"{'avg':>8}"
    print(f"{len(tasks)} tasks; n = {n} (mean of seeds {a.settings.get('seed')} and {b.settings.get('seed')}) "
          f"and 2n = {2 * n} (both merged); reranked@1 %\n{header}")
    for label, column in rows.items():
        sizes = ((n, at_n(column)),) if label == "pass@1" else ((n, at_n(column)), (2 * n, by_language(column["A+B"])))
        for size, figure in sizes:  # pass@1 does not depend on the pool's size
            line = {lang: 100 * sum(v) / len(v) for lang, v in figure.items()}
            table[f"{label} n={size}"] = {**line, "average": 100 * avg(figure)}
            print(f"{label + f' n={size}':<18}" + "".join(f"{line[lang]:>8.1f}" for lang in languages)
                  + f"{100 * avg(figure):>8.1f}")

    comparisons = {}

    def compare(label: str, x: dict[str, list[float]], y: dict[str, list[float]]) -> None:
        d, lo, hi = paired_bootstrap(x, y, resamples=args.resamples)
        comparisons[label] = [100 * d, 100 * lo, 100 * hi]
        print(f"{label:<44}{100 * d:>+7.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]")

    print("paired differences, points [95%]:")
    first = names[0]
    for name in names[1:]:
        compare(f"{name} - {first}, n={n}", at_n(values[name]), at_n(values[first]))
        compare(f"{name} - {first}, n={2 * n}", by_language(values[name]["A+B"]), by_language(values[first]["A+B"]))
    for label, column in [("oracle", best), *((name, values[name]) for name in names)]:
        compare(f"{label}: n={2 * n} - n={n}", by_language(column["A+B"]), at_n(column))
    if args.json:
        atomic_write_text(args.json, json.dumps({"tasks": len(tasks), "n": n, "runs": [str(args.run_a), str(args.run_b)],
                                                 "table": table, "comparisons": comparisons}, indent=1) + "\n")


if __name__ == "__main__":
    main()
