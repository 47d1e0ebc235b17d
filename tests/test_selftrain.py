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
            "--temperature", "1.0", "--top-p", "1.0", "--iterations", "2", "--folds", "0", "--train-per-language", "0",
            "--heldout-per-language", "0", "--heldout-policy-n", "3",
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


@pytest.fixture(scope="module")
def whole(toy, tmp_path_factory) -> Path:
    """The run with id r, uninterrupted: what every interrupted and resumed run must equal."""
    home = tmp_path_factory.mktemp("whole")
    done = rrr(args(toy, "r"), home)
    assert done.returncode == 0, done.stderr[-3000:]
    return home / "cache" / "runs" / "r"


def killed_run(toy, home: Path) -> Path:
    """The run r, killed with SIGKILL once iteration 2 has begun (its samples exist, later steps not)."""
    run = home / "cache" / "runs" / "r"
    process = subprocess.Popen([sys.executable, "-m", "rrr_cli", "selftrain", *args(toy, "r")],
                               env=env_for(home), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not (run / "iter-2" / "samples.jsonl").exists():
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (run / "iter-2" / "metrics.json").exists()
    return run


@pytest.mark.slow
def test_sigkill_mid_iteration_then_resume_matches_uninterrupted_run(toy, whole, tmp_path):
    broken_home = tmp_path / "broken"
    run = killed_run(toy, broken_home)

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

    # The base generator's held-out candidates are the eval run's of the same settings (`rrr eval` reads them).
    (eval_run,) = (broken_home / "cache" / "runs").glob("eval-*")
    logged = records(eval_run / "samples.jsonl", Candidate)
    assert [{k: v for k, v in c.items() if k != "task_sampling_s"} for c in logged] == \
           records(run / "heldout" / "samples.jsonl", Candidate)

    # --report --json carries every figure of the report.
    shown = rrr(["--report", "r", "--json"], broken_home)
    assert shown.returncode == 0, shown.stderr[-3000:]
    report = json.loads(shown.stdout)
    first, second = report["iterations"]
    assert first["versus_previous"] is None and second["versus_previous"]["tasks"] == len(HELDOUT)
    for row in (first, second):
        low, high = row["versus_fallback"]["ci95"]
        assert low <= row["versus_fallback"]["difference"] <= high
        assert row["reranked_at_1"] is not None and row["fallback_reranked_at_1"] is not None
        policy = row["policy_eval"]
        assert policy["candidates_per_task"] == 3 and set(policy) >= {"policy", "base", "pass_at_1_difference",
                                                                      "oracle_difference", "reranked_at_1_difference"}
        assert 0 <= row["hard_negatives_past_execution"] <= row["hard_negatives_found"]
        # (A stage killed after writing its artifact but before its time was noted has no seconds.)
        assert {"train reranker", "PPO", "policy: sample held-out"} <= set(row["stage_seconds"])
    assert {"sample", "execute", "evidence", "mine pairs", "evaluate"} <= set(first["stage_seconds"])
    assert first["hard_negatives_found"] == 0 and second["sampled_by"] == "ppo-iter1"
    assert second["pairs_by_kind"]["hard_negative"] == second["hard_negatives"]
    assert "held-out · sample" in report["setup_seconds"]


@pytest.mark.slow
def test_two_resumes_of_one_run_one_refused_in_one_line_the_other_as_a_single_run(toy, whole, tmp_path):
    home = tmp_path / "home"
    run = killed_run(toy, home)
    both = [subprocess.Popen([sys.executable, "-m", "rrr_cli", "selftrain", "--resume", "r"], env=env_for(home),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=600), *p.communicate()) for p in both]
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 2], [(code, err[-2000:]) for code, _, err in results]
    (_, _, refused), = [r for r in results if r[0] == 2]
    errors = [line for line in refused.splitlines() if line.startswith("rrr: error")]
    assert errors == [f"rrr: error: another `rrr selftrain` is using {run}; wait for it to finish"], refused
    assert "Traceback" not in refused
    assert_same_run(whole, run)
    assert_no_duplicates(run)


@pytest.mark.slow
def test_no_ppo_mines_hard_negatives_from_the_base_generators_fresh_samples(toy, tmp_path):
    home = tmp_path / "home"
    done = rrr([*args(toy, "n"), "--no-ppo"], home)
    assert done.returncode == 0, done.stderr[-3000:]
    run = home / "cache" / "runs" / "n"
    assert not list(run.glob("iter-*/policy*")) and not list(run.glob("iter-*/ppo.json"))
    metrics = [json.loads((run / f"iter-{i}" / "metrics.json").read_text()) for i in (1, 2)]
    assert [m["sampled_by"] for m in metrics] == ["base", "base"] and all(m["policy_eval"] is None for m in metrics)
    # Fresh samples: iteration 2 draws other seeds from the same base generator.
    seeds = [{c["seed"] for c in records(run / f"iter-{i}" / "samples.jsonl", Candidate)} for i in (1, 2)]
    assert not seeds[0] & seeds[1] and all(c["model"] == records(run / "iter-1" / "samples.jsonl", Candidate)[0]["model"]
                                            for c in records(run / "iter-2" / "samples.jsonl", Candidate))
    assert (run / "iter-2" / "scores.jsonl").exists() and metrics[1]["eval"]["versus_previous"] is not None
    assert "policy pass@1" in done.stdout and "—" in done.stdout


