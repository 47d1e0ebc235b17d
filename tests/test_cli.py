"""The command line as a user meets it: help, version, bad input, and `rrr sample` / `rrr solve` on
real models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def rrr(*args, env=None, input=None, timeout=600):
    return subprocess.run([sys.executable, "-m", "rrr_cli", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, input=input, timeout=timeout, cwd=ROOT)


@pytest.fixture()
def home(tmp_path):
    return {"RRR_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}


def test_version_and_help():
    result = rrr("--version")
    assert result.returncode == 0 and result.stdout.startswith("rrr ")
    for command in ("sample", "solve"):
        helped = rrr(command, "--help")
        assert helped.returncode == 0 and "Examples" in helped.stdout, command


@pytest.mark.parametrize("args,message", [
    (["sample", "humaneval-cobol"], "no such file or benchmark"),
    (["sample", "mbpp", "-n", "0"], "n: must be between 1 and 1024"),
    (["sample", "mbpp", "--temperature", "-1"], "temperature: must be between 0 and 5"),
    (["sample", "mbpp", "--prompt-style", "poem"], "unknown prompt style"),
    (["sample", "mbpp", "--model", "no-such-model"], "no-such-model"),
    (["solve", "README.md"], "unknown task file extension"),
    (["solve", "examples/sum_of_squares.cpp", "--write"], "--write is supported for Python task files only"),
])
def test_bad_input_is_one_line_and_nonzero(args, message, home):
    result = rrr(*args, env=home)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_task_file_with_nothing_to_complete(tmp_path, home):
    path = tmp_path / "done.py"
    path.write_text("def f():\n    return 1\n")
    result = rrr("solve", str(path), env=home)
    assert result.returncode != 0 and "nothing to complete" in result.stderr
    assert path.read_text() == "def f():\n    return 1\n"


def test_corrupted_model_file_is_refused(tmp_path, home):
    fake = tmp_path / "broken.gguf"
    fake.write_bytes(b"not a model at all")
    result = rrr("sample", "humaneval-python", "--limit", "1", "--model", str(fake), env=home)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert str(fake) in result.stderr or "GGUF" in result.stderr


@pytest.mark.model
def test_sample_writes_seeded_candidates_with_logprobs(tmp_path, pulled_model, home):
    out = tmp_path / "out.jsonl"
    args = ["sample", "humaneval-python", "--limit", "2", "-n", "2", "--max-tokens", "24",
            "--model", str(pulled_model), "-o", str(out)]
    first = rrr(*args, env=home)
    assert first.returncode == 0, first.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 4
    assert [(r["task_id"], r["sample_id"], r["seed"]) for r in records] == [
        ("HumanEval/0", 0, 0), ("HumanEval/0", 1, 1), ("HumanEval/1", 0, 0), ("HumanEval/1", 1, 1)]
    for record in records:
        assert record["language"] == "python" and record["prompt_style"] == "chat"
        assert record["backend"] and record["model"]
        assert 0 < record["n_tokens"] <= 24
        assert record["logprob_sum"] <= 0
        assert record["mean_logprob"] == pytest.approx(record["logprob_sum"] / record["n_tokens"])
    again = rrr(*args[:-1], str(tmp_path / "again.jsonl"), env=home)
    assert again.returncode == 0, again.stderr
    repeated = [json.loads(line) for line in (tmp_path / "again.jsonl").read_text().splitlines()]
    assert [r["completion"] for r in repeated] == [r["completion"] for r in records]


@pytest.mark.model
@pytest.mark.slow
def test_solve_writes_a_correct_body(tmp_path, model_cache, home):
    model = model_cache("qwen2.5-coder-0.5b-instruct")
    task = tmp_path / "is_palindrome.py"
    task.write_text((ROOT / "examples" / "is_palindrome.py").read_text())
    result = rrr("solve", str(task), "--model", str(model), "--json", "--write", env=home)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["examples_passed"] == answer["examples_total"] == 3
    assert len(answer["candidates"]) == 8
    assert (tmp_path / "is_palindrome.py.bak").read_text() == \
        (ROOT / "examples" / "is_palindrome.py").read_text()
    doctest = subprocess.run([sys.executable, "-m", "doctest", str(task)], capture_output=True, text=True)
    assert doctest.returncode == 0, doctest.stdout
    assert answer["completion"] in task.read_text()
