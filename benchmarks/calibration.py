"""Calibration of `rrr solve`'s confidence, out of fold, on eval runs; fits the model rrr ships.

    python benchmarks/calibration.py RUN_DIR [RUN_DIR ...] [--selector public_examples] [--folds 5 | --fit-on-first K]
        [--l2 1] [--partitions 20] [--without INPUT] [--limit K] [--below P ...] [--plot reliability.png]
        [--save rrr_cli/data/confidence.json] [--json]

Each RUN_DIR is an `rrr eval` run over MultiPL-E whose candidates are sampled and executed. Per task,
the selector picks a candidate (its scores are recomputed; the sandbox's verdict cache keeps the
runs) and the pick's inputs are read as `rrr solve` reads them (`ranking.confidence.feature_row`: its
execution evidence over the examples and their mutations, and its mean token probability); the label
is whether it passed the hidden tests. Tasks split into folds by HumanEval problem number (every
language's translation of a problem in one fold): the model is fitted on the other folds and predicts
each fold, so every probability reported is out of fold (`--fit-on-first K` instead fits on each
language's first K tasks and reports on the rest). Printed: expected calibration error over 10
bins (next to what a perfectly calibrated model would show on as many tasks: with a few hundred,
that is not 0), the reliability table, and per language the accuracy next to the mean confidence. `--save`
writes the model fitted on all the tasks, with the out-of-fold figures in its `about`.

One split into folds is one draw: the translations of a problem share their outcome more often than
not (124 problems make up 640 tasks), so the ECE moves with which problems land together.
`--partitions K` repeats the out-of-fold fit over K random partitions of the problems into folds and
prints the spread of the ECE and of the log loss. `--without INPUT` fits without that input (to
measure what it adds, on the same partitions). `--limit K` keeps each language's first K tasks (as
`rrr eval --limit K` does); `--below P` prints the share of tasks whose out-of-fold confidence is
below P and how often those picks passed: what a cascade at that threshold would escalate.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", help="eval run directories")
    parser.add_argument("--selector", default="public_examples", help="the scorer whose pick is judged")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--l2", type=float, default=1.0)
    parser.add_argument("--fit-on-first", type=int, metavar="K", help="instead of folds: fit on each "
                        "language's first K tasks, report on the others")
    parser.add_argument("--partitions", type=int, default=0, metavar="K",
                        help="also repeat the folds over K random partitions of the problems")
    parser.add_argument("--without", action="append", default=[], metavar="INPUT",
                        help="fit without this input of the confidence model (repeatable)")
    parser.add_argument("--limit", type=int, metavar="K", help="only each language's first K tasks")
    parser.add_argument("--below", type=float, action="append", default=[], metavar="P",
                        help="print the share of tasks with out-of-fold confidence below P (repeatable)")
    parser.add_argument("--plot", type=Path, help="draw the reliability diagram to this PNG")
    parser.add_argument("--save", type=Path, help="write the model fitted on every task here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from cpu import cpu_description
    from rrr_cli.errors import RrrError
    from rrr_cli.evaluation.runs import executed_run
    from rrr_cli.ranking.confidence import FEATURES, calibration_error, feature_row, fit, reliability
    from rrr_cli.ranking.evidence import Evidence
    from rrr_cli.ranking.base import score_many
    from rrr_cli.ranking.registry import get_scorer
    from rrr_cli.tasks.folds import fold_of, positions_in_language, problem_number

    unknown = [name for name in args.without if name not in FEATURES]
    if unknown:
        raise SystemExit(f"--without: no input named {unknown[0]!r} (the inputs: {', '.join(FEATURES)})")
    features = [name for name in FEATURES if name not in args.without]

    rows, labels, tasks = [], [], []
    for run in args.runs:
        try:
            executed = executed_run(Path(run))
        except RrrError as exc:
            raise SystemExit(str(exc)) from None
        selector, evidence = get_scorer(args.selector), Evidence()
        kept = executed.tasks
        if args.limit is not None:
            index = positions_in_language(kept)
            kept = [task for task in kept if index[task.task_id] < args.limit]
        groups = [(task, executed.candidates[task.task_id]) for task in kept]
        for start in range(0, len(groups), 8):
            chunk = groups[start:start + 8]
            for (task, members), scores, task_rows in zip(chunk, score_many(selector, chunk), evidence.rows(chunk)):
                pick = max(range(len(members)), key=lambda i: scores[i])
                total = evidence.consensus.examples.outcomes[(task.task_id, members[pick].sample_id)].total
                rows.append(feature_row(task_rows, pick, members[pick].mean_logprob, total, task.language))
                labels.append(executed.passed[(task.task_id, members[pick].sample_id)])
                tasks.append(task)
            print(f"{run}: {min(start + 8, len(groups))}/{len(groups)} tasks", file=sys.stderr)

    if not rows:
        raise SystemExit(f"no executed task to judge (--limit {args.limit})")
    out_of_fold = [0.0] * len(rows)
    if args.fit_on_first:
        index = positions_in_language(tasks)
        position = [index[task.task_id] for task in tasks]
        model = fit([r for r, p in zip(rows, position) if p < args.fit_on_first],
                    [y for y, p in zip(labels, position) if p < args.fit_on_first], l2=args.l2, features=features)
        keep = [i for i, p in enumerate(position) if p >= args.fit_on_first]
        if not keep:
            raise SystemExit(f"no task beyond the first {args.fit_on_first} of a language to report on")
        all_rows, all_labels = rows, labels
        rows, labels, tasks = [rows[i] for i in keep], [labels[i] for i in keep], [tasks[i] for i in keep]
        out_of_fold = [model.probability(r) for r in rows]
    def folded(fold_of_task) -> list[float]:
        predicted = [0.0] * len(rows)
        for fold in range(args.folds):
            train = [i for i in range(len(rows)) if fold_of_task[i] != fold]
            model = fit([rows[i] for i in train], [labels[i] for i in train], l2=args.l2, features=features)
            for i in range(len(rows)):
                if fold_of_task[i] == fold:
                    predicted[i] = model.probability(rows[i])
        return predicted

    if not args.fit_on_first:
        out_of_fold = folded([fold_of(task.task_id, args.folds) for task in tasks])
    ece = calibration_error(out_of_fold, labels)
    # What a perfectly calibrated model with these probabilities would show on this many tasks: labels
    # drawn from the probabilities themselves (the ECE of a finite sample is never 0).
    draw = random.Random(0)
    floor = sorted(calibration_error(out_of_fold, [draw.random() < p for p in out_of_fold]) for _ in range(1000))
    bins = reliability(out_of_fold, labels)
    spread = None
    if args.partitions:
        problems = sorted({problem_number(task.task_id) or 0 for task in tasks})
        eces, losses = [], []
        for seed in range(args.partitions):
            shuffled = problems[:]
            random.Random(seed).shuffle(shuffled)
            fold_of_problem = {problem: index % args.folds for index, problem in enumerate(shuffled)}
            predicted = folded([fold_of_problem[problem_number(task.task_id) or 0] for task in tasks])
            eces.append(calibration_error(predicted, labels))
            losses.append(-sum(math.log(max(p if y else 1 - p, 1e-12)) for p, y in zip(predicted, labels)) / len(labels))
        spread = {"partitions": args.partitions, "problems": len(problems), "ece_mean": sum(eces) / len(eces),
                  "ece_min": min(eces), "ece_max": max(eces), "share_at_most_0.05": sum(e <= 0.05 for e in eces) / len(eces),
                  "log_loss_mean": sum(losses) / len(losses)}
    per_language: dict[str, list[int]] = defaultdict(list)
    for i, task in enumerate(tasks):
        per_language[task.language].append(i)
    result = {
        "runs": args.runs, "selector": args.selector, "tasks": len(tasks), "folds": args.folds, "cpu": cpu_description(),
        "inputs": features, "partitions": spread,
        "accuracy": sum(labels) / len(labels), "mean_confidence": sum(out_of_fold) / len(out_of_fold),
        "out_of_fold_ece": ece,
        "perfectly_calibrated_ece": {"mean": sum(floor) / len(floor), "p95": floor[949]},
        "bins": [{k: (len(v) if k == "labels" else v) for k, v in b.items()} for b in bins],
        "below": [{"threshold": p, "share": sum(q < p for q in out_of_fold) / len(out_of_fold),
                   "passed": sum(y for q, y in zip(out_of_fold, labels) if q < p)} for p in args.below],
        "per_language": {lang: {"tasks": len(ix), "accuracy": sum(labels[i] for i in ix) / len(ix),
                                "mean_confidence": sum(out_of_fold[i] for i in ix) / len(ix)}
                         for lang, ix in per_language.items()},
    }
    if args.save:
        if args.fit_on_first:
            rows, labels = all_rows, all_labels
        final = fit(rows, labels, l2=args.l2, features=features, about={
            "selector": args.selector, "tasks": len(tasks), "runs": [Path(r).name for r in args.runs],
            "out_of_fold_ece": round(ece, 4), "folds": args.folds, "fit_on_first": args.fit_on_first,
            "l2": args.l2,
            "command": "python benchmarks/calibration.py " + " ".join(sys.argv[1:])})
        final.save(args.save)
        result["saved"] = str(args.save)
    if args.plot:
        from rrr_cli.evaluation.calibration import plot_reliability, summary

        title = (f"rrr solve confidence on {len(tasks)} tasks it was not fitted on"
                 if args.fit_on_first else f"rrr solve confidence, out of fold: {len(tasks)} tasks")
        plot_reliability({args.selector: summary(out_of_fold, labels)}, args.plot, title)
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['cpu']}\n{len(tasks)} tasks, selector {args.selector}: accuracy {result['accuracy']:.3f}, "
          f"mean out-of-fold confidence {result['mean_confidence']:.3f}, ECE (10 bins) {ece:.3f}; a perfectly "
          f"calibrated model would show {result['perfectly_calibrated_ece']['mean']:.3f} on average "
          f"(95th percentile {result['perfectly_calibrated_ece']['p95']:.3f})")
    if spread:
        print(f"over {spread['partitions']} random partitions of the {spread['problems']} problems into {args.folds} "
              f"folds: ECE mean {spread['ece_mean']:.3f} (min {spread['ece_min']:.3f}, max {spread['ece_max']:.3f}; "
              f"≤ 0.05 in {spread['share_at_most_0.05']:.0%}), log loss {spread['log_loss_mean']:.3f}")
    print(f"{'bin':<12}{'tasks':>6}{'confidence':>12}{'accuracy':>10}")
    for b in result["bins"]:
        print(f"{b['low']:.1f}-{b['high']:.1f}".ljust(12) + f"{b['labels']:>6}{b['confidence']:>12.3f}{b['accuracy']:>10.3f}")
    for row in result["below"]:
        below = round(row["share"] * len(labels))
        print(f"confidence below {row['threshold']:g}: {below} tasks ({row['share']:.1%}), {row['passed']} of their picks passed")
    print(f"{'language':<12}{'tasks':>6}{'confidence':>12}{'accuracy':>10}")
    for lang, row in result["per_language"].items():
        print(f"{lang:<12}{row['tasks']:>6}{row['mean_confidence']:>12.3f}{row['accuracy']:>10.3f}")


if __name__ == "__main__":
    main()