# --- the pieces, without models -------------------------------------------------------------------

def _loop(tmp_path, monkeypatch, overrides: dict):
    from rrr_cli.selftrain import SelfTrainLoop, build_config, start_run

    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    return SelfTrainLoop(start_run(build_config("quick", overrides), "unit"))


def test_training_and_heldout_tasks_split_by_problem_in_all_eight_languages(tmp_path, monkeypatch):
    from rrr_cli.selftrain.loop import _problem
    from rrr_cli.tasks.folds import fold_of

    loop = _loop(tmp_path, monkeypatch, {})
    loop._snapshot_tasks()
    loop._snapshot_heldout()
    train, held = loop.tasks(), loop.heldout_tasks()
    languages = {"python", "cpp", "java", "php", "ts", "cs", "sh", "js"}
    assert len(held) == 64 and {t.language for t in held} == languages
    assert all(sum(t.language == lang for t in held) == 8 for lang in languages)
    assert all(fold_of(t.task_id, 2) == 1 for t in held)  # fold B
    mbpp = [t for t in train if t.source == "mbpp"]
    humaneval = [t for t in train if t.source != "mbpp"]
    assert len(mbpp) == 8 and {t.language for t in humaneval} == languages and len(humaneval) == 16
    assert all(fold_of(t.task_id, 2) == 0 for t in humaneval)  # fold A
    assert not {_problem(t.task_id) for t in held} & {_problem(t.task_id) for t in train}


def _logged_eval_run(loop, tasks, statuses):
    """Log candidates and verdicts for `tasks` in the eval run of the loop's settings, as `rrr eval` does."""
    from rrr_cli.evaluation.runs import RunDir, completion_sha
    from rrr_cli.execution.cache import harness_key

    run = RunDir(loop._eval_settings())
    samples, verdicts = [], []
    for task in tasks:
        for j in range(loop.config.n):
            candidate = Candidate(task.task_id, task.language, task.prompt, f" {j + 1}", sample_id=j, seed=j,
                                  n_tokens=2, logprob_sum=-1.0 - j, extra={"task_sampling_s": 1.5})
            samples.append(candidate.to_dict())
            verdicts.append({**Verdict(task.task_id, j, statuses[j]).to_dict(), "completion_sha": completion_sha(candidate),
                             "harness": harness_key(task.language)})
    run.log("samples.jsonl").append(samples)
    run.log("verdicts.jsonl").append(verdicts)
    return run


def test_heldout_candidates_come_from_the_eval_run_even_while_another_process_holds_it(toy, tmp_path, monkeypatch):
    import fcntl

    loop = _loop(tmp_path, monkeypatch, {"tasks": [str(toy["train"])], "heldout": [str(toy["heldout"])],
                                        "generator": str(toy["model"]), "folds": 0, "train_per_language": 0,
                                        "heldout_per_language": 0, "n": 2})
    loop._snapshot_tasks()
    loop._snapshot_heldout()
    held = loop.heldout_tasks()
    # Statuses the sandbox would not give these programs: had they run again, the verdicts would differ.
    run = _logged_eval_run(loop, held, ["timeout", "failed"])
    torn = b'{"task_id": "toy/sev'
    with open(run.path / "samples.jsonl", "ab") as handle:
        handle.write(torn)  # an append in progress by the other process
    with open(run.path / ".lock", "w") as other:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process's `rrr eval`
        assert "in use" in loop._sample_heldout() and "in use" in loop._execute_heldout()
    assert (run.path / "samples.jsonl").read_bytes().endswith(torn)  # read, never repaired under its writer
    samples = records(loop.store.path("heldout", "samples.jsonl"), Candidate)
    assert [(s["task_id"], s["sample_id"], s["completion"]) for s in samples] == \
           [(t.task_id, j, f" {j + 1}") for t in held for j in range(2)]
    assert all("task_sampling_s" not in s for s in samples)  # no wall-clock time in the run's artifacts
    verdicts = records(loop.store.path("heldout", "verdicts.jsonl"), Verdict)
    assert [v["status"] for v in verdicts] == ["timeout", "failed"] * len(held)
    assert all("completion_sha" not in v and "harness" not in v for v in verdicts)

    # Free, the same steps go through the eval run's stages (under its lock) and agree.
    for name in ("samples.jsonl", "verdicts.jsonl"):
        loop.store.path("heldout", name).unlink()
    assert "eval run eval-" in loop._sample_heldout() and "eval run eval-" in loop._execute_heldout()
    assert records(loop.store.path("heldout", "samples.jsonl"), Candidate) == samples
    assert records(loop.store.path("heldout", "verdicts.jsonl"), Verdict) == verdicts


