"""`rrr eval` from the command line: options, errors, and (with a real model) the whole pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rrr_cli.commands.eval import _languages, _sources
from rrr_cli.errors import RrrError


def _rrr(*args: str, home) -> subprocess.CompletedProcess:
    env = {**os.environ, "RRR_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "rrr_cli", "eval", *args], capture_output=True, text=True,
                          env=env, timeout=900)


def test_multipl_e_expands_per_language_so_limit_applies_to_each():
    assert _sources(["multipl-e"], None) == [f"humaneval-{l}" for l in
                                             ("python", "cpp", "java", "php", "ts", "cs", "sh", "js")]
    assert _sources(["multipl-e"], ["cpp", "sh"]) == ["humaneval-cpp", "humaneval-sh"]
    assert _sources(["mbpp", "humaneval-js"], None) == ["mbpp", "humaneval-js"]


def test_unknown_language_is_one_line():
    with pytest.raises(RrrError, match="unknown language 'rust'"):
        _languages("python,rust")


@pytest.mark.parametrize("args, message", [
    (["--benchmark", "humaneval-cobol"], "no such file or benchmark"),
    (["--languages", "rust"], "unknown language 'rust'"),
    (["--json", "--markdown"], "exclusive"),
    (["--scorers", "best"], "unknown scorer 'best'"),
    (["-n", "0"], "n: must be between 1 and 1024"),
])
def test_bad_options_fail_with_one_line(args, message, tmp_path):
    done = _rrr(*args, home=tmp_path)
    assert done.returncode != 0
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.model
def test_end_to_end_with_a_tiny_model(pulled_model, tmp_path):
    args = ["--benchmark", "humaneval-python", "--limit", "2", "-n", "2", "--max-tokens", "48",
            "--model", str(pulled_model), "--json"]
    first = _rrr(*args, home=tmp_path)
    assert first.returncode == 0, first.stderr
    report = json.loads(first.stdout)
    assert report["groups"] == ["python"] and report["columns"]["python"]["tasks"] == 2
    assert set(report["scorers"]) == {"random", "mean_logprob", "public_examples"}
    assert all(len(row["statuses"]) == 2 for row in report["tasks"])
    # The same command again reuses the run: same numbers, no sampling.
    again = _rrr(*args, home=tmp_path)
    assert json.loads(again.stdout)["columns"] == report["columns"]
    assert json.loads(again.stdout)["timings"]["sampling_s"] < 1.0


@pytest.mark.model
def test_a_cascade_samples_the_bigger_model_only_where_unsure(pulled_model, model_cache, tmp_path):
    """smollm2-135m first; the 0.5B model samples the tasks whose pick's confidence is below 0.95."""
    bigger = model_cache("qwen2.5-coder-0.5b-instruct")
    args = ["--benchmark", "humaneval-python", "--limit", "2", "-n", "2", "--max-tokens", "48", "--threads", "1",
            "--model", str(pulled_model), "--cascade", str(bigger), "--cascade-below", "0.95", "--json"]
    done = _rrr(*args, home=tmp_path)
    assert done.returncode == 0, done.stderr
    cascade = json.loads(done.stdout)["cascade"]
    assert cascade["model"] == str(bigger) and cascade["scorer"] == "public_examples"
    assert [point["below"] for point in cascade["sweep"]][-1] == 0.95
    up = [row for row in cascade["tasks"] if row["confidence"] < 0.95]
    assert cascade["model_sampled_tasks"] == len(up) and all("join" in row for row in up)
    assert all("join" not in row for row in cascade["tasks"] if row["confidence"] >= 0.95)
    top = cascade["sweep"][-1]["average"]
    assert top["escalated"] == len(up) / 2
    if up:
        assert top["seconds_per_task"]["cascade"] > top["seconds_per_task"]["alone"]


@pytest.mark.parametrize("args, message", [
    (["--cascade-below", "0.3"], "go with --cascade MODEL"),
    (["--cascade", "m", "--cascade-below", "2"], "must be a probability"),
    (["--confidence-folds", "1"], "must be 0 (the shipped model) or at least 2"),
    (["--reliability", "rel.txt"], "rel.txt: the plot is written as .png, .svg or .pdf"),
])
def test_bad_cascade_options_are_one_line(args, message, tmp_path):
    done = _rrr(*args, home=tmp_path)
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr
