"""The learned `evidence` scorer out of fold against the hand-made selectors, on the same candidates.

    python benchmarks/evidence_scorer.py RUN_DIR [--folds 5 | --fit-on-first K] [--l2 4]
        [--save rrr_cli/data/evidence_scorer.json] [--json]

RUN_DIR is an `rrr eval` run over MultiPL-E whose candidates are sampled, executed and scored (its
score logs give `public_examples`, `mean_logprob`, `random` and, when the run scored it, `consensus`).
Every candidate is read as `ranking.evidence_scorer.candidate_rows` reads it; tasks split into folds
by HumanEval problem number (a problem's translations in one fold), the logistic regression is fitted
on the candidates of the other folds and ranks each fold's, so every pick is out of fold. Printed: the
average reranked@1 over the languages per scorer, the paired bootstrap 95% interval of the learned
scorer's difference from each baseline (tasks resampled within each language), and the per-language
rows. `--fit-on-first K` replaces the folds: fitted on each language's first K tasks, reported on
the rest. `--save` writes the model fitted on every candidate.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

BASELINES = ("public_examples", "consensus", "mean_logprob", "random")


def _logged_scores(run: Path, model: str) -> tuple[dict[str, dict[tuple[str, int], float]], dict[str, str]]:
    """The run's score logs by baseline, under the names `rrr eval` gives them (`scorer_cache_name`;
    consensus with the generator's probes, as the eval scores it), and those names."""
    from rrr_cli.evaluation.runs import scorer_cache_name
    from rrr_cli.ranking.consensus import ConsensusScorer
    from rrr_cli.ranking.probe_cache import GeneratedProbes
    from rrr_cli.ranking.registry import get_scorer

    scorers = {name: get_scorer(name) for name in BASELINES if name != "consensus"}
    scorers["consensus"] = ConsensusScorer(generator=GeneratedProbes(model))
    scores, names = {}, {}
    for name, scorer in scorers.items():
        log = run / scorer_cache_name(scorer)
        if log.exists():
            names[name] = log.name
            scores[name] = {}
            for line in log.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                value = record["score"]
                scores[name][(record["task_id"], record["sample_id"])] = float("-inf") if value is None else value
    return scores, names


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--l2", type=float, default=4.0)
    parser.add_argument("--fit-on-first", type=int, metavar="K", help="instead of folds: fit on each "
                        "language's first K tasks, report on the others")
    parser.add_argument("--save", type=Path)
    parser.add_argument("--resamples", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from cpu import cpu_description
    from rrr_cli.errors import RrrError
    from rrr_cli.evaluation.runs import executed_run
    from rrr_cli.metrics import mean, paired_bootstrap, reranked_at_1
    from rrr_cli.ranking.confidence import fit
    from rrr_cli.ranking.evidence import Evidence
    from rrr_cli.ranking.evidence_scorer import candidate_rows
    from rrr_cli.tasks.folds import fold_of, positions_in_language

    try:
        executed = executed_run(args.run)
    except RrrError as exc:
        raise SystemExit(str(exc)) from None
    logged, log_names = _logged_scores(args.run, str(executed.settings["model"]))
    tasks = [t for t in executed.tasks
             if all((t.task_id, c.sample_id) in logged.get("public_examples", {}) for c in executed.candidates[t.task_id])]
    if not tasks:
        raise SystemExit(f"{args.run}: no task is scored by public_examples yet (run `rrr eval` to the end)")
    evidence = Evidence()
    rows: dict[str, list[list[float]]] = {}
    for start in range(0, len(tasks), 16):
        chunk = [(t, executed.candidates[t.task_id]) for t in tasks[start:start + 16]]
        for (task, _), task_rows in zip(chunk, candidate_rows(evidence, chunk)):
            rows[task.task_id] = task_rows
        print(f"evidence: {min(start + 16, len(tasks))}/{len(tasks)} tasks", file=sys.stderr)

    def labels(task) -> list[bool]:
        return [executed.passed[(task.task_id, c.sample_id)] for c in executed.candidates[task.task_id]]

    learned: dict[str, list[float]] = {}
    if args.fit_on_first:
        # Fit on each language's first K tasks, report on the rest (tasks never looked at while the
        # recipe was chosen).
        position = positions_in_language(tasks)
        train = [t for t in tasks if position[t.task_id] < args.fit_on_first]
        model = fit([r for t in train for r in rows[t.task_id]], [y for t in train for y in labels(t)], l2=args.l2)
        tasks = [t for t in tasks if position[t.task_id] >= args.fit_on_first]
        if not tasks:
            raise SystemExit(f"no task beyond the first {args.fit_on_first} of a language to report on")
        learned = {t.task_id: [model.probability(r) for r in rows[t.task_id]] for t in tasks}
    for fold in range(args.folds if not args.fit_on_first else 0):
        train = [t for t in tasks if fold_of(t.task_id, args.folds) != fold]
        model = fit([r for t in train for r in rows[t.task_id]], [y for t in train for y in labels(t)], l2=args.l2)
        for task in tasks:
            if fold_of(task.task_id, args.folds) == fold:
                learned[task.task_id] = [model.probability(r) for r in rows[task.task_id]]

    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for task in tasks:
        members, passed = executed.candidates[task.task_id], labels(task)
        values["evidence"][task.language].append(reranked_at_1(learned[task.task_id], passed))
        for name in BASELINES:
            if name in logged and all((task.task_id, c.sample_id) in logged[name] for c in members):
                scores = [logged[name][(task.task_id, c.sample_id)] for c in members]
                values[name][task.language].append(reranked_at_1(scores, passed))
        values["oracle"][task.language].append(float(any(passed)))
        values["pass@1"][task.language].append(sum(passed) / len(passed))

    def average(name: str) -> float:
        return mean([mean(v) for v in values[name].values()])

    complete = [n for n in values if sum(map(len, values[n].values())) == len(tasks)]
    result = {"run": str(args.run), "tasks": len(tasks), "folds": args.folds, "l2": args.l2, "cpu": cpu_description(),
              "logs": log_names, "average": {n: average(n) for n in complete},
              "per_language": {n: {lang: mean(v) for lang, v in values[n].items()} for n in complete},
              "versus": {}}
    for name in BASELINES:
        if name in complete:
            diff, low, high = paired_bootstrap(values["evidence"], values[name], resamples=args.resamples)
            wins = sum(mean(values["evidence"][lang]) > mean(values[name][lang]) for lang in values[name])
            result["versus"][name] = {"difference": diff, "low": low, "high": high, "languages_won": wins,
                                      "languages": len(values[name])}
    if args.save:
        tasks = [t for t in executed.tasks if t.task_id in rows]
        final = fit([r for t in tasks for r in rows[t.task_id]], [y for t in tasks for y in labels(t)], l2=args.l2,
                    about={"what": "evidence scorer", "tasks": len(tasks), "run": args.run.name, "l2": args.l2,
                           "out_of_fold": {n: round(v, 4) for n, v in result["average"].items()},
                           "command": "python benchmarks/evidence_scorer.py " + " ".join(sys.argv[1:])})
        final.save(args.save)
        result["saved"] = str(args.save)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    how = f"fitted on each language's first {args.fit_on_first}" if args.fit_on_first else f"{args.folds} folds by problem"
    print(f"{result['cpu']}\n{len(tasks)} tasks, {how}; reranked@1 averaged over languages:")
    for name in complete:
        versus = result["versus"].get(name)
        text = (f"   evidence - {name}: {versus['difference']:+.3f} [{versus['low']:+.3f}, {versus['high']:+.3f}], "
                f"ahead in {versus['languages_won']}/{versus['languages']} languages") if versus else ""
        print(f"  {name:<16}{result['average'][name]:.3f}{text}")
    languages = list(values["evidence"])
    print(f"{'':<18}" + "".join(f"{lang:>7}" for lang in languages))
    for name in complete:
        print(f"  {name:<16}" + "".join(f"{result['per_language'][name][lang]:>7.3f}" for lang in languages))


if __name__ == "__main__":
    main()
