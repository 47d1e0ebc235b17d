"""Which consensus variant to use, chosen on one fold of an eval run's tasks and reported on the other.

    python benchmarks/consensus_variants.py RUN_DIR [--choose-on 0|1] [--resamples 10000] [--json]

RUN_DIR is an `rrr eval` run (`runs/eval-*`) whose candidates are sampled and executed. Tasks split
in two folds by HumanEval problem number (`HumanEval/12`, `cpp/HumanEval_12_...`: fold 12 % 2), so a
problem sits in one fold in every language. Every variant scores the same candidates:

- `public_examples` (the baseline), `consensus-mbr` and `consensus-dual`, the latter two with the
  probes from the examples and their mutations only (`…/examples`) and with the generator's calls
  too (`…/generated`; these must be in the probe cache: `rrr eval --scorers consensus` or
  `benchmarks/probe_cost.py --generate-only` puts them there).

The variant with the best average reranked@1 on the choosing fold is picked, then every variant is
reported on the other fold with the paired bootstrap 95% interval of its difference from
`public_examples` (tasks resampled within each language), so the pick is not judged on the tasks it
was picked on.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

VARIANTS = [("consensus-mbr/examples", "mbr", False), ("consensus-dual/examples", "dual", False),
            ("consensus-mbr/generated", "mbr", True), ("consensus-dual/generated", "dual", True)]
BASELINE = "public_examples"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="an eval run directory")
    parser.add_argument("--choose-on", type=int, choices=(0, 1), default=0, help="the fold to choose on")
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from rrr_cli.errors import RrrError
    from rrr_cli.metrics import mean, paired_bootstrap, reranked_at_1
    from rrr_cli.evaluation.runs import executed_run
    from rrr_cli.ranking.consensus import ConsensusScorer
    from rrr_cli.ranking.probe_cache import GeneratedProbes
    from rrr_cli.ranking.scorers import PublicExamplesScorer, score_many
    from rrr_cli.tasks.folds import fold_of

    run = Path(args.run)
    try:
        executed = executed_run(run)
    except RrrError as exc:
        raise SystemExit(str(exc)) from None
    settings, tasks, candidates, passed = executed.settings, executed.tasks, executed.candidates, executed.passed
    generator = GeneratedProbes(str(settings["model"]))
    missing = [task.task_id for task in tasks if generator.cached(task) is None]
    if missing:
        raise SystemExit(f"{len(missing)} tasks have no generated probes in the cache (first: {missing[0]}); "
                         "run `python benchmarks/probe_cost.py --generate-only` first")
    scorers = {BASELINE: PublicExamplesScorer()}
    for name, variant, generated in VARIANTS:
        scorers[name] = ConsensusScorer(variant, generator=generator if generated else None, name=name)
    groups = [(task, candidates[task.task_id]) for task in tasks]
    values: dict[str, dict[str, float]] = {name: {} for name in scorers}
    for name, scorer in scorers.items():
        for start in range(0, len(groups), 8):
            chunk = groups[start:start + 8]
            for (task, members), scores in zip(chunk, score_many(scorer, chunk)):
                values[name][task.task_id] = reranked_at_1(list(scores), [passed[(task.task_id, c.sample_id)]
                                                                          for c in members])
        print(f"scored {name}", file=sys.stderr)

    def by_language(name: str, fold: int) -> dict[str, list[float]]:
        out: dict[str, list[float]] = defaultdict(list)
        for task in tasks:
            if fold_of(task.task_id, 2) == fold:
                out[task.language].append(values[name][task.task_id])
        return dict(out)

    def average(name: str, fold: int) -> float:
        return mean([mean(v) for v in by_language(name, fold).values()])

    choose, report = args.choose_on, 1 - args.choose_on
    chosen = max((name for name, _, _ in VARIANTS), key=lambda name: average(name, choose))
    result = {"run": str(run), "choose_on_fold": choose, "chosen": chosen,
              "tasks": {f"fold{f}": sum(len(v) for v in by_language(BASELINE, f).values()) for f in (0, 1)},
              "choosing_fold": {name: average(name, choose) for name in scorers}, "reported_fold": {}}
    for name in scorers:
        row = {"reranked@1": average(name, report),
               "per_language": {lang: mean(v) for lang, v in by_language(name, report).items()}}
        if name != BASELINE:
            diff, low, high = paired_bootstrap(by_language(name, report), by_language(BASELINE, report),
                                               resamples=args.resamples)
            row["vs_public_examples"] = {"difference": diff, "low": low, "high": high}
        result["reported_fold"][name] = row
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"fold sizes: {result['tasks']}; chosen on fold {choose}: {chosen}")
    print(f"{'scorer':<28}{'fold ' + str(choose):>9}{'fold ' + str(report):>9}   vs public_examples on fold {report}")
    for name in scorers:
        row = result["reported_fold"][name]
        versus = row.get("vs_public_examples")
        text = f"{versus['difference']:+.3f} [{versus['low']:+.3f}, {versus['high']:+.3f}]" if versus else ""
        mark = " *" if name == chosen else ""
        print(f"{name + mark:<28}{result['choosing_fold'][name]:>9.3f}{row['reranked@1']:>9.3f}   {text}")
    languages = list(result["reported_fold"][BASELINE]["per_language"])
    print(f"\nper language, fold {report}:")
    print(f"{'scorer':<28}" + "".join(f"{lang:>7}" for lang in languages))
    for name in scorers:
        per = result["reported_fold"][name]["per_language"]
        print(f"{name:<28}" + "".join(f"{per[lang]:>7.2f}" for lang in languages))


if __name__ == "__main__":
    main()
