"""Faults during long work, end to end with real processes: SIGKILL mid-run, two runs at once, a full disk.

(`rrr selftrain` killed mid-iteration and resumed is in test_selftrain.py.)
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
# What may differ between two runs of the same settings: the clock, and where the run lives.
CLOCK_KEYS = {"timings", "run_dir", "sampling_s", "execution_s", "sampling_s_per_task", "execution_s_per_task",
              "task_sampling_s", "duration_s"}
# Short prompts keep the tiny model's work small. Each task has its own stop strings, so each is its own
# `generate` call and its candidates land in samples.jsonl before the next task is sampled.
TASKS = [
    {"task_id": "f/add", "prompt": 'def add(a, b):\n    """Return a + b."""\n', "tests": "\nassert add(2, 3) == 5\n",
     "stop_tokens": ["\ndef "]},
    {"task_id": "f/double", "prompt": 'def double(x):\n    """Return 2 * x."""\n',
     "tests": "\nassert double(4) == 8\n", "stop_tokens": ["\ndef ", "\nclass "]},
    {"task_id": "f/even", "prompt": 'def is_even(n):\n    """True when n is even."""\n',
     "tests": "\nassert is_even(2) and not is_even(3)\n", "stop_tokens": ["\ndef ", "\nif "]},
]


def _eval_args(model: Path, tasks: Path, n: int = 2, limit: int = 3) -> list[str]:
    return ["eval", "--tasks", str(tasks), "--limit", str(limit), "-n", str(n), "--max-tokens", "24",
            "--prompt-style", "completion", "--model", str(model), "--scorers", "random,mean_logprob", "--json"]


@pytest.fixture
def tasks_file(tmp_path) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps({**task, "language": "python", "source": "faults"}) + "\n" for task in TASKS))
    return path


def _env(home: Path) -> dict[str, str]:
    # One llama.cpp thread: on a shared, busy CPU its threads would spin waiting for each other.
    return {**os.environ, "RRR_HOME": str(home), "RRR_SAMPLE_THREADS": "1"}


def _rrr(args: list[str], home: Path, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "rrr_cli", *args], capture_output=True, text=True,
                          env=_env(home), timeout=300)


def _popen(args: list[str], home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rrr_cli", *args], env=_env(home), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _run_dir(home: Path) -> Path:
    found = list(home.rglob("eval-*"))
    assert len(found) == 1, found
    return found[0]


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _without_clock(value):
    if isinstance(value, dict):
        return {k: _without_clock(v) for k, v in value.items() if k not in CLOCK_KEYS}
    if isinstance(value, list):
        return [_without_clock(v) for v in value]
    return value


def _by_key(records: list[dict]) -> dict[tuple[str, int], dict]:
    """The records keyed by (task_id, sample_id), asserting that no key is logged twice."""
    keyed = {(r["task_id"], r["sample_id"]): _without_clock(r) for r in records}
    assert len(keyed) == len(records), "a record was logged twice"
    return keyed


def _whole_lines(path: Path) -> list[str]:
    """The complete lines of a log (not a torn tail), none if it does not exist yet."""
    return path.read_text(encoding="utf-8").split("\n")[:-1] if path.is_file() else []


@pytest.mark.model
@pytest.mark.slow
def test_sigkill_mid_eval_then_the_same_command_resumes_and_matches_an_uninterrupted_run(
        pulled_model, tasks_file, tmp_path):
    args = _eval_args(pulled_model, tasks_file)
    whole_home, broken_home = tmp_path / "whole", tmp_path / "broken"
    whole = _rrr(args, whole_home)
    assert whole.returncode == 0, whole.stderr[-3000:]

    # Killed once the first task's candidates are on disk, while the others are being sampled.
    process = _popen(args, broken_home)
    runs = broken_home / "cache" / "runs"
    deadline = time.monotonic() + 240
    while not any(_whole_lines(log) for log in runs.rglob("samples.jsonl")):
        assert process.poll() is None, f"the run ended before it could be killed: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    run = _run_dir(broken_home)
    done = {json.loads(line)["task_id"] for line in _whole_lines(run / "samples.jsonl")}
    assert 0 < len(done) < len(TASKS) and not (run / "verdicts.jsonl").exists()

    resumed = _rrr(args, broken_home)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _without_clock(json.loads(resumed.stdout)) == _without_clock(json.loads(whole.stdout))
    # Nothing sampled twice, and every log holds what the uninterrupted run's holds.
    whole_run = _run_dir(whole_home)
    for name in ("samples.jsonl", "verdicts.jsonl", "scores-random-seed0.jsonl", "scores-mean_logprob.jsonl"):
        assert _by_key(_jsonl(run / name)) == _by_key(_jsonl(whole_run / name)), name
    assert len(_jsonl(run / "samples.jsonl")) == len(TASKS) * 2
    assert _without_clock(json.loads((run / "report.json").read_text())) == _without_clock(json.loads(resumed.stdout))


@pytest.mark.model
@pytest.mark.slow
def test_two_evals_of_the_same_run_at_once_one_says_busy_and_the_other_finishes_cleanly(
        pulled_model, tasks_file, tmp_path):
    args = _eval_args(pulled_model, tasks_file)
    # Started together, they reach the run's lock within moments of each other; the work takes longer.
    both = [_popen(args, tmp_path), _popen(args, tmp_path)]
    outcomes = [(p.returncode, out, err) for p in both for out, err in [p.communicate(timeout=300)]]
    run = _run_dir(tmp_path)
    busy = [o for o in outcomes if o[0] != 0]
    finished = [o for o in outcomes if o[0] == 0]
    assert len(busy) == 1 and len(finished) == 1, [(o[0], o[2][-500:]) for o in outcomes]
    code, out, err = busy[0]
    assert code == 2 and out == ""  # 2: rrr's exit status for an error the user can act on
    assert err == f"rrr: error: another `rrr eval` is using {run}; wait for it to finish\n"

    report = json.loads(finished[0][1])
    assert report["columns"]["python"]["tasks"] == len(TASKS)
    samples = _jsonl(run / "samples.jsonl")
    assert len(_by_key(samples)) == len(_by_key(_jsonl(run / "verdicts.jsonl"))) == len(TASKS) * 2
    assert [r["task_id"] for r in samples] == [task["task_id"] for task in TASKS for _ in range(2)]  # task by task
    assert all(len(_by_key(_jsonl(log))) == len(TASKS) * 2 for log in run.glob("scores-*.jsonl"))
    # Once it is done the same command goes through, reusing its work: the same report, no new record.
    again = _rrr(args, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _without_clock(json.loads(again.stdout)) == _without_clock(report)
    assert _jsonl(run / "samples.jsonl") == samples


def test_a_log_whose_last_record_lost_its_newline_is_mended_before_the_next_append(tmp_path):
    from rrr_cli.evaluation.runs import JsonlLog

    log = JsonlLog(tmp_path / "samples.jsonl")
    log.append([{"task_id": "a", "sample_id": 0}, {"task_id": "a", "sample_id": 1}])
    log.path.write_bytes(log.path.read_bytes()[:-1])  # cut exactly before the last newline
    assert len(log.load()) == 2
    log.append([{"task_id": "b", "sample_id": 0}])
    assert [(r["task_id"], r["sample_id"]) for r in log.load()] == [("a", 0), ("a", 1), ("b", 0)]


# --- a full disk --------------------------------------------------------------------------------------

class SmallDisk:
    """A 1 MiB tmpfs. `path` is where the test sees it; commands run with `prefix` see it at `mount`."""

    def __init__(self, mount: Path, path: Path, prefix: tuple[str, ...], holder: subprocess.Popen | None):
        self.mount, self.path, self.prefix, self.holder = mount, path, prefix, holder
        self.filler = path / "filler"

    def fill(self, leave: int = 0) -> None:
        """Fill the disk, then free `leave` bytes (whole pages) of it again."""
        page = b"\0" * 4096
        with open(self.filler, "ab", buffering=0) as handle:
            try:
                while True:
                    handle.write(page)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
        if leave:
            os.truncate(self.filler, self.filler.stat().st_size - leave)

    def free(self) -> None:
        self.filler.unlink()

    def free_bytes(self) -> int:
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize


def _mount_tmpfs(mount: Path, privileged: bool = True) -> SmallDisk | None:
    """Mount as root where allowed; else in a mount namespace of our own (`unshare -cm`, the user keeping
    its uid), held open by a sleeping process: the test reaches it through /proc/PID/root, commands
    through nsenter."""
    options = ["-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)]
    if privileged and subprocess.run(["mount", *options], capture_output=True).returncode == 0:
        return SmallDisk(mount, mount, (), None)
    if os.geteuid() == 0 or not (shutil.which("unshare") and shutil.which("nsenter")):
        # Root in a user namespace maps no `nobody`, and the sandbox hands its work dir to nobody.
        return None
    holder = subprocess.Popen(["unshare", "-cm", "--keep-caps", "sh", "-c",
                               f"mount {' '.join(options)} && echo ok && exec sleep 600"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    if holder.stdout.readline().strip() != "ok":
        holder.kill()
        holder.wait()
        return None
    prefix = ("nsenter", "-t", str(holder.pid), "-U", "-m", "--preserve-credentials", f"--wd={os.getcwd()}")
    return SmallDisk(mount, Path(f"/proc/{holder.pid}/root") / mount.relative_to("/"), prefix, holder)


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    disk = _mount_tmpfs(mount)
    if disk is None:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN, or a non-root user allowed "
                    "`unshare -cm --keep-caps`)")
    yield disk
    if disk.holder is not None:
        disk.holder.kill()
        disk.holder.wait()
    else:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def _stray(path: Path) -> list[Path]:
    return [p for p in path.rglob("*") if p.name.endswith(".tmp")]


def test_a_full_disk_under_rerank_output_is_one_line_and_keeps_the_previous_output(small_disk, tmp_path):
    home = tmp_path / "home"  # no trained reranker: the public-examples + mean-log-prob fallback
    output = small_disk.mount / "ranked.jsonl"
    args = ["rerank", str(FIXTURES / "candidates.jsonl"), "-o", str(output)]
    first = _rrr(args, home, small_disk.prefix)
    assert first.returncode == 0, first.stderr[-3000:]
    before = (small_disk.path / "ranked.jsonl").read_bytes()
    assert len(before) > 4096  # more than a page, so it cannot fit once the disk is full
    umask = os.umask(0o022)
    os.umask(umask)
    assert (small_disk.path / "ranked.jsonl").stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600

    small_disk.fill()
    full = _rrr(args, home, small_disk.prefix)
    assert full.returncode == 1 and full.stdout == ""
    assert full.stderr.splitlines()[-1] == f"rrr: error: {output}: No space left on device"
    assert "Traceback" not in full.stderr
    assert (small_disk.path / "ranked.jsonl").read_bytes() == before
    assert not _stray(small_disk.path)

    small_disk.free()
    again = _rrr(args, home, small_disk.prefix)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (small_disk.path / "ranked.jsonl").read_bytes() == before


@pytest.mark.model
@pytest.mark.slow
def test_a_full_disk_mid_eval_leaves_the_run_as_it_was_and_the_same_command_then_resumes(
        pulled_model, tasks_file, small_disk):
    home = small_disk.mount  # RRR_HOME: the run and its logs are on the small disk
    n = 8  # a task's candidates take more than a page (4096 bytes), so they cannot fit in the slack
    first = _rrr(_eval_args(pulled_model, tasks_file, n=n, limit=1), home, small_disk.prefix)
    assert first.returncode == 0, first.stderr[-3000:]
    run = _run_dir(small_disk.path)
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    # Every free page taken: only the slack at the end of samples.jsonl's last page is left, so the
    # second task's candidates begin to land there and the disk is full part way through them.
    slack = -len(before["samples.jsonl"]) % 4096
    small_disk.fill()
    assert small_disk.free_bytes() == 0 and slack > 0

    args = _eval_args(pulled_model, tasks_file, n=n, limit=2)
    full = _rrr(args, home, small_disk.prefix)
    assert full.returncode == 1 and full.stdout == ""
    assert full.stderr.splitlines()[-1] == (f"rrr: error: {_run_dir(small_disk.mount)}/samples.jsonl: "
                                            "No space left on device")
    assert "Traceback" not in full.stderr
    # No half task in the log, the report of the first run as it was, no temporary file left.
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before
    assert not _stray(small_disk.path)

    small_disk.free()
    again = _rrr(args, home, small_disk.prefix)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["columns"]["python"]["tasks"] == 2
    log = (run / "samples.jsonl").read_bytes()
    assert log.startswith(before["samples.jsonl"]) and len(_by_key(_jsonl(run / "samples.jsonl"))) == 2 * n
    assert len(log) - len(before["samples.jsonl"]) > slack, "the second task fitted: the disk was never full mid-append"
