"""`rrr eval --executor ray` on a real local Ray instance (started here with two CPUs, not a mock).

The same small run (three HumanEval tasks, two candidates each, the smallest catalog model) is made
locally and on Ray, each in its own cache (so no verdict is shared through the verdict cache): the
candidates, the verdicts and the report agree. Then faults: sampling workers killed mid-run (their
batches rerun, nothing lost or logged twice), and the driver interrupted mid-run (the same call
resumes). Without Ray installed, `--executor ray` is one line.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from cli_in_process import invoke
import test_selftrain as selftrain_run
from rrr_cli.errors import RrrError
from rrr_cli.evaluation.report import results  # noqa: E402
from rrr_cli.evaluation.runs import EvalSettings, run_eval
from rrr_cli.ranking.scorers import MeanLogprobScorer, PublicExamplesScorer, RandomScorer

MODEL = "smollm2-135m-instruct"
SETTINGS = EvalSettings(model=MODEL, n=2, temperature=0.8, max_tokens=24, seed=0)


def _scorers():
    return [RandomScorer(seed=0), MeanLogprobScorer(), PublicExamplesScorer()]


def _records(path: Path, drop: tuple[str, ...]) -> list[dict]:
    """A log's records without the fields that are wall-clock times, in a fixed order."""
    rows = [{k: v for k, v in json.loads(line).items() if k not in drop} for line in path.read_text().splitlines()]
    return sorted(rows, key=lambda r: (r["task_id"], r["sample_id"]))


def _samples(run_dir: Path) -> list[dict]:
    return _records(run_dir / "samples.jsonl", ("task_sampling_s",))


def _verdicts(run_dir: Path) -> list[dict]:
    return _records(run_dir / "verdicts.jsonl", ("duration_s",))


def _home(tmp_path: Path, name: str, model_file: Path, monkeypatch) -> Path:
    """A fresh RRR_HOME whose model folder links to the shared test copy of the model."""
    home = tmp_path / name
    (home / "cache" / "models").mkdir(parents=True)
    (home / "cache" / "models" / model_file.name).symlink_to(model_file)
    monkeypatch.setenv("RRR_HOME", str(home))
    return home


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray")
    from rrr_cli.execution import bwrap_problem

    if bwrap_problem():
        pytest.skip(bwrap_problem())
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def tasks():
    from rrr_cli.tasks import load_tasks

    return load_tasks(["humaneval-python"], limit=3)


@pytest.fixture(scope="module")
def local_run(model_cache, tasks, tmp_path_factory):
    """The reference: the same run in this process, with the default sandboxed executor."""
    from rrr_cli.generation.backends import open_backend

    model_file = model_cache(MODEL)
    with pytest.MonkeyPatch.context() as patch:
        home = _home(tmp_path_factory.mktemp("local"), "home", model_file, patch)
        result = run_eval(tasks, SETTINGS, _scorers(), root=home / "runs",
                          backend_factory=lambda s: open_backend(s.model, backend=s.backend, threads=1))
    return model_file, result


def _ray_run(tasks, root: Path, progress=None, **options):
    from rrr_cli.evaluation.executors import RayExecutor, RayOptions

    with RayExecutor(RayOptions(**options)) as cluster:
        result = run_eval(tasks, SETTINGS, _scorers(), root=root, progress=progress, sampler=cluster.sample,
                          executor=cluster.execute)
    return result, cluster


def _assert_same_as_local(result, local) -> None:
    assert results(result.report) == results(local.report)
    assert _samples(result.run_dir) == _samples(local.run_dir)
    assert _verdicts(result.run_dir) == _verdicts(local.run_dir)


@pytest.mark.slow
@pytest.mark.model
def test_ray_run_gives_the_local_report(ray_instance, local_run, tasks, tmp_path, monkeypatch):
    model_file, local = local_run
    home = _home(tmp_path, "home", model_file, monkeypatch)
    result, _ = _ray_run(tasks, home / "runs", workers=2, batch_tasks=1, chunk_candidates=2)
    _assert_same_as_local(result, local)
    # The worker verified the model it loaded against the catalog (and left the stamp that says so).
    assert (home / "cache" / "models" / (model_file.name + ".verified")).is_file()


@pytest.mark.slow
@pytest.mark.model
def test_killed_sampling_workers_are_restarted_and_nothing_is_lost_or_doubled(
        ray_instance, local_run, tasks, tmp_path, monkeypatch):
    model_file, local = local_run
    home = _home(tmp_path, "home", model_file, monkeypatch)
    holder = {}
    killed = []

    def progress(description, total):
        def advance(k=1):
            # When the first task is logged, the worker that sampled it already has its next batch and
            # the other is mid-batch: kill both processes outright.
            if description.startswith("sampling") and not killed:
                for info in holder["cluster"].worker_info:
                    os.kill(info["pid"], signal.SIGKILL)
                    killed.append(info["pid"])
        return advance

    from rrr_cli.evaluation.executors import RayExecutor, RayOptions

    with RayExecutor(RayOptions(workers=2, batch_tasks=1)) as cluster:
        holder["cluster"] = cluster
        result = run_eval(tasks, SETTINGS, _scorers(), root=home / "runs", progress=progress,
                          sampler=cluster.sample, executor=cluster.execute)
    assert len(killed) == 2 and cluster.restarts >= 1  # a batch ran again in a new process
    lines = (result.run_dir / "samples.jsonl").read_text().splitlines()
    keys = [(r["task_id"], r["sample_id"]) for r in map(json.loads, lines)]
    assert len(keys) == len(set(keys)) == len(tasks) * SETTINGS.n
    _assert_same_as_local(result, local)


