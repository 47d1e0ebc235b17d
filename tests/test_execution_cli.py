"""`rrr exec` end to end, the verdict cache, and the refusal to run without a sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.execution import Limits, run_programs
from rrr_cli.execution import sandbox
from rrr_cli.tasks import load_tasks


def _candidates(path):
    tasks = [t for t in load_tasks(["humaneval-python"]) if t.task_id in ("HumanEval/53", "HumanEval/55")]
    bodies = ["    return x + y\n", "    return x +\n"] if tasks[0].task_id == "HumanEval/53" else []
    lines = []
    for task in tasks:
        for sample_id, body in enumerate(bodies if task.task_id == "HumanEval/53" else ["    return n\n"]):
            lines.append(json.dumps({"task_id": task.task_id, "language": "python", "prompt": task.prompt,
                                     "completion": body, "sample_id": sample_id}))
    path.write_text("\n".join(lines) + "\n")


def test_rrr_exec_pipe_writes_one_verdict_per_candidate_and_caches(tmp_path):
    candidates = tmp_path / "candidates.jsonl"
    _candidates(candidates)
    env = {**os.environ, "RRR_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "rrr_cli", "exec", "humaneval-python"]
    with candidates.open() as stdin:
        done = subprocess.run(command, stdin=stdin, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    verdicts = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(v["task_id"], v["sample_id"], v["status"]) for v in verdicts] == [
        ("HumanEval/53", 0, "passed"), ("HumanEval/53", 1, "compile_error"), ("HumanEval/55", 0, "failed")]
    cached = list((tmp_path / "home" / "cache" / "cache" / "verdicts").rglob("*.json"))
    assert len(cached) == 3
    out = tmp_path / "verdicts.jsonl"
    again = subprocess.run(command + ["-c", str(candidates), "-o", str(out)], capture_output=True, text=True,
                           env=env, timeout=120)
    assert again.returncode == 0 and [json.loads(l)["status"] for l in out.read_text().splitlines()] == \
        [v["status"] for v in verdicts]


def test_unknown_task_is_one_line_error(tmp_path):
    bad = tmp_path / "c.jsonl"
    bad.write_text(json.dumps({"task_id": "nope", "language": "python", "prompt": "", "completion": "",
                               "sample_id": 0}) + "\n")
    done = subprocess.run([sys.executable, "-m", "rrr_cli", "exec", "humaneval-python", "-c", str(bad)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "RRR_HOME": str(tmp_path / "home")})
    assert done.returncode != 0 and "no such task" in done.stderr and "Traceback" not in done.stderr


def test_refuses_without_bubblewrap_unless_allowed(monkeypatch, tmp_path):
    monkeypatch.setenv("RRR_HOME", str(tmp_path))
    monkeypatch.setattr(sandbox, "bwrap_problem", lambda: "bubblewrap (bwrap) is not installed")
    with pytest.raises(RrrError, match="refusing to run untrusted code"):
        run_programs([("python", "pass")], Limits(), cache=False)
    monkeypatch.setenv("RRR_EXECUTION_ALLOW_UNSANDBOXED", "1")
    result = run_programs([("python", "import os\nprint(os.getcwd())")], Limits(), cache=False)[0]
    assert result.status == "passed" and "rrr-run-" in result.stdout
