"""`rrr eval --cascade MODEL`: the run's model first, a bigger one only where rrr is unsure.

For the cascade's scorer, each task's pick gets the confidence `rrr solve` would print
(`evaluation.calibration.pick_confidences`). Below the threshold the task is escalated: MODEL samples
as many candidates with the same settings, in its own eval run (cached and resumable like any other,
so a later, higher threshold samples only the tasks it adds), and the pick is made again two ways:
**join**, the scorer picks among both models' candidates (as `rrr solve --cascade` does), and
**replace**, among MODEL's alone. A pick counts as right when it passes the hidden tests; it is the
first of the best, as `rrr solve` takes it (reranked@1 in the main table averages over ties instead).

The report holds, per threshold up to the one given (a lower threshold escalates a subset of the same
tasks, so the sweep costs nothing more), averaged over the languages as the main table is: the share
of tasks escalated, the accuracy of the run's model alone and of the cascade both ways, and sampling
seconds per task alone and with the cascade; and MODEL's sampling seconds per escalated task, which
estimates what MODEL with the same n on every task would cost (its accuracy there is not measured).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from rrr_cli import metrics
from rrr_cli.evaluation.calibration import first_best
from rrr_cli.evaluation.runs import EvalResult, group_label, score_values
from rrr_cli.ranking import Scorer
from rrr_cli.ranking.scorers import score_many
from rrr_cli.records import Task

SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def escalated(tasks: Sequence[Task], confidences: dict[str, tuple[float, bool]], below: float) -> list[Task]:
    """The tasks whose pick's confidence is under `below`."""
    return [task for task in tasks if confidences[task.task_id][0] < below]


def cascade_rows(tasks: Sequence[Task], base: EvalResult, big: EvalResult, scorer: Scorer,
                 confidences: dict[str, tuple[float, bool]]) -> list[dict[str, Any]]:
    """Per task: its pick's confidence, whether the pick passed, its sampling seconds, and where MODEL
    sampled it, whether the join and replace picks passed and MODEL's sampling seconds."""
    n = base.report["settings"]["n"]
    both = [task for task in tasks if task.task_id in big.candidates]
    pools = {task.task_id: base.candidates[task.task_id]
             + [dataclasses.replace(c, sample_id=c.sample_id + n) for c in big.candidates[task.task_id]]
             for task in both}
    joined = dict(zip([t.task_id for t in both], score_many(scorer, [(t, pools[t.task_id]) for t in both])))
    rows = []
    for task in tasks:
        probability, passed = confidences[task.task_id]
        row: dict[str, Any] = {"task_id": task.task_id, "group": group_label(task), "confidence": probability,
                               "base": passed, "base_s": base.candidates[task.task_id][0].extra.get("task_sampling_s")}
        if task.task_id in joined:
            base_passed = [v.passed for v in base.verdicts[task.task_id]]
            big_passed = [v.passed for v in big.verdicts[task.task_id]]
            row["replace"] = big_passed[first_best(score_values(big.scores[scorer.name][task.task_id]))]
            row["join"] = (base_passed + big_passed)[first_best(joined[task.task_id])]
            row["big_s"] = big.candidates[task.task_id][0].extra.get("task_sampling_s")
        rows.append(row)
    return rows


def _summary(rows: list[dict[str, Any]], below: float) -> dict[str, Any]:
    """One threshold over some tasks: escalated share, accuracy alone / join / replace, seconds."""
    up = [r["confidence"] < below and "join" in r for r in rows]
    return {
        "tasks": len(rows),
        "escalated": metrics.mean([float(u) for u in up]),
        "accuracy": {
            "alone": metrics.mean([float(r["base"]) for r in rows]),
            "join": metrics.mean([float(r["join"] if u else r["base"]) for r, u in zip(rows, up)]),
            "replace": metrics.mean([float(r["replace"] if u else r["base"]) for r, u in zip(rows, up)]),
        },
        "seconds_per_task": {
            "alone": metrics.mean([r["base_s"] for r in rows]),
            "cascade": metrics.mean([(r["base_s"] or 0.0) + ((r.get("big_s") or 0.0) if u else 0.0)
                                     for r, u in zip(rows, up)]),
        },
    }


def _over_groups(rows: list[dict[str, Any]], below: float) -> dict[str, Any]:
    """`_summary` per language, and their average (the languages weigh the same, as in the main table)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    columns = {label: _summary(members, below) for label, members in groups.items()}
    parts = list(columns.values())
    average = {
        "tasks": sum(c["tasks"] for c in parts),
        "escalated": metrics.mean([c["escalated"] for c in parts]),
        "accuracy": {key: metrics.mean([c["accuracy"][key] for c in parts]) for key in ("alone", "join", "replace")},
        "seconds_per_task": {key: metrics.mean([c["seconds_per_task"][key] for c in parts])
                             for key in ("alone", "cascade")},
    }
    return {"below": below, "average": average, "columns": columns}


def cascade_report(rows: list[dict[str, Any]], model: str, scorer_name: str, below: float) -> dict[str, Any]:
    """The cascade section of an eval report (see the module docstring)."""
    thresholds = sorted({t for t in SWEEP if t <= below} | {below})
    sampled = [r for r in rows if "join" in r]
    return {
        "model": model, "scorer": scorer_name, "below": below,
        "sweep": [_over_groups(rows, t) for t in thresholds],
        "model_seconds_per_task": metrics.mean([r.get("big_s") for r in sampled]),
        "model_sampled_tasks": len(sampled),
        "tasks": rows,
    }


__all__ = ["SWEEP", "cascade_report", "cascade_rows", "escalated"]
