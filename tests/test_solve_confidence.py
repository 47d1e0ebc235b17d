"""`rrr solve` says how likely its pick is right, and with --min-confidence abstains below it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HARD = Path(__file__).parent / "fixtures" / "solve" / "collatz_checksum.py"


def _solve(tmp_path, *args, model=None):
    env = {**os.environ, "RRR_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "rrr_cli", "solve", *map(str, args)]
    if model:
        command += ["--model", str(model)]
    return subprocess.run(command, capture_output=True, env=env, timeout=900, cwd=ROOT)


def test_min_confidence_must_be_a_probability(tmp_path):
    result = _solve(tmp_path, HARD, "--min-confidence", "1.5")
    assert result.returncode == 2 and result.stdout == b""
    assert result.stderr.decode().strip().splitlines() == [
        "rrr: error: --min-confidence must be a probability in [0, 1], got 1.5"]


def test_the_shipped_model_gives_more_confidence_to_more_evidence():
    from rrr_cli.ranking.confidence import feature_row, shipped

    model = shipped()
    # Evidence rows: examples_passed, no_examples, builds, group_share, biggest_group, probe_failures.
    # Six of eight candidates pass all three examples and agree; or none passes any and they all differ.
    agreeing = [[1.0, 0.0, 1.0, 0.75, 1.0, 0.0]] * 6 + [[0.0, 0.0, 0.0, 0.125, 0.0, 0.5]] * 2
    scattered = [[0.0, 0.0, 0.0, 0.125, 0.0, 0.5]] * 8
    strong = model.probability(feature_row(agreeing, 0, -0.1, 3, "python"))
    weak = model.probability(feature_row(scattered, 0, -0.1, 3, "python"))
    assert 0.0 < weak < 0.5 < strong < 1.0
    assert model.about["tasks"] >= 100 and model.about["out_of_fold_ece"] < 0.2


def test_failing_one_example_costs_more_than_the_share_it_misses():
    from rrr_cli.ranking.confidence import FEATURES, feature_row, shipped

    model = shipped()
    all_five = [[1.0, 0.0, 1.0, 0.5, 1.0, 0.0]] * 4 + [[0.8, 0.0, 1.0, 0.5, 0.0, 0.0]] * 4
    four_of_five = [[0.8, 0.0, 1.0, 0.5, 1.0, 0.0]] * 4 + [[0.6, 0.0, 1.0, 0.5, 0.0, 0.0]] * 4
    column = FEATURES.index("passes_all_examples")
    assert feature_row(all_five, 0, -0.1, 5, "java")[column] == 1.0
    assert feature_row(four_of_five, 0, -0.1, 5, "java")[column] == 0.0
    assert feature_row([[0.0, 1.0, 1.0, 1.0, 1.0, 0.0]], 0, -0.1, 0, "java")[column] == 0.0  # no examples
    # The hidden tests contain the examples: a pick that fails one is rarely right.
    assert model.probability(feature_row(four_of_five, 0, -0.1, 5, "java")) < 0.2
    assert model.probability(feature_row(all_five, 0, -0.1, 5, "java")) > 0.5


@pytest.mark.model
@pytest.mark.slow
def test_solve_abstains_below_min_confidence_and_writes_nothing(tmp_path, model_cache):
    model = model_cache("smollm2-135m-instruct")  # far too small for this task
    task = tmp_path / "collatz_checksum.py"
    original = HARD.read_text()
    task.write_text(original)
    result = _solve(tmp_path, task, "--min-confidence", "0.9", "--write", "-n", "2", "--max-tokens", "96",
                    "--threads", "1", model=model)
    stderr = result.stderr.decode()
    assert result.returncode == 4, stderr
    assert result.stdout == b"" and task.read_text() == original and not task.with_suffix(".py.bak").exists()
    assert "likely correct: 0." in stderr and "below --min-confidence 0.9, so nothing was written" in stderr
    # --json says it too, with the probability, and exits the same way.
    result = _solve(tmp_path, task, "--min-confidence", "0.9", "--json", "-n", "2", "--max-tokens", "96",
                    "--threads", "1", model=model)
    out = json.loads(result.stdout)
    assert result.returncode == 4 and out["abstained"] and 0 <= out["confidence"] < 0.9
    assert "of 2 candidates agree" in out["confidence_basis"] or "shared by none" in out["confidence_basis"]


@pytest.mark.model
@pytest.mark.slow
def test_cascade_joins_a_second_models_candidates_when_unsure(tmp_path, model_cache):
    small, bigger = model_cache("smollm2-135m-instruct"), model_cache("qwen2.5-coder-0.5b-instruct")
    task = ROOT / "examples" / "is_palindrome.py"
    # --cascade-below 1 escalates whatever the confidence: the pool then holds both models' candidates.
    result = _solve(tmp_path, task, "--cascade", bigger, "--cascade-below", "1", "--json", "-n", "2",
                    "--max-tokens", "96", "--threads", "1", model=small)
    assert result.returncode == 0, result.stderr.decode()
    out = json.loads(result.stdout)
    assert out["escalated"] and sorted(c["sample_id"] for c in out["candidates"]) == [0, 1, 2, 3]
    models = {c["sample_id"]: c["model"] for c in out["candidates"]}
    assert models[0] == models[1] != models[2] == models[3] and out["model"] == models[out["sample_id"]]
    assert "sampling 2 more with" in result.stderr.decode()
