"""`rrr solve --scorer consensus` on a task file with no examples: the only probes are the calls the
model writes, asked once and kept in the cache; the pick is by behavioural agreement over them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NO_EXAMPLES = ROOT / "examples" / "second_largest.py"


def test_the_example_has_no_examples():
    from rrr_cli.ranking.probe_inputs import example_inputs
    from rrr_cli.tasks.taskfile import load_task_file

    assert example_inputs(load_task_file(NO_EXAMPLES)) == []


@pytest.mark.model
@pytest.mark.slow
def test_solve_ranks_a_task_without_examples_by_consensus_over_generated_probes(tmp_path, model_cache):
    model = model_cache("qwen2.5-coder-0.5b-instruct")
    env = {**os.environ, "RRR_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "rrr_cli", "solve", str(NO_EXAMPLES), "--model", str(model),
                             "--scorer", "consensus", "-n", "4", "--max-tokens", "160", "--threads", "1", "--json"],
                            capture_output=True, env=env, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()
    out = json.loads(result.stdout)
    assert out["scorer"] == "consensus"
    consensus = out["consensus"]
    assert consensus["probes"] and {probe["source"] for probe in consensus["probes"]} == {"generated"}
    groups = consensus["groups"]
    assert sorted(m for group in groups for m in group["members"]) == list(range(4))
    working = [group for group in groups if not group["broken"]]
    assert (consensus["split"] is not None) == (len(groups) > 1)
    # The pick comes from the biggest working group.
    if working:
        assert out["sample_id"] in max(working, key=lambda group: group["size"])["members"]
    # The model's calls are kept: one entry per request style for this task, under the cache.
    assert len(list((tmp_path / "home").rglob("probes/*/*.json"))) == 2