@pytest.mark.slow
@pytest.mark.model
def test_an_interrupted_ray_run_resumes(ray_instance, local_run, tasks, tmp_path, monkeypatch):
    model_file, local = local_run
    home = _home(tmp_path, "home", model_file, monkeypatch)

    def interrupt_after_one_task(description, total):
        def advance(k=1):
            if description.startswith("sampling"):
                raise KeyboardInterrupt  # the driver stops with one task logged
        return advance

    with pytest.raises(KeyboardInterrupt):
        _ray_run(tasks, home / "runs", progress=interrupt_after_one_task, workers=1, batch_tasks=1)
    run_dir = next((home / "runs").glob("eval-*"))
    assert len((run_dir / "samples.jsonl").read_text().splitlines()) == SETTINGS.n
    result, _ = _ray_run(tasks, home / "runs", workers=2)
    _assert_same_as_local(result, local)
    lines = (result.run_dir / "samples.jsonl").read_text().splitlines()
    assert len(lines) == len({(r["task_id"], r["sample_id"]) for r in map(json.loads, lines)})


@pytest.mark.slow
@pytest.mark.model
def test_a_worker_whose_model_does_not_match_is_one_line(ray_instance, model_cache, tasks, tmp_path, monkeypatch):
    from rrr_cli.evaluation.executors import RayExecutor, SamplingWorker

    _home(tmp_path, "home", model_cache(MODEL), monkeypatch)
    cluster = RayExecutor()
    worker = ray_instance.remote(SamplingWorker).options(runtime_env=cluster._runtime_env()).remote(
        MODEL, "auto", "0" * 64, None, 1)
    with pytest.raises(RrrError, match=r"has sha256 b179c9523d0e…, expected 000000000000…"):
        cluster._get(worker.ready.remote(), "a sampling worker")
    ray_instance.kill(worker)


def test_executor_options_are_checked(tmp_path, monkeypatch):
    pytest.importorskip("ray")  # an unreachable cluster is only looked for with Ray installed
    monkeypatch.setenv("RRR_HOME", str(tmp_path))
    for args, message in [(["--executor", "spark"], "unknown executor 'spark'"),
                          (["--ray-address", "h:6379"], "go with --executor ray"),
                          (["--executor", "ray", "--ray-workers", "0"], "at least 1"),
                          (["--executor", "ray", "--ray-address", "nohost"], "is not HOST:PORT"),
                          (["--executor", "ray", "--ray-address", "127.0.0.1:9"], "cannot reach 127.0.0.1:9")]:
        code, out, err = invoke(["eval", "--limit", "1", *args])
        assert code == 2 and message in err and "Traceback" not in err, (args, err)


def test_without_ray_the_ray_executor_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("RRR_HOME", str(tmp_path))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as if it were not installed
    code, out, err = invoke(["eval", "--limit", "1", "--executor", "ray"])
    assert code == 2 and "Traceback" not in err
    assert "install 'rrr[ray]'" in err and len(err.strip().splitlines()) == 1


toy = selftrain_run.toy  # its module-scoped fixture: the toy tasks and the tiny trained model


@pytest.mark.slow
def test_selftrain_on_ray_writes_the_local_run(ray_instance, toy, tmp_path):
    """The toy self-training run of test_selftrain (a tiny transformers model, 2 iterations, PPO) with the
    base generator's sampling and all execution on the test's Ray instance: the same artifacts."""
    address = ray_instance.get_runtime_context().gcs_address
    local = selftrain_run.rrr(selftrain_run.args(toy, "r"), tmp_path / "local")
    assert local.returncode == 0, local.stderr[-3000:]
    remote = selftrain_run.rrr([*selftrain_run.args(toy, "r"), "--executor", "ray", "--ray-address", address],
                               tmp_path / "ray")
    assert remote.returncode == 0, remote.stderr[-3000:]
    assert "on ray" in remote.stderr  # the base generator sampled there
    run = tmp_path / "ray" / "cache" / "runs" / "r"
    selftrain_run.assert_same_run(tmp_path / "local" / "cache" / "runs" / "r", run)
    selftrain_run.assert_no_duplicates(run)


@pytest.mark.slow
@pytest.mark.model
def test_the_command_line_runs_on_ray_and_a_local_rerun_reuses_it(ray_instance, model_cache, tmp_path, monkeypatch):
    _home(tmp_path, "home", model_cache(MODEL), monkeypatch)
    argv = ["eval", "--limit", "2", "-n", "2", "--max-tokens", "16", "--model", MODEL, "--threads", "1", "--json"]
    code, out, err = invoke([*argv, "--executor", "ray", "--ray-workers", "2"])
    assert code == 0, err
    on_ray = json.loads(out)

    def refuse(*args, **kwargs):
        raise AssertionError("the local rerun must neither sample nor execute")

    # The run is keyed by what decides the samples, not by where they were made: locally, nothing to do.
    monkeypatch.setattr("rrr_cli.evaluation.runs._local_sampler", refuse)
    monkeypatch.setattr("rrr_cli.evaluation.runs._default_executor", refuse)
    code, out, err = invoke(argv)
    assert code == 0, err
    assert results(json.loads(out)) == results(on_ray)
