"""Reward-model training under torchrun: two CPU processes (gloo) on a tiny random model train, write
one reranker, and agree with one process on the same data.

With a frozen trunk the two processes split the trunk pass and fit the same head; with LoRA each takes
half of every global batch and the gradients are summed, so two processes at batch 4 take the steps
one process takes at batch 8. Float rounding (other batch shapes in the trunk pass) is all that differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from reward_tiny import save_tiny_base  # noqa: E402

SCRIPT = Path(__file__).with_name("ddp_reward.py")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_tiny_base(tmp_path_factory.mktemp("tiny") / "base")


def _train(base: Path, home: Path, mode: str, batch: int, processes: int) -> dict:
    out = home / "result.pt"
    launcher = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes)]
    env = {**os.environ, "RRR_HOME": str(home), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(SCRIPT.parent), os.environ.get("PYTHONPATH", "")])}
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(name, None)
    done = subprocess.run([*launcher, str(SCRIPT), str(base), str(out), mode, str(batch)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=False)


@pytest.mark.slow
@pytest.mark.parametrize("mode, batch", [("head", 16), ("lora", 4)])
def test_two_processes_train_like_one(base, tmp_path, mode, batch):
    one = _train(base, tmp_path / "one", mode, batch * 2, processes=1)
    two = _train(base, tmp_path / "two", mode, batch, processes=2)
    assert one["world_size"] == 1 and two["world_size"] == 2
    # Every process ends with the same model.
    assert two["scores_by_rank"][0] == pytest.approx(two["scores_by_rank"][1], abs=1e-6)
    # And it is the model one process trains on the same global batches.
    assert two["scores"] == pytest.approx(one["scores"], abs=1e-3)
    for name, value in one["state"].items():
        assert torch.allclose(two["state"][name], value, atol=1e-3), name
    assert [e[0] for e in two["epochs"]] == pytest.approx([e[0] for e in one["epochs"]], abs=1e-3)
    assert [e[1:] for e in two["epochs"]] == [e[1:] for e in one["epochs"]]
    # It learned the toy preference (chosen first in each pair of scores).
    wins = sum(a > b for a, b in zip(two["scores"][0::2], two["scores"][1::2]))
    assert wins >= 0.8 * len(two["scores"]) / 2
    # Rank 0 alone wrote the reranker, whole, with the number of processes in its manifest.
    rerankers = [p.name for p in (tmp_path / "two" / "cache" / "rerankers").iterdir()]
    assert rerankers == ["ddp"], rerankers
    manifest = json.loads((tmp_path / "two" / "cache" / "rerankers" / "ddp" / "manifest.json").read_text())
    assert manifest["metrics"]["processes"] == 2
