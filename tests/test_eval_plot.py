"""`rrr eval --plot`: a scorer keeps its colour in both panels, and a reference run's greedy pass@1
(`--reference REPORT.json`) is drawn as a line on both."""

from __future__ import annotations

import json

import pytest

from eval_fixture import load_fixture_run
from rrr_cli.errors import RrrError
from rrr_cli.evaluation import report as render
from rrr_cli.evaluation.runs import EvalSettings, build_report
from rrr_cli.ranking.scorers import MeanLogprobScorer, RandomScorer


def _report(n: int, temperature: float, model: str, scorers) -> dict:
    tasks, candidates, verdicts = load_fixture_run()
    candidates = {task_id: found[:n] for task_id, found in candidates.items()}
    verdicts = {task_id: found[:n] for task_id, found in verdicts.items()}
    scores = {scorer.name: {task.task_id: [{"score": s} for s in scorer.score(task, candidates[task.task_id])]
                            for task in tasks} for scorer in scorers}
    settings = EvalSettings(model=model, n=n, temperature=temperature, prompt_style="completion")
    return build_report(tasks, settings, verdicts, scores)


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """Draw a report (with a reference) and hand back the figure instead of closing it."""
    plt = pytest.importorskip("matplotlib.pyplot")
    figures = []
    monkeypatch.setattr(plt, "close", figures.append)

    def draw(report, reference=None):
        render.plot(report, tmp_path / "eval.png", reference=reference)
        return figures[-1]

    return draw


def _bar_colours(axes) -> dict[str, tuple]:
    return {container.get_label(): tuple(container.patches[0].get_facecolor()) for container in axes.containers}


def _line_colours(axes) -> dict[str, tuple]:
    from matplotlib.colors import to_rgba

    return {line.get_label(): to_rgba(line.get_color()) for line in axes.get_lines()}


def test_each_scorer_has_one_colour_in_both_panels(drawn):
    report = _report(4, 0.8, "small", [RandomScorer(seed=0), MeanLogprobScorer()])
    bars, curve = drawn(report).axes
    left, right = _bar_colours(bars), _line_colours(curve)
    for name in ("random", "mean_logprob", "pass@1"):
        assert left[name][:3] == right[name][:3], name
    assert len({left[name] for name in left}) == len(left)  # and the series differ from each other


def test_a_reference_is_a_line_on_both_panels(drawn, tmp_path):
    reference_path = tmp_path / "report.json"
    reference_path.write_text(json.dumps(_report(1, 0.0, "qwen2.5-coder-1.5b-instruct", [])))
    reference = render.load_reference(reference_path)
    report = _report(4, 0.8, "small", [MeanLogprobScorer()])
    bars, curve = drawn(report, reference).axes
    label = "qwen2.5-coder-1.5b-instruct, greedy pass@1"
    lines = [c for c in bars.collections if c.get_label() == label]
    assert len(lines) == 1 and len(lines[0].get_segments()) == len(report["groups"]) + 1  # each group + Average
    average = [line for line in curve.get_lines() if line.get_label() == label]
    assert len(average) == 1
    assert average[0].get_ydata()[0] == pytest.approx(
        100 * sum(reference["columns"][g]["pass@1"] for g in report["groups"]) / len(report["groups"]))
    assert lines[0].get_segments()[-1][0][1] == pytest.approx(average[0].get_ydata()[0])


def test_a_sampled_report_is_no_reference(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps(_report(4, 0.8, "small", [])))
    with pytest.raises(RrrError, match="no greedy pass@1"):
        render.load_reference(path)
    (tmp_path / "junk.json").write_text("[1, 2]")
    with pytest.raises(RrrError, match="not a report.json"):
        render.load_reference(tmp_path / "junk.json")
    with pytest.raises(RrrError, match="no such file"):
        render.load_reference(tmp_path / "absent.json")
