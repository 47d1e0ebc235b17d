"""`rrr selftrain` end to end on a tiny model: artifacts, report, and SIGKILL + --resume giving the same
artifacts as an uninterrupted run, with no duplicated records."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rrr_cli.records import Candidate, Pair, ScoredCandidate, Verdict, read_records
from tiny_lm import digit_tasks, save_digit_model

TRAIN = ["one", "two", "three", "four", "five", "six"]
HELDOUT = ["seven", "eight", "nine"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("toy")
    train, heldout = digit_tasks(TRAIN), digit_tasks(HELDOUT)
    for name, tasks in (("train.jsonl", train), ("heldout.jsonl", heldout)):
        (root / name).write_text("".join(json.dumps(t) + "\n" for t in tasks))
    save_digit_model(root / "model", [t["prompt"] for t in train + heldout])
    return {"root": root, "train": root / "train.jsonl", "heldout": root / "heldout.jsonl", "model": root / "model"}


def args(toy, run_id: str) -> list[str]:
    return ["--run-id", run_id, "--tasks", str(toy["train"]), "--heldout", str(toy["heldout"]),
            "--generator", str(toy["model"]), "--prompt-style", "completion", "-n", "6", "--max-tokens", "4",
            "--temperature", "1.0", "--top-p", "1.0", "--iterations", "2", "--rm-epochs", "2", "--rm-batch-size", "4",
            "--ppo-steps", "2", "--ppo-batch-size", "4", "--ppo-mini-batch-size", "2", "--ppo-max-new-tokens", "4",
            "--ppo-learning-rate", "1e-2", "--device", "cpu"]


def env_for(home: Path) -> dict[str, str]:
    # One thread: float reductions then run in one order in every process, so reruns are bit-identical.
    return {**os.environ, "RRR_HOME": str(home), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "RRR_EXECUTION_ALLOW_UNSANDBOXED": "1", "TOKENIZERS_PARALLELISM": "false"}


def rrr(argv: list[str], home: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rrr_cli", "selftrain", *argv], env=env_for(home),
                          capture_output=True, text=True, timeout=timeout)


def records(path: Path, kind) -> list[dict]:
    out = []
    for record in read_records(path, kind):
        data = record.to_dict()
        data.pop("duration_s", None)  # wall-clock time, the only field that may differ between runs
        out.append(data)
    return out


def assert_same_run(a: Path, b: Path) -> None:
    for i in (1, 2):
        for name, kind in (("samples.jsonl", Candidate), ("verdicts.jsonl", Verdict), ("pairs.jsonl", Pair)):
            assert records(a / f"iter-{i}" / name, kind) == records(b / f"iter-{i}" / name, kind), (i, name)
        for name in ("scores.jsonl", "heldout-scores.jsonl"):
            if (a / f"iter-{i}" / name).exists() or i == 2:
                left = records(a / f"iter-{i}" / name, ScoredCandidate)
                right = records(b / f"iter-{i}" / name, ScoredCandidate)
                assert [{**r, "score": round(r["score"], 4)} for r in left] == \
                       [{**r, "score": round(r["score"], 4)} for r in right], (i, name)
        metrics_a = json.loads((a / f"iter-{i}" / "metrics.json").read_text())
        metrics_b = json.loads((b / f"iter-{i}" / "metrics.json").read_text())
        assert _close(metrics_a, metrics_b), i
        for leaf in ("reranker/head.safetensors", "policy/adapter_model.safetensors"):
            assert (a / f"iter-{i}" / leaf).read_bytes() == (b / f"iter-{i}" / leaf).read_bytes(), (i, leaf)


def _close(x, y) -> bool:
    if isinstance(x, dict):
        return x.keys() == y.keys() and all(_close(x[k], y[k]) for k in x)
    if isinstance(x, list):
        return len(x) == len(y) and all(_close(u, v) for u, v in zip(x, y))
    if isinstance(x, float):
        return abs(x - y) <= 1e-4 * max(1.0, abs(x))
    return x == y


def assert_no_duplicates(run: Path) -> None:
    for i in (1, 2):
        samples = records(run / f"iter-{i}" / "samples.jsonl", Candidate)
        assert len({(s["task_id"], s["sample_id"]) for s in samples}) == len(samples) == 6 * len(TRAIN)
        verdicts = records(run / f"iter-{i}" / "verdicts.jsonl", Verdict)
        assert len({(v["task_id"], v["sample_id"]) for v in verdicts}) == len(verdicts) == len(samples)
        pairs = records(run / f"iter-{i}" / "pairs.jsonl", Pair)
        assert len({(p["task_id"], p["chosen"], p["rejected"]) for p in pairs}) == len(pairs)
    assert not list(run.rglob(".*.tmp"))


@pytest.mark.slow
def test_sigkill_mid_iteration_then_resume_matches_uninterrupted_run(toy, tmp_path):
    whole_home, broken_home = tmp_path / "whole", tmp_path / "broken"
    done = rrr(args(toy, "r"), whole_home)
    assert done.returncode == 0, done.stderr[-3000:]
    whole = whole_home / "cache" / "runs" / "r"

    # The same run, killed with SIGKILL once iteration 2 has begun (its samples exist, later steps not).
    run = broken_home / "cache" / "runs" / "r"
    process = subprocess.Popen([sys.executable, "-m", "rrr_cli", "selftrain", *args(toy, "r")],
                               env=env_for(broken_home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not (run / "iter-2" / "samples.jsonl").exists():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "iter-2" / "metrics.json").exists()

    resumed = rrr(["--resume", "r"], broken_home)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "done earlier, kept" in resumed.stderr and "iter 1: finished earlier, kept" in resumed.stderr
    assert_same_run(whole, run)
    assert_no_duplicates(run)

    # The resumed run ends with its report: one row per iteration, and a PNG beside the run.
    assert "R@1" in resumed.stdout and (run / "report.png").read_bytes()[:4] == b"\x89PNG"
    metrics = [json.loads((run / f"iter-{i}" / "metrics.json").read_text()) for i in (1, 2)]
    assert all(m["eval"]["reranked_at_1"] is not None for m in metrics)
    assert metrics[0]["hard_negatives"] == 0  # no reranker before iteration 1 to mine with
    assert all(m["ppo"]["steps"] == 2 for m in metrics)
    pairs = records(run / "iter-2" / "pairs.jsonl", Pair)
    assert {p["iteration"] for p in pairs} <= {1, 2} and all(p["kind"] in ("standard", "hard_negative") for p in pairs)
    # Accumulated: every pair of iteration 1 is still there, unchanged.
    first = records(run / "iter-1" / "pairs.jsonl", Pair)
    assert [p for p in pairs if p["iteration"] == 1] == first
