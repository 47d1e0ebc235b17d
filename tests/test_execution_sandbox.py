"""The sandbox's launcher: rrr-jail (compiled from jail.c) and the setpriv + prlimit fallback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from rrr_cli.execution import Limits, run_program, run_programs
from rrr_cli.execution import sandbox
from rrr_cli.execution.sandbox import bwrap_problem

pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no sandbox: {bwrap_problem()}")

LIMITS = Limits(timeout_s=10.0, processes=48)

# Start `count` sleeping children; print how many started, then wait for them.
CHILDREN = ("import subprocess, sys\ncount = {count}\nstarted = []\nfor _ in range(count):\n"
            "    try:\n        started.append(subprocess.Popen(['/bin/sleep', '1']))\n"
            "    except OSError:\n        break\nprint(len(started))\nfor p in started:\n    p.wait()\n"
            "assert len(started) == count, len(started)\n")


def test_the_jail_is_built_and_used(tmp_path):
    assert sandbox._jail() is not None, "no C compiler? rrr-jail could not be built"
    assert sandbox._jail_sandboxes()
    command, _ = sandbox._command(["/bin/true"], tmp_path, LIMITS, sandboxed=True)
    assert command[0] == sandbox._jail() and "--userns" in command and "--nproc=48" in command


def test_jail_refuses_a_bad_option_in_one_line():
    done = subprocess.run([sandbox._jail(), "--nproc=lots", "--", "/bin/true"], capture_output=True, text=True)
    assert done.returncode == 127
    assert done.stderr.strip() == "rrr-jail: bad option --nproc=lots: Invalid argument"
    # A uid that is not a number must not become 0 (root) by accident.
    done = subprocess.run([sandbox._jail(), "--uid=nobody", "--", "/usr/bin/id", "-u"], capture_output=True, text=True)
    assert done.returncode == 127 and done.stdout == ""


def test_process_limit_holds():
    result = run_program("python", CHILDREN.format(count=100), LIMITS)
    assert result.status == "failed"
    assert 20 < int(result.stdout) < 48


def test_each_sandbox_counts_only_its_own_processes():
    # Two sandboxes at once with 40 children each: under one shared budget of 48 one would fail.
    results = run_programs([("python", CHILDREN.format(count=40))] * 2, LIMITS, workers=2, cache=False)
    assert [r.status for r in results] == ["passed", "passed"], [r.stderr[-300:] for r in results]


def test_fallback_without_a_compiler(monkeypatch, tmp_path):
    monkeypatch.setattr(sandbox, "_jail", lambda: None)
    monkeypatch.setattr(sandbox, "_jail_sandboxes", lambda: False)
    command, _ = sandbox._command(["/bin/true"], tmp_path, LIMITS, sandboxed=True)
    assert "--userns" not in command and any(part.endswith("bwrap") for part in command)
    assert run_program("python", "import os\nassert os.getuid() != 0\n", LIMITS).status == "passed"
    limited = run_program("python", CHILDREN.format(count=100), LIMITS)
    assert limited.status == "failed" and int(limited.stdout) < 48


def test_root_of_a_user_namespace_without_nobody_gets_one_line(tmp_path):
    """Inside `unshare -r` rrr is uid 0 but cannot chown to nobody (EINVAL): a clear line, no traceback."""
    if shutil.which("unshare") is None or subprocess.run(["unshare", "-r", "true"]).returncode != 0:
        pytest.skip("unprivileged user namespaces are not available here")
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text('{"task_id": "t", "language": "python", "prompt": "def f():\\n", "tests": ""}\n')
    candidates = '{"task_id": "t", "language": "python", "prompt": "def f():\\n", "completion": "  pass\\n", "sample_id": 0}\n'
    result = subprocess.run(["unshare", "-r", sys.executable, "-m", "rrr_cli", "exec", str(tasks), "-c", "-",
                             "--no-cache"], input=candidates, capture_output=True, text=True, timeout=120,
                            env={**os.environ, "RRR_HOME": str(tmp_path / "home")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot give the sandbox's work dir to nobody" in result.stderr
