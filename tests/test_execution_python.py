"""All 164 HumanEval canonical solutions pass in the sandbox; each with its body replaced by `pass` fails."""

from __future__ import annotations

import pytest

from rrr_cli.execution import Limits, assemble, run_programs
from rrr_cli.tasks import load_tasks


@pytest.mark.slow
def test_humaneval_canonical_solutions_pass_and_pass_bodies_fail():
    tasks = load_tasks(["humaneval-python"])
    assert len(tasks) == 164
    jobs = [("python", assemble(task, task.extra["canonical_solution"])) for task in tasks]
    jobs += [("python", assemble(task, "    pass\n")) for task in tasks]
    results = run_programs(jobs, Limits(timeout_s=20.0), cache=False)
    good, bad = results[:164], results[164:]
    not_passing = [(t.task_id, r.status, r.stderr[-300:]) for t, r in zip(tasks, good) if r.status != "passed"]
    assert not not_passing
    passing = [t.task_id for t, r in zip(tasks, bad) if r.status == "passed"]
    assert not passing
    assert {r.status for r in bad} <= {"failed", "runtime_error"}
