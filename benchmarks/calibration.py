"""Calibration of `rrr solve`'s confidence, out of fold, on eval runs; fits the model rrr ships.

    python benchmarks/calibration.py RUN_DIR [RUN_DIR ...] [--selector public_examples] [--folds 5 | --fit-on-first K]
        [--l2 1] [--plot reliability.png] [--save rrr_cli/data/confidence.json] [--json]

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
"""

from __future__ import annotations

import argparse
import json
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
    parser.add_argument("--plot", type=Path, help="draw the reliability diagram to this PNG")
    parser.add_argument("--save", type=Path, help="write the model fitted on every task here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from cpu import cpu_description
    from rrr_cli.errors import RrrError
    from rrr_cli.evaluation.runs import executed_run
    from rrr_cli.ranking.confidence import calibration_error, feature_row, fit, reliability
    from rrr_cli.ranking.evidence import Evidence
    from rrr_cli.ranking.scorers import get_scorer, score_many
    from rrr_cli.tasks.folds import fold_of, positions_in_language

    rows, labels, tasks = [], [], []
    for run in args.runs:
        try:
            executed = executed_run(Path(run))
        except RrrError as exc:
            raise SystemExit(str(exc)) from None
        selector, evidence = get_scorer(args.selector), Evidence()
        groups = [(task, executed.candidates[task.task_id]) for task in executed.tasks]
        for start in range(0, len(groups), 8):
            chunk = groups[start:start + 8]
            for (task, members), scores, task_rows in zip(chunk, score_many(selector, chunk), evidence.rows(chunk)):
                pick = max(range(len(members)), key=lambda i: scores[i])
                total = evidence.consensus.examples.outcomes[(task.task_id, members[pick].sample_id)].total
                rows.append(feature_row(task_rows, pick, members[pick].mean_logprob, total, task.language))
                labels.append(executed.passed[(task.task_id, members[pick].sample_id)])
                tasks.append(task)
            print(f"{run}: {min(start + 8, len(groups))}/{len(groups)} tasks", file=sys.stderr)

    out_of_fold = [0.0] * len(rows)
    if args.fit_on_first:
        index = positions_in_language(tasks)
        position = [index[task.task_id] for task in tasks]
        model = fit([r for r, p in zip(rows, position) if p < args.fit_on_first],
                    [y for y, p in zip(labels, position) if p < args.fit_on_first], l2=args.l2)
        keep = [i for i, p in enumerate(position) if p >= args.fit_on_first]
        if not keep:
            raise SystemExit(f"no task beyond the first {args.fit_on_first} of a language to report on")
        all_rows, all_labels = rows, labels
        rows, labels, tasks = [rows[i] for i in keep], [labels[i] for i in keep], [tasks[i] for i in keep]
        out_of_fold = [model.probability(r) for r in rows]
    for fold in range(args.folds if not args.fit_on_first else 0):
        train = [i for i, task in enumerate(tasks) if fold_of(task.task_id, args.folds) != fold]
        model = fit([rows[i] for i in train], [labels[i] for i in train], l2=args.l2)
        for i, task in enumerate(tasks):
            if fold_of(task.task_id, args.folds) == fold:
                out_of_fold[i] = model.probability(rows[i])
    ece = calibration_error(out_of_fold, labels)
    # What a perfectly calibrated model with these probabilities would show on this many tasks: labels
    # drawn from the probabilities themselves (the ECE of a finite sample is never 0).
    import random

    draw = random.Random(0)
    floor = sorted(calibration_error(out_of_fold, [draw.random() < p for p in out_of_fold]) for _ in range(1000))
    bins = reliability(out_of_fold, labels)
    per_language: dict[str, list[int]] = defaultdict(list)
    for i, task in enumerate(tasks):
        per_language[task.language].append(i)
    result = {
        "runs": args.runs, "selector": args.selector, "tasks": len(tasks), "folds": args.folds, "cpu": cpu_description(),
        "accuracy": sum(labels) / len(labels), "mean_confidence": sum(out_of_fold) / len(out_of_fold),
        "out_of_fold_ece": ece,
        "perfectly_calibrated_ece": {"mean": sum(floor) / len(floor), "p95": floor[949]},
        "bins": [{k: (len(v) if k == "labels" else v) for k, v in b.items()} for b in bins],
        "per_language": {lang: {"tasks": len(ix), "accuracy": sum(labels[i] for i in ix) / len(ix),
                                "mean_confidence": sum(out_of_fold[i] for i in ix) / len(ix)}
                         for lang, ix in per_language.items()},
    }
    if args.save:
        if args.fit_on_first:
            rows, labels = all_rows, all_labels
        final = fit(rows, labels, l2=args.l2, about={
            "selector": args.selector, "tasks": len(tasks), "runs": [Path(r).name for r in args.runs],
            "out_of_fold_ece": round(ece, 4), "folds": args.folds, "fit_on_first": args.fit_on_first,
            "l2": args.l2,
            "command": "python benchmarks/calibration.py " + " ".join(sys.argv[1:])})
        final.save(args.save)
        result["saved"] = str(args.save)
    if args.plot:
        from rrr_cli.evaluation.calibration import plot_reliability, summary

        plot_reliability({args.selector: summary(out_of_fold, labels)}, args.plot,
                         f"rrr solve confidence, out of fold: {len(tasks)} tasks")
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"{result['cpu']}\n{len(tasks)} tasks, selector {args.selector}: accuracy {result['accuracy']:.3f}, "
          f"mean out-of-fold confidence {result['mean_confidence']:.3f}, ECE (10 bins) {ece:.3f}; a perfectly "
          f"calibrated model would show {result['perfectly_calibrated_ece']['mean']:.3f} on average "
          f"(95th percentile {result['perfectly_calibrated_ece']['p95']:.3f})")
    print(f"{'bin':<12}{'tasks':>6}{'confidence':>12}{'accuracy':>10}")
    for b in result["bins"]:
        print(f"{b['low']:.1f}-{b['high']:.1f}".ljust(12) + f"{b['labels']:>6}{b['confidence']:>12.3f}{b['accuracy']:>10.3f}")
    print(f"{'language':<12}{'tasks':>6}{'confidence':>12}{'accuracy':>10}")
    for lang, row in result["per_language"].items():
        print(f"{lang:<12}{row['tasks']:>6}{row['mean_confidence']:>12.3f}{row['accuracy']:>10.3f}")


if __name__ == "__main__":
    main()
