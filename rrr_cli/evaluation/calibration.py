"""How well rrr's confidence is calibrated on an eval run (`rrr eval --calibration`).

For each scorer and task, the pick is the candidate `rrr solve` would take with that scorer (the
first of the best), and its confidence is the probability `rrr solve` would print for it (the shipped
model of `ranking.confidence`, unless another is given), or with `folds`, that of the same recipe
fitted on the run's other folds. Against whether the pick passed the hidden tests, that gives the
expected calibration error over 10 equal-width bins and the reliability table. The shipped model was
fitted on the first 80 MultiPL-E tasks of each language: on those tasks its figures are in-sample,
and `--confidence-folds 5` gives out-of-fold ones.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.ranking.confidence import (ConfidenceModel, calibration_error, feature_row, fit, reliability,
                                          shipped)
from rrr_cli.ranking.evidence import Evidence
from rrr_cli.evaluation.runs import score_values
from rrr_cli.records import Candidate, Task, Verdict
from rrr_cli.tasks.folds import fold_of


def first_best(values: Sequence[float]) -> int:
    """The index `rank_scores` puts first: the highest score, the earliest of tied ones."""
    return min(range(len(values)), key=lambda i: (-values[i], i))


def summary(probabilities: Sequence[float], labels: Sequence[bool], bins: int = 10) -> dict[str, Any]:
    """ECE, accuracy, mean confidence and the non-empty reliability bins of these predictions."""
    return {
        "tasks": len(labels),
        "ece": calibration_error(probabilities, labels, bins),
        "accuracy": sum(labels) / max(len(labels), 1),
        "mean_confidence": sum(probabilities) / max(len(probabilities), 1),
        "bins": [{"low": b["low"], "high": b["high"], "confidence": b["confidence"], "accuracy": b["accuracy"],
                  "tasks": len(b["labels"])} for b in reliability(probabilities, labels, bins)],
    }


def pick_rows(tasks: Sequence[Task], candidates: dict[str, list[Candidate]], verdicts: dict[str, list[Verdict]],
              scores: dict[str, dict[str, list[dict[str, Any]]]], advance: Callable[[int], None] | None = None,
              batch: int = 8) -> dict[str, dict[str, tuple[list[float], bool]]]:
    """Per scorer (the score rows of `score_stage`), per task id: (the confidence model's inputs for its
    pick, whether the pick passed); the candidates' evidence is computed once per task for every scorer."""
    evidence = Evidence()
    picks: dict[str, dict[str, tuple[list[float], bool]]] = {name: {} for name in scores}
    for start in range(0, len(tasks), batch):
        groups = [(task, candidates[task.task_id]) for task in tasks[start:start + batch]]
        for (task, members), rows in zip(groups, evidence.rows(groups)):
            passed = [v.passed for v in verdicts[task.task_id]]
            for name, by_task in scores.items():
                pick = first_best(score_values(by_task[task.task_id]))
                total = evidence.consensus.examples.outcomes[(task.task_id, members[pick].sample_id)].total
                row = feature_row(rows, pick, members[pick].mean_logprob, total, task.language)
                picks[name][task.task_id] = (row, passed[pick])
        if advance:
            advance(len(groups))
    return picks


def pick_confidences(tasks: Sequence[Task], candidates: dict[str, list[Candidate]],
                     verdicts: dict[str, list[Verdict]], scores: dict[str, dict[str, list[dict[str, Any]]]],
                     model: ConfidenceModel | None = None, advance: Callable[[int], None] | None = None,
                     folds: int = 0, l2: float = 1.0) -> dict[str, dict[str, tuple[float, bool]]]:
    """Per scorer, per task id: (the confidence of its pick, whether the pick passed). The confidence is
    the shipped model's (or `model`'s); with `folds` >= 2, that of a model fitted as the shipped one was
    (`ranking.confidence.fit`, L2 `l2`) on this run's tasks of the other folds (by HumanEval problem
    number, `tasks.folds`), so no task is judged by a model that saw it."""
    rows = pick_rows(tasks, candidates, verdicts, scores, advance)
    if folds < 2:
        model = model or shipped()
        return {name: {task_id: (model.probability(row), passed) for task_id, (row, passed) in by_task.items()}
                for name, by_task in rows.items()}
    out: dict[str, dict[str, tuple[float, bool]]] = {name: {} for name in rows}
    for name, by_task in rows.items():
        for fold in range(folds):
            train = [value for task_id, value in by_task.items() if fold_of(task_id, folds) != fold]
            if not train:
                raise RrrError(f"no task outside fold {fold} of {folds} to fit the confidence on")
            fitted = fit([row for row, _ in train], [passed for _, passed in train], l2=l2)
            for task_id, (row, passed) in by_task.items():
                if fold_of(task_id, folds) == fold:
                    out[name][task_id] = (fitted.probability(row), passed)
    return out


def calibration(tasks: Sequence[Task], candidates: dict[str, list[Candidate]], verdicts: dict[str, list[Verdict]],
                scores: dict[str, dict[str, list[dict[str, Any]]]], model: ConfidenceModel | None = None,
                advance: Callable[[int], None] | None = None, folds: int = 0) -> dict[str, dict[str, Any]]:
    """Per scorer, the `summary` of its picks' confidences (`pick_confidences`)."""
    picks = pick_confidences(tasks, candidates, verdicts, scores, model, advance, folds=folds)
    return {name: summary([p for p, _ in by_task.values()], [y for _, y in by_task.values()])
            for name, by_task in picks.items()}


def plot_reliability(calibrations: dict[str, dict[str, Any]], path, title: str) -> None:
    """A reliability diagram: per scorer, mean confidence against accuracy in each bin (the tasks in
    each bin written beside its point), next to the diagonal of perfect calibration."""
    from rrr_cli.evaluation.report import pyplot, save_figure

    plt = pyplot("--reliability")
    figure, axis = plt.subplots(figsize=(4.5, 4.5))
    axis.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1, label="perfect calibration")
    for name, result in calibrations.items():
        bins = result["bins"]
        if len(calibrations) == 1:
            axis.bar([(b["low"] + b["high"]) / 2 for b in bins], [b["accuracy"] for b in bins], width=0.09,
                     alpha=0.6, label="accuracy in bin")
        line, = axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], marker="o", linewidth=1,
                          label=f"{name}: ECE {result['ece']:.3f}", color="black" if len(calibrations) == 1 else None)
        for b in bins:
            axis.annotate(str(b["tasks"]), (b["confidence"], b["accuracy"]), textcoords="offset points",
                          xytext=(0, 3), ha="center", fontsize=7, color=line.get_color())
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1.05)
    axis.set_xlabel("confidence")
    axis.set_ylabel("share of picks that pass the hidden tests")
    axis.set_title(title, fontsize=10)
    axis.legend(loc="upper left", fontsize=7)
    figure.tight_layout()
    save_figure(figure, path)


__all__ = ["calibration", "first_best", "pick_confidences", "pick_rows", "plot_reliability", "summary"]
