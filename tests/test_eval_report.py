"""The report on a small hand-made fixture of candidates and verdicts (tests/fixtures/eval)."""

from __future__ import annotations

import json

import pytest
from rich.console import Console

from eval_fixture import load_fixture_run
from rrr_cli.evaluation import report as render
from rrr_cli.evaluation.runs import EvalSettings, build_report
from rrr_cli.ranking.scorers import MeanLogprobScorer


@pytest.fixture
def fixture_report():
    tasks, candidates, verdicts = load_fixture_run()
    scorer = MeanLogprobScorer()
    scores = {"mean_logprob": {task.task_id: [{"score": s} for s in scorer.score(task, candidates[task.task_id])]
                               for task in tasks}}
    settings = EvalSettings(model="fixture", n=4, temperature=0.8, prompt_style="completion")
    return build_report(tasks, settings, verdicts, scores)


def test_report_numbers_match_hand_computation(fixture_report):
    python, cpp, average = (fixture_report["columns"]["python"], fixture_report["columns"]["cpp"],
                            fixture_report["average"])
    # fx/add: 1 of 4 passes, the top log-prob is the passing one; fx/none: nothing passes.
    assert python["pass@1"] == pytest.approx((0.25 + 0.0) / 2)
    assert python["pass@2"] == pytest.approx((0.5 + 0.0) / 2)  # 1 - C(3,2)/C(4,2) = 0.5
    assert python["oracle"] == pytest.approx(0.5)
    assert python["reranked@1"]["mean_logprob"] == pytest.approx(0.5)
    assert python["gap_recovered"]["mean_logprob"] == pytest.approx(1.0)
    # fx/len: 2 of 4 pass, all four tie: the expected value of a random pick.
    assert cpp["pass@1"] == pytest.approx(0.5)
    assert cpp["pass@2"] == pytest.approx(1 - 1 / 6)
    assert cpp["reranked@1"]["mean_logprob"] == pytest.approx(0.5)
    assert cpp["gap_recovered"]["mean_logprob"] == pytest.approx(0.0)
    # The average is over languages, as in the paper.
    assert average["pass@1"] == pytest.approx((0.125 + 0.5) / 2)
    assert average["oracle"] == pytest.approx(0.75)
    assert average["reranked@1"]["mean_logprob"] == pytest.approx(0.5)
    assert average["gap_recovered"]["mean_logprob"] == pytest.approx((0.5 - 0.3125) / (0.75 - 0.3125))
    # The curve runs from pass@1 (one candidate) to reranked@1 (all four).
    curve = average["curve"]["mean_logprob"]
    assert len(curve) == 4
    assert curve[0] == pytest.approx(average["pass@1"]) and curve[-1] == pytest.approx(0.5)


def test_table_is_shaped_like_the_paper(fixture_report):
    console = Console(width=200, record=True)
    console.print(render.rich_table(fixture_report))
    text = console.export_text()
    header = next(line for line in text.splitlines() if "Python" in line)
    assert header.index("Python") < header.index("C++") < header.index("Average")
    def cells(label: str) -> list[str]:
        row = next(line for line in text.splitlines() if label in line)
        return [cell.strip() for cell in row.split("│") if cell.strip()][1:]

    assert cells("reranked@1: mean_logprob") == ["50.0", "50.0", "50.0"]
    assert cells("oracle (pass@4)") == ["50.0", "100.0", "75.0"]


def test_markdown_and_json(fixture_report):
    text = render.markdown(fixture_report)
    lines = text.strip().splitlines()
    assert lines[0] == "|  | Python (2) | C++ (1) | Average |"
    assert "| pass@1 | 12.5 | 50.0 | 31.2 |" in lines
    assert "| gap recovered: mean_logprob | 100.0 | 0.0 | 42.9 |" in lines
    assert json.loads(json.dumps(fixture_report))["columns"]["cpp"]["tasks"] == 1


def test_plot_writes_a_png(fixture_report, tmp_path):
    pytest.importorskip("matplotlib")
    path = render.plot(fixture_report, tmp_path / "eval.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*"))  # no temporary left behind
