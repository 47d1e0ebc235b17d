"""`rrr rerank`: scored records best first per task, --top-k, the default reranker and its fallback,
and malformed input reported by line with the records already written left valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from reward_tiny import save_tiny_base  # noqa: E402

from rrr_cli.records import Candidate, Pair, Task, dumps  # noqa: E402
from rrr_cli.training.train_reward import RewardTrainingConfig, train_and_save  # noqa: E402


def candidates(tasks: int = 3, n: int = 4) -> list[Candidate]:
    out = []
    for t in range(tasks):
        for j in range(n):
            sign = "+" if j % 2 else "-"
            out.append(Candidate(task_id=f"T/{t}", language="python", prompt=f"def f{t}(x):\n",
                                 completion=f"    return x {sign} {j}\n", sample_id=j, mean_logprob=-0.1 * j,
                                 n_tokens=4 + j))
    return out


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """An RRR_HOME with one tiny reranker trained to prefer `+` over `-`."""
    root = tmp_path_factory.mktemp("rerank")
    base = save_tiny_base(root / "base")
    pairs = [Pair(f"P/{t}", "python", f"def g{t}(x):\n", f"    return x + {t}\n", f"    return x - {t}\n")
             for t in range(8)]
    config = RewardTrainingConfig(model_name_or_path=str(base), num_train_epochs=3, trainable_layers=1,
                                  projection=0, confidence=False, learning_rate=3e-3, head_learning_rate=1e-2, per_device_train_batch_size=4,
                                  validation_fraction=0.0, bf16=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RRR_HOME", str(root / "home"))
        train_and_save(pairs, config, name="tiny")
    return root / "home"


def rrr(args: list[str], home, stdin: str = "") -> subprocess.CompletedProcess:
    env = {**os.environ, "RRR_HOME": str(home), "RRR_EXECUTION_ALLOW_UNSANDBOXED": "1"}
    return subprocess.run([sys.executable, "-m", "rrr_cli", "rerank", *args], input=stdin, env=env,
                          capture_output=True, text=True, timeout=600)


def test_rerank_writes_scored_candidates_best_first_per_task(home, tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(dumps(c) + "\n" for c in candidates()))
    result = rrr([str(path), "--reranker", "tiny"], home)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 12
    for t in range(3):
        group = [r for r in records if r["task_id"] == f"T/{t}"]
        assert [r["rank"] for r in group] == [1, 2, 3, 4]
        assert [r["score"] for r in group] == sorted((r["score"] for r in group), reverse=True)
        assert {r["scorer"] for r in group} == {"reranker"}
        assert "+" in group[0]["completion"]  # the tiny reranker learned to prefer `+`
        assert group[0]["mean_logprob"] is not None  # candidate fields pass through
    assert "no trained reranker" not in result.stderr

    top = rrr(["--top-k", "1", "-", "-r", "tiny"], home, stdin=path.read_text())  # stdin
    assert top.returncode == 0, top.stderr
    assert [json.loads(line)["rank"] for line in top.stdout.splitlines()] == [1, 1, 1]


def test_rerank_without_a_reranker_falls_back_with_a_notice(tmp_path):
    stdin = "".join(dumps(c) + "\n" for c in candidates(tasks=2, n=2))
    result = rrr(["--top-k", "1"], tmp_path / "empty-home", stdin=stdin)
    assert result.returncode == 0, result.stderr
    assert "no trained reranker" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2 and all(r["scorer"].startswith("weighted(") for r in records)


def test_malformed_input_names_the_line_and_keeps_what_was_written(home):
    good = [dumps(c) for c in candidates(tasks=1, n=2)]
    other = [dumps(c).replace('"T/0"', '"T/9"') for c in candidates(tasks=1, n=2)]
    stdin = "\n".join(good + other + ['{"task_id": "T/10", "language": "python"}']) + "\n"
    result = rrr(["--reranker", "tiny"], home, stdin=stdin)
    assert result.returncode != 0
    assert "<stdin>:5:" in result.stderr and "missing field" in result.stderr
    for line in result.stdout.splitlines():
        json.loads(line)  # every record already written is whole
    bad = rrr(["--reranker", "nope"], home, stdin=stdin)
    assert bad.returncode != 0 and "no reranker 'nope'" in bad.stderr


def test_train_reranker_command_trains_from_candidates_and_verdicts(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rrr_cli.cli import app
    from rrr_cli.records import Verdict, read_records
    from rrr_cli.reranker import read_manifest

    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    base = save_tiny_base(tmp_path / "base")
    cands = candidates(tasks=6, n=4)
    (tmp_path / "c.jsonl").write_text("".join(dumps(c) + "\n" for c in cands))
    verdicts = [Verdict(task_id=c.task_id, sample_id=c.sample_id, status="passed" if "+" in c.completion else "failed")
                for c in cands]
    (tmp_path / "v.jsonl").write_text("".join(dumps(v) + "\n" for v in verdicts))
    result = CliRunner().invoke(app, ["train-reranker", str(tmp_path / "c.jsonl"), str(tmp_path / "v.jsonl"),
                                      "--name", "cli", "--base-model", str(base), "--epochs", "1",
                                      "--trainable-layers", "1", "--validation-fraction", "0.34",
                                      "--save-pairs", str(tmp_path / "pairs.jsonl")])
    assert result.exit_code == 0, result.output
    directory = tmp_path / "home" / "cache" / "rerankers" / "cli"
    assert result.stdout.strip().endswith(str(directory))
    manifest = read_manifest(directory)
    assert manifest["training_data"]["candidates"] == 24 and manifest["metrics"]["val_tasks"] == 2
    assert len(list(read_records(tmp_path / "pairs.jsonl", Pair))) == 6 * 4  # 2 passing x 2 failing per task
    missing = CliRunner().invoke(app, ["train-reranker", str(tmp_path / "c.jsonl")])
    assert missing.exit_code != 0


def test_rerank_by_a_named_scorer_consensus_outvotes_the_log_prob(tmp_path):
    prompt = 'def add1(x: int) -> int:\n    """Return x plus one.\n\n    >>> add1(1)\n    2\n    """\n'
    bodies = [("    return 2\n", -0.01), ("    return x + 1\n", -0.2), ("    return 1 + x\n", -0.3),
              ("    return x + 2\n", -0.4)]
    stdin = "".join(dumps(Candidate(task_id="A/0", language="python", prompt=prompt, completion=body, sample_id=j,
                                    mean_logprob=logprob, n_tokens=4)) + "\n"
                    for j, (body, logprob) in enumerate(bodies))
    # `return 2` passes the one example and is the model's favourite; on the example's mutations
    # (add1(0), add1(2)) it stands alone, while the two right bodies agree.
    weighted = rrr(["--top-k", "1"], tmp_path / "home", stdin=stdin)
    assert weighted.returncode == 0, weighted.stderr
    assert json.loads(weighted.stdout)["completion"] == "    return 2\n"
    voted = rrr(["--scorer", "consensus"], tmp_path / "home", stdin=stdin)
    assert voted.returncode == 0, voted.stderr
    records = [json.loads(line) for line in voted.stdout.splitlines()]
    assert [r["sample_id"] for r in records][:2] in ([1, 2], [2, 1]) and records[-1]["sample_id"] == 3
    assert {r["scorer"] for r in records} == {"consensus"}
    # The best record carries the probability that it is right; the others none. The pick agrees with
    # one other candidate, `return 2` (which passes the example too) with none.
    assert 0 < records[0]["confidence"] < 1 and all("confidence" not in r for r in records[1:])
    assert json.loads(weighted.stdout)["confidence"] < records[0]["confidence"]
    plain = rrr(["--top-k", "1", "--no-confidence"], tmp_path / "home", stdin=stdin)
    assert "confidence" not in json.loads(plain.stdout)
    clash = rrr(["--scorer", "random", "--reranker", "x"], tmp_path / "home", stdin=stdin)
    assert clash.returncode != 0 and clash.stderr.count("\n") == 1 and "exclusive" in clash.stderr


def test_a_trained_reranker_is_the_default_only_with_a_held_out_win_on_record(home, tmp_path, monkeypatch):
    from rrr_cli.ranking.rerank import VERSUS_FALLBACK, default_scorer
    from rrr_cli.reranker import MANIFEST, find_reranker, read_manifest

    stdin = "".join(dumps(c) + "\n" for c in candidates(tasks=2, n=2))
    unproven = rrr(["--top-k", "1"], home, stdin=stdin)
    assert unproven.returncode == 0, unproven.stderr
    assert {json.loads(line)["scorer"].split("(")[0] for line in unproven.stdout.splitlines()} == {"weighted"}
    assert "no trained reranker beat them" in unproven.stderr and "--scorer reranker:tiny" in unproven.stderr
    # The same reranker with a recorded win (a copy, so the module's home stays as it was).
    import shutil

    proven_home = tmp_path / "home"
    shutil.copytree(home, proven_home)
    monkeypatch.setenv("RRR_HOME", str(proven_home))
    directory = find_reranker("tiny")
    assert proven_home in directory.parents
    manifest = read_manifest(directory)
    manifest[VERSUS_FALLBACK] = {"beats": True, "tasks": 40, "reranker": 0.6, "fallback": 0.5}
    (directory / MANIFEST).write_text(json.dumps(manifest))
    assert default_scorer().name == "reranker"
    manifest[VERSUS_FALLBACK]["beats"] = False
    (directory / MANIFEST).write_text(json.dumps(manifest))
    notices = []
    assert default_scorer(notice=notices.append).name.startswith("weighted") and len(notices) == 1


def test_a_reranker_with_execution_evidence_reads_what_running_showed(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rrr_cli.cli import app
    from rrr_cli.records import Verdict
    from rrr_cli.reranker import read_manifest

    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    base = save_tiny_base(tmp_path / "base")

    def task(t: int) -> list[Candidate]:
        prompt = f'def f{t}(x: int) -> int:\n    """Return x plus {t}.\n\n    >>> f{t}(1)\n    {1 + t}\n    """\n'
        # The failing bodies read almost like the passing ones: the text alone says little here.
        bodies = [f"    return x + {t}\n", f"    return x + {t} + 1\n", f"    return {t} + x\n", f"    return x + {t + 1}\n"]
        return [Candidate(task_id=f"E/{t}", language="python", prompt=prompt, completion=body, sample_id=j,
                          mean_logprob=-0.1 * (3 - j), n_tokens=6) for j, body in enumerate(bodies)]

    cands = [c for t in range(1, 9) for c in task(t)]
    (tmp_path / "c.jsonl").write_text("".join(dumps(c) + "\n" for c in cands))
    verdicts = [Verdict(task_id=c.task_id, sample_id=c.sample_id, status="passed" if c.sample_id in (0, 2) else "failed")
                for c in cands]
    (tmp_path / "v.jsonl").write_text("".join(dumps(v) + "\n" for v in verdicts))
    result = CliRunner().invoke(app, ["train-reranker", str(tmp_path / "c.jsonl"), str(tmp_path / "v.jsonl"),
                                      "--name", "exec", "--base-model", str(base), "--epochs", "2",
                                      "--projection", "2", "--validation-fraction", "0.25"])
    assert result.exit_code == 0, result.output
    manifest = read_manifest(tmp_path / "home" / "cache" / "rerankers" / "exec")
    settings = manifest["settings"]
    assert settings["evidence_inputs"] == 6 and settings["evidence_probes"] == "examples+mutations"
    # The held-out comparison with the fallback is printed and recorded; two tasks prove nothing.
    record = manifest["versus_fallback"]
    assert record["tasks"] == 2 and record["beats"] is False and "held-out reranked@1 on 2 tasks" in result.output
    # A new task: the failing bodies are the model's favourites by log-prob; the evidence outweighs that.
    fresh = [c for c in task(20)]
    for c in fresh:
        c.mean_logprob = -0.05 if c.sample_id in (1, 3) else -0.4
    ranked = rrr(["--reranker", "exec"], tmp_path / "home", stdin="".join(dumps(c) + "\n" for c in fresh))
    assert ranked.returncode == 0, ranked.stderr
    assert {json.loads(line)["sample_id"] for line in ranked.stdout.splitlines()[:2]} == {0, 2}
    bad = CliRunner().invoke(app, ["train-reranker", "--pairs", str(tmp_path / "c.jsonl"), "--features", "exec"])
    assert bad.exit_code != 0 and "--features text" in str(bad.exception)


def test_train_reranker_folds_score_every_task_out_of_fold(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from rrr_cli.cli import app
    from rrr_cli.ranking.reward import OutOfFoldScorer, RewardModelScorer
    from rrr_cli.records import Verdict
    from rrr_cli.reranker import read_manifest

    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    base = save_tiny_base(tmp_path / "base")
    cands = candidates(tasks=8, n=4)  # T/0 .. T/7: folds by problem number, 4 tasks each
    (tmp_path / "c.jsonl").write_text("".join(dumps(c) + "\n" for c in cands))
    verdicts = [Verdict(task_id=c.task_id, sample_id=c.sample_id, status="passed" if "+" in c.completion else "failed")
                for c in cands]
    (tmp_path / "v.jsonl").write_text("".join(dumps(v) + "\n" for v in verdicts))
    result = CliRunner().invoke(app, ["train-reranker", str(tmp_path / "c.jsonl"), str(tmp_path / "v.jsonl"),
                                      "--name", "cv", "--base-model", str(base), "--epochs", "1", "--projection", "2",
                                      "--folds", "2", "--validation-fraction", "0", "--final", "cv-all"])
    assert result.exit_code == 0, result.output
    rerankers = tmp_path / "home" / "cache" / "rerankers"
    folds = read_manifest(rerankers / "cv")
    assert folds["members"] == ["cv-fold0", "cv-fold1"]
    # The folds' comparison covers every task, each judged by the reranker that never saw it; the one
    # trained on every task carries it as its record.
    assert folds["versus_fallback"]["tasks"] == 8 and folds["versus_fallback"]["measured"].startswith("out of fold")
    final = read_manifest(rerankers / "cv-all")
    assert final["training_data"]["tasks"] == 8 and final["training_data"]["folds_run"] == "cv"
    assert {k: v for k, v in final["versus_fallback"].items() if k != "measured"} == \
        {k: v for k, v in folds["versus_fallback"].items() if k != "measured"}
    lonely = CliRunner().invoke(app, ["train-reranker", str(tmp_path / "c.jsonl"), str(tmp_path / "v.jsonl"),
                                      "--final", "x"])
    assert lonely.exit_code != 0 and "--final needs --folds" in str(lonely.exception)
    for fold in (0, 1):
        member = read_manifest(rerankers / f"cv-fold{fold}")
        assert member["training_data"]["fold"] == {"k": 2, "held_out": fold}
        assert member["training_data"]["tasks"] == 4  # the other fold's tasks only
        assert member["versus_fallback"]["tasks"] == 4  # compared on the fold it never saw
    scorer = RewardModelScorer.load("cv")
    assert isinstance(scorer, OutOfFoldScorer) and len(scorer.members) == 2
    groups = [(Task(task_id=f"T/{t}", language="python", prompt=f"def f{t}(x):\n", tests=""),
               [c for c in cands if c.task_id == f"T/{t}"]) for t in range(8)]
    scores = scorer.score_many(groups)
    assert [len(s) for s in scores] == [4] * 8
    alone = scorer.members[1].score_many(groups[1:2])[0]  # T/1 is in fold 1: scored by the model that never saw it
    assert scores[1] == alone


def test_a_benchmark_candidate_carries_no_harness_but_its_examples_still_run_in_every_language():
    from rrr_cli.ranking.rerank import task_of
    from rrr_cli.ranking.scorers import example_checks
    from rrr_cli.tasks import load_tasks

    for source in ("humaneval-cpp", "humaneval-java", "humaneval-sh", "humaneval-python"):
        task = load_tasks([source], limit=1)[0]
        record = Candidate(task_id=task.task_id, language=task.language, prompt=task.prompt,
                           completion="", sample_id=0)
        assert task_of(record).tests == task.tests
        assert not example_checks(task_of(record)).fallback  # the prompt's examples, in its harness
        # A user's task that reuses the id with another prompt is not the benchmark's.
        stranger = Candidate(task_id=task.task_id, language=task.language, prompt=task.prompt + "\n",
                             completion="", sample_id=0)
        assert task_of(stranger).tests == ""
