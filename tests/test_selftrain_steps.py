"""The self-training run machinery without models: settings and profiles, run.toml, step skipping,
Ctrl-C at a step boundary, and the command's one-line errors."""

from __future__ import annotations

import os
import signal

import pytest
from typer.testing import CliRunner

from rrr_cli.cli import app
from rrr_cli.errors import RrrError
from rrr_cli.selftrain import Interrupted, SelfTrainLoop, StopFlag, build_config, find_run, start_run
from rrr_cli.selftrain.settings import read_toml


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RRR_HOME", str(tmp_path))
    return tmp_path


def test_profiles_and_options():
    quick = build_config("quick", {})
    assert (quick.mbpp_tasks, quick.train_per_language, quick.heldout_per_language, quick.n, quick.iterations) == \
        (8, 2, 8, 8, 3)
    assert quick.tasks == ["mbpp", "multipl-e"] and quick.heldout == ["multipl-e"] and quick.features == "exec"
    full = build_config("full", {"n": 4, "ppo_steps": None})
    assert full.mbpp_tasks == 0 and full.n == 4 and full.ppo_steps == 100  # option > profile > default
    with pytest.raises(RrrError, match="heldout-fold"):
        build_config("quick", {"folds": 2, "heldout_fold": 2})
    with pytest.raises(RrrError, match="features"):
        build_config("quick", {"features": "both"})
    with pytest.raises(RrrError, match="unknown profile"):
        build_config("huge", {})
    with pytest.raises(RrrError, match="ppo-mini-batch-size"):
        build_config("quick", {"ppo_batch_size": 2, "ppo_mini_batch_size": 4})


def test_run_toml_round_trip_and_find_run(home):
    config = build_config("quick", {"tasks": ['odd "name".jsonl'], "no_ppo": True, "temperature": 0.5})
    store = start_run(config, "my-run")
    again, run = read_toml(store.root / "run.toml")
    assert again == config and run["id"] == "my-run"
    assert find_run("my-run") == store.root == find_run(str(store.root))
    with pytest.raises(RrrError, match="already exists"):
        start_run(config, "my-run")
    with pytest.raises(RrrError, match="no selftrain run"):
        find_run("nope")
    with pytest.raises(RrrError, match="bad run id"):
        start_run(config, "../escape")


def test_steps_skip_done_artifacts_and_stop_at_a_boundary(home):
    store = start_run(build_config("quick", {}), "r")
    said: list[str] = []
    stop = StopFlag()
    loop = SelfTrainLoop(store, say=said.append, stop=stop)
    calls = []

    def work() -> str:
        calls.append(1)
        store.write_json(store.path("a.json"), {"x": 1})
        return "wrote a"

    assert loop.step(1, "first", store.path("a.json"), work) is True
    assert loop.step(1, "first", store.path("a.json"), work) is False  # done: its artifact exists
    assert len(calls) == 1 and "iter 1 · first: done earlier, kept" in said
    assert "first" in store.timings()["1"]
    stop.requested = True  # what the first Ctrl-C does
    with pytest.raises(Interrupted, match="--resume r"):
        loop.step(1, "second", store.path("b.json"), work)
    assert not store.path("b.json").exists()


def test_building_a_folder_is_atomic(home):
    store = start_run(build_config("quick", {}), "r")
    target = store.path("iter-1", "policy")
    with pytest.raises(RuntimeError):
        with store.building(target) as staging:
            (staging / "half.bin").write_bytes(b"x")
            raise RuntimeError("killed")
    assert not target.exists() and not list(target.parent.glob(".*.tmp"))
    with store.building(target) as staging:
        (staging / "whole.bin").write_bytes(b"y")
    assert (target / "whole.bin").read_bytes() == b"y"


def test_command_errors_are_one_line():
    runner = CliRunner()
    result = runner.invoke(app, ["selftrain", "--report", "missing"], standalone_mode=False)
    assert isinstance(result.exception, RrrError) and "no selftrain run" in str(result.exception)
    start_run(build_config("quick", {}), "r")
    result = runner.invoke(app, ["selftrain", "--resume", "r", "-n", "4"], standalone_mode=False)
    assert isinstance(result.exception, RrrError) and "cannot change" in str(result.exception)
    result = runner.invoke(app, ["selftrain", "--report", "r"], standalone_mode=False)
    assert isinstance(result.exception, RrrError) and "no finished iteration" in str(result.exception)


def test_first_ctrl_c_only_asks_to_stop_and_the_second_stops_now():
    # A shell starts background jobs with SIGINT ignored; this test wants Python's own handler first.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with StopFlag() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.requested
            with pytest.raises(KeyboardInterrupt):
                os.kill(os.getpid(), signal.SIGINT)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGINT, previous)