def _scored(task, scores, name="s"):
    return [ScoredCandidate(task.task_id, task.language, task.prompt, f"c{j}", sample_id=j, score=s, scorer=name)
            for j, s in enumerate(scores)]


def test_held_out_figures_use_eval_metrics_and_paired_intervals():
    from rrr_cli.records import Task
    from rrr_cli.selftrain.report import evaluate_base, evaluate_policy
    from rrr_cli.selftrain.settings import SelfTrainConfig

    config = SelfTrainConfig(n=4, heldout_policy_n=2)
    tasks = [Task("HumanEval/1", "python", "p1", ""), Task("cpp/HumanEval_3_x", "cpp", "p3", "")]
    passed = {"HumanEval/1": [True, False, False, False], "cpp/HumanEval_3_x": [False, False, True, True]}
    candidates = [c for t in tasks for c in _scored(t, [0.0] * 4)]
    verdicts = [Verdict(t.task_id, j, "passed" if ok else "failed") for t in tasks for j, ok in enumerate(passed[t.task_id])]
    scores = {  # python: the reranker ties its top two (one passes: 0.5); cpp: it picks a passing one
        "reranker": _scored(tasks[0], [0.9, 0.9, 0.1, 0.0]) + _scored(tasks[1], [0.1, 0.2, 0.8, 0.3]),
        "fallback": _scored(tasks[0], [0.1, 0.9, 0.2, 0.3]) + _scored(tasks[1], [0.9, 0.2, 0.3, 0.4]),
        "previous": _scored(tasks[0], [0.9, 0.1, 0.2, 0.3]) + _scored(tasks[1], [0.1, 0.2, 0.3, 0.9]),
    }
    result = evaluate_base(tasks, candidates, verdicts, scores, config)
    assert result["heldout_tasks"] == 2 and set(result["per_language"]) == {"python", "cpp"}
    assert result["reranked_at_1"] == pytest.approx((0.5 + 1.0) / 2)  # averaged over languages, as rrr eval
    assert result["fallback_reranked_at_1"] == 0.0 and result["previous_reranked_at_1"] == 1.0
    assert result["pass_at_1"] == pytest.approx((0.25 + 0.5) / 2) and result["oracle"] == 1.0
    assert result["versus_fallback"]["difference"] == pytest.approx(0.75)
    low, high = result["versus_previous"]["ci95"]
    assert result["versus_previous"]["difference"] == pytest.approx(-0.25) and low <= -0.25 <= high

    # The policy's 2 fresh candidates per task against 2 of the base generator's 4.
    policy = [c for t in tasks for c in _scored(t, [0.0, 0.0])]
    policy_verdicts = [Verdict(t.task_id, j, "passed") for t in tasks for j in range(2)]
    policy_scores = _scored(tasks[0], [0.2, 0.1]) + _scored(tasks[1], [0.1, 0.2])
    out = evaluate_policy(tasks, (candidates, verdicts), (policy, policy_verdicts), scores["reranker"], policy_scores,
                          config)
    assert out["policy"] == {"pass_at_1": 1.0, "oracle": 1.0, "reranked_at_1": 1.0}
    # Base: pass@2 from 4 by the unbiased estimator (python 1 of 4 passes: 0.5; cpp 2 of 4: 5/6).
    assert out["base"]["oracle"] == pytest.approx((0.5 + 5 / 6) / 2)
    assert out["oracle_difference"]["difference"] == pytest.approx(1 - (0.5 + 5 / 6) / 2)
    assert out["pass_at_1_difference"]["difference"] == pytest.approx(1 - (0.25 + 0.5) / 2)


def test_a_hard_negative_past_execution_passes_the_examples_in_the_biggest_group():
    from rrr_cli.selftrain.loop import _past_execution

    assert _past_execution([1.0, 0.0, 1.0, 0.5, 1.0, 0.0])
    assert not _past_execution([0.5, 0.0, 1.0, 0.5, 1.0, 0.0])  # fails an example
    assert not _past_execution([1.0, 0.0, 1.0, 0.2, 0.0, 0.0])  # not in the biggest group
    assert _past_execution([0.0, 1.0, 1.0, 0.5, 1.0, 0.0])  # no examples: it builds
    assert not _past_execution([0.0, 1.0, 0.0, 0.0, 0.0, 1.0])
