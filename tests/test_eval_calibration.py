"""`rrr eval --calibration`: the confidence of each scorer's pick against whether it passed."""

from __future__ import annotations

import pytest

from rrr_cli.evaluation.calibration import calibration, first_best, summary
from rrr_cli.records import Candidate, Verdict


def test_the_pick_is_the_first_of_the_best_as_rank_puts_it():
    assert first_best([0.2, 0.9, 0.9, -1.0]) == 1
    assert first_best([float("-inf"), float("-inf")]) == 0


def test_summary_of_predictions():
    result = summary([0.9, 0.9, 0.1, 0.1], [True, False, False, False])
    assert result["tasks"] == 4 and result["accuracy"] == 0.25 and result["mean_confidence"] == pytest.approx(0.5)
    # Two bins: 0.9 said, half right (0.4 off); 0.1 said, none right (0.1 off); weighted equally.
    assert result["ece"] == pytest.approx(0.25)
    assert [(b["low"], b["tasks"]) for b in result["bins"]] == [(0.1, 2), (0.9, 2)]


def _task():
    from rrr_cli.tasks import load_tasks

    return load_tasks(["humaneval-python"], limit=1)[0]  # has_close_elements, with examples


def test_a_scorer_that_picks_the_right_candidate_is_more_confident(sandbox_home):
    task = _task()
    right = ("    for i, a in enumerate(numbers):\n        for j, b in enumerate(numbers):\n"
             "            if i != j and abs(a - b) < threshold:\n                return True\n    return False\n")
    wrong = "    return True\n"
    candidates = [Candidate(task_id=task.task_id, sample_id=i, prompt=task.prompt, completion=c, language="python",
                            mean_logprob=-0.2) for i, c in enumerate([right, wrong])]
    verdicts = [Verdict(task_id=task.task_id, sample_id=0, status="passed"),
                Verdict(task_id=task.task_id, sample_id=1, status="failed")]
    scores = {"likes_right": {task.task_id: [{"score": 1.0}, {"score": 0.0}]},
              "likes_wrong": {task.task_id: [{"score": None}, {"score": 0.0}]}}
    result = calibration([task], {task.task_id: candidates}, {task.task_id: verdicts}, scores)
    assert result["likes_right"]["accuracy"] == 1.0 and result["likes_wrong"]["accuracy"] == 0.0
    assert result["likes_right"]["mean_confidence"] > result["likes_wrong"]["mean_confidence"]
    # One task each: the error is how far the confidence is from the outcome.
    assert result["likes_right"]["ece"] == pytest.approx(1 - result["likes_right"]["mean_confidence"])
    assert result["likes_wrong"]["ece"] == pytest.approx(result["likes_wrong"]["mean_confidence"])


def test_the_cascade_escalates_below_each_threshold_and_counts_both_ways():
    from rrr_cli.evaluation.cascade import cascade_report

    def row(task, confidence, base, join=None, replace=None):
        out = {"task_id": task, "group": "python", "confidence": confidence, "base": base, "base_s": 2.0}
        if join is not None:
            out.update(join=join, replace=replace, big_s=6.0)
        return out

    rows = [row("a", 0.9, True), row("b", 0.45, False, join=True, replace=True),
            row("c", 0.25, False, join=True, replace=False), row("d", 0.1, True, join=True, replace=False)]
    report = cascade_report(rows, "big", "public_examples", 0.5)
    sweep = {point["below"]: point["average"] for point in report["sweep"]}
    assert list(sweep) == [0.2, 0.3, 0.4, 0.5]
    assert sweep[0.2]["escalated"] == 0.25 and sweep[0.2]["accuracy"]["join"] == 0.5  # only d: stays right
    assert sweep[0.2]["accuracy"]["replace"] == 0.25  # d's replacement fails
    assert sweep[0.5]["escalated"] == 0.75
    assert sweep[0.5]["accuracy"] == {"alone": 0.5, "join": 1.0, "replace": 0.5}
    assert sweep[0.5]["seconds_per_task"] == {"alone": 2.0, "cascade": 2.0 + 0.75 * 6.0}
    assert report["model_seconds_per_task"] == 6.0 and report["model_sampled_tasks"] == 3


def test_out_of_fold_confidence_never_fits_on_the_task_it_judges(monkeypatch):
    from rrr_cli.evaluation import calibration as module
    from rrr_cli.ranking.confidence import FEATURES

    row = [0.5] * len(FEATURES)
    rows = {"s": {"HumanEval/0": (row, True), "HumanEval/1": (row, False), "HumanEval/2": (row, True)}}
    monkeypatch.setattr(module, "pick_rows", lambda *args, **kwargs: rows)
    fitted = []
    real_fit = module.fit

    def recording_fit(x, y, l2):
        fitted.append(list(y))
        return real_fit(x, y, l2=l2)

    monkeypatch.setattr(module, "fit", recording_fit)
    out = module.pick_confidences([], {}, {}, {"s": {}}, folds=2)["s"]
    # Problems 0 and 2 are fold 0, judged by a model fitted on problem 1 alone; and the other way round.
    assert fitted == [[False], [True, True]]
    assert set(out) == {"HumanEval/0", "HumanEval/1", "HumanEval/2"}
    assert out["HumanEval/0"][0] < 0.5 < out["HumanEval/1"][0]  # each fold's model learnt the other's outcome
