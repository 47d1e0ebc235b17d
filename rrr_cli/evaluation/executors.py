"""Where an eval run's sampling and execution happen: in this process (`local`), or on a Ray cluster (`ray`).

The Ray executor plugs into the same two hooks the local pipeline has (`run_eval`'s `sampler` and
`executor`), so everything else stays as it is: results stream back to the driver, which appends
them to the run's own append-only logs a task at a time. A run on Ray is therefore resumable exactly
as a local one (the same command, local or on Ray, picks up the tasks the logs lack), and its
report is the local run's: candidate j of a task is sampled with seed `seed + j` whatever worker or
batch it lands in (llama.cpp draws each sequence from its own generator; tested), and a verdict
depends only on the program and the limits, which the driver resolves and sends along.

Sampling: `workers` Ray actors, each holding one backend (one loaded model). Before it samples, a
worker checks that the model file it opened has the sha256 the driver expects (the catalog's, for a
catalog model; the driver's own copy's, for a file or folder given by path); a catalog model missing
on a worker's node is pulled there. The driver hands each worker a batch of consecutive tasks at a
time and the next batch when one comes back.

Execution: the candidates go out in chunks of whole tasks, each chunk one Ray task that runs them in
that node's sandbox (bubblewrap, as locally) and returns their verdicts.

Faults: a worker whose process dies is restarted by Ray and its unfinished batch or chunk is run again
(`max_retries`); the driver keeps the first complete result per task and drops repeats, so the logs
hold each (task, sample) once. If the driver dies, its workers die with it; the same command resumes.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from rrr_cli import config
from rrr_cli.errors import RrrError
from rrr_cli.records import Candidate, Task, Verdict

EXECUTORS = ("local", "ray")
# The most tasks one sampling call takes: llama.cpp's prompt window (its batch stays full across
# tasks), and little to redo when a worker dies.
MAX_BATCH_TASKS = 10
# Environment a worker needs to see the driver's rrr settings (where models and caches live, and any
# setting given as RRR_<SECTION>_<KEY>).
FORWARDED_ENV = ("HF_HUB_OFFLINE", "HF_HOME")


def import_ray():
    """The ray module, or one line saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RrrError("--executor ray needs Ray: pip install 'rrr[ray]'") from None
    return ray


def check_executor(name: str | None) -> str:
    """The executor's canonical name (local when none is given); one line for an unknown one."""
    key = (name or "local").strip().lower()
    if key not in EXECUTORS:
        raise RrrError(f"unknown executor {name!r} (choose from: {', '.join(EXECUTORS)})")
    return key


# --- the model a worker uses -------------------------------------------------------------------------

def model_sha256(model: str) -> str:
    """The sha256 every worker's copy of `model` must have: the catalog's for a catalog name, else that
    of the driver's file (or of a folder's files, names and contents, in sorted order)."""
    from rrr_cli.models import CATALOG, resolve_model, sha256_file

    if model in CATALOG:
        return CATALOG[model].sha256
    path = resolve_model(model, announce=False)
    return _folder_sha256(path) if path.is_dir() else sha256_file(path)


def _folder_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode() + b"\0")
        with open(file, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def verified_model(model: str, expected_sha256: str) -> Path:
    """This node's copy of `model` (a catalog model is pulled if absent), hashed now and compared."""
    from rrr_cli.models import resolve_model, sha256_file

    path = resolve_model(model, announce=False)
    actual = _folder_sha256(path) if path.is_dir() else sha256_file(path)
    if actual != expected_sha256:
        raise RrrError(f"{path} on {_node()} has sha256 {actual[:12]}…, expected {expected_sha256[:12]}… "
                       f"(run `rrr models pull {model} --force` there)")
    return path


def _node() -> str:
    import socket

    return socket.gethostname()


# --- what runs on the workers ----------------------------------------------------------------------

class SamplingWorker:
    """A Ray actor holding one generation backend; `sample` takes a batch of tasks."""

    def __init__(self, model: str, backend: str, expected_sha256: str, n_ctx: int | None, threads: int):
        from rrr_cli.generation.backends import open_backend

        # A problem the user can fix (a damaged model file) is kept for `ready` to raise: an actor whose
        # constructor raises is only reported as dead, without the one line that says why.
        self.problem: RrrError | None = None
        try:
            verified_model(model, expected_sha256)
            self.backend = open_backend(model, backend=backend, n_ctx=n_ctx, threads=threads)
        except RrrError as exc:
            self.problem = exc

    def ready(self) -> dict[str, Any]:
        """Where this worker runs (it answers once its model is loaded and verified)."""
        if self.problem is not None:
            raise self.problem
        return {"pid": os.getpid(), "node": _node(), "backend": self.backend.name}

    def sample(self, tasks: list[Task], params: Any, prompt_style: str) -> tuple[int, list[list[Candidate]]]:
        """(this process's pid, each task's candidates): the pid tells the driver of a restart."""
        from rrr_cli.evaluation.runs import sample_groups

        return os.getpid(), list(sample_groups(tasks, self.backend, params, prompt_style))


def execute_chunk(tasks: list[Task], candidates: list[Candidate], limits: Any, allow_unsandboxed: bool,
                  workers: int) -> list[Verdict]:
    """A Ray task: the verdicts of a chunk of candidates, run in this node's sandbox."""
    from rrr_cli.execution import execute

    return list(execute(tasks, candidates, limits=limits, workers=workers, allow_unsandboxed=allow_unsandboxed))


# --- the driver's side -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RayOptions:
    """How the work spreads over the cluster."""

    address: str | None = None  # None: RAY_ADDRESS, else a local Ray instance started for the run
    workers: int | None = None  # sampling workers (each loads the model); None: cluster CPUs // threads
    threads: int = 1  # CPUs per sampling worker (its backend's threads)
    gpus_per_worker: float = 0.0  # GPUs per sampling worker (vLLM: its tensor-parallel size)
    batch_tasks: int | None = None  # tasks per sampling call; None: spread evenly, at most MAX_BATCH_TASKS
    chunk_candidates: int = 32  # candidates per execution task (whole tasks)
    cpus_per_chunk: int = 1  # CPUs (and sandbox pool workers) per execution task
    max_retries: int = 3  # reruns of a batch or chunk whose worker died

    def check(self) -> None:
        for name in ("threads", "chunk_candidates", "cpus_per_chunk"):
            if getattr(self, name) < 1:
                raise RrrError(f"ray: {name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        for name in ("workers", "batch_tasks"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise RrrError(f"ray: {name.replace('_', '-')} must be at least 1 (got {value})")
        if self.gpus_per_worker < 0:
            raise RrrError(f"ray: gpus-per-worker must be >= 0 (got {self.gpus_per_worker})")
        if self.max_retries < 0:
            raise RrrError(f"ray: max-retries must be >= 0 (got {self.max_retries})")


class RayExecutor:
    """Sampling and sandboxed execution of an eval run on a Ray cluster (see the module's docstring).

    `sample` and `execute` are `run_eval`'s `sampler` and `executor`. Connects on first use: to
    `options.address`, else to RAY_ADDRESS, else to a local instance it starts (and stops in
    `close`); a Ray already initialised in this process (a test's) is used as it is.
    """

    def __init__(self, options: RayOptions | None = None, *, n_ctx: int | None = None):
        self.options = options or RayOptions()
        self.options.check()
        self.ray = import_ray()
        self.n_ctx = n_ctx
        self._started = False
        self.worker_info: list[dict[str, Any]] = []  # the live sampling workers' pid and node
        self.restarts = 0  # sampling workers seen back in a new process (their batch was rerun)

    # connecting ---------------------------------------------------------------------------------

    def connect(self) -> None:
        ray = self.ray
        address = self.options.address or os.environ.get("RAY_ADDRESS") or None
        if address:
            _check_reachable(address)
        if ray.is_initialized():
            return
        try:
            # Workers' output stays off the driver's stdout: rrr's results go there.
            ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING,
                     configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = address or "a local instance"
            raise RrrError(f"ray: cannot connect to {where}: {str(exc).splitlines()[0]}") from None
        self._started = True

    def close(self) -> None:
        if self._started and self.ray.is_initialized():
            self.ray.shutdown()
        self._started = False

    def __enter__(self) -> "RayExecutor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _runtime_env(self) -> dict[str, Any]:
        env = {k: v for k, v in os.environ.items() if k.startswith("RRR_") or k in FORWARDED_ENV}
        return {"env_vars": env} if env else {}

    def _default_workers(self) -> int:
        """As many workers as the cluster has room for: its CPUs (and GPUs, when workers take some)."""
        resources = self.ray.cluster_resources()
        count = int(resources.get("CPU", 1) // self.options.threads)
        if self.options.gpus_per_worker:
            count = min(count, int(resources.get("GPU", 0) // self.options.gpus_per_worker))
        return max(1, count)

    # sampling -----------------------------------------------------------------------------------

    def sample(self, tasks: Sequence[Task], settings: Any, params: Any) -> Iterator[list[Candidate]]:
        """Each task's candidates, as the workers return them (a batch at a time, in any order)."""
        ray = self.ray
        self.connect()
        opts = self.options
        count = opts.workers or self._default_workers()
        count = min(count, len(tasks))
        size = opts.batch_tasks or min(MAX_BATCH_TASKS, math.ceil(len(tasks) / count))
        batches = deque(list(tasks[i:i + size]) for i in range(0, len(tasks), size))
        count = min(count, len(batches))
        expected = model_sha256(settings.model)
        remote = ray.remote(SamplingWorker).options(
            num_cpus=opts.threads, num_gpus=opts.gpus_per_worker, max_restarts=opts.max_retries, max_task_retries=opts.max_retries,
            runtime_env=self._runtime_env())
        workers = [remote.remote(settings.model, settings.backend, expected, self.n_ctx, opts.threads)
                   for _ in range(count)]
        try:
            # Every worker loads and verifies its model before any sampling starts.
            self.worker_info = [self._get(ref, "a sampling worker") for ref in
                                [worker.ready.remote() for worker in workers]]
            inflight: dict[Any, int] = {}

            def submit(index: int) -> None:
                if batches:
                    batch = batches.popleft()
                    inflight[workers[index].sample.remote(batch, params, settings.prompt_style)] = index

            for index in range(len(workers)):
                submit(index)
            while inflight:
                [ref], _ = ray.wait(list(inflight), num_returns=1)
                index = inflight.pop(ref)
                # A worker that died was restarted and its batch rerun by Ray (max_task_retries); an
                # error here means it died more often than that.
                pid, groups = self._get(ref, "a sampling worker")
                if pid != self.worker_info[index]["pid"]:
                    self.restarts += 1
                    self.worker_info[index] = {**self.worker_info[index], "pid": pid}
                submit(index)
                yield from groups
        finally:
            for worker in workers:
                ray.kill(worker)
            self.worker_info = []

    # execution ----------------------------------------------------------------------------------

    def execute(self, tasks: Sequence[Task], candidates: Sequence[Candidate], advance: Callable[[int], None],
                limits: Any = None) -> Iterator[Verdict]:
        """Verdicts for `candidates`, a chunk of whole tasks per Ray task, as the chunks finish (`limits`:
        the sandbox's, default from the settings)."""
        from rrr_cli.execution.sandbox import Limits

        ray = self.ray
        self.connect()
        opts = self.options
        limits = limits or Limits.from_config()
        allow = bool(config.get("execution.allow_unsandboxed", None))
        by_id = {task.task_id: task for task in tasks}
        remote = ray.remote(execute_chunk).options(num_cpus=opts.cpus_per_chunk, max_retries=opts.max_retries,
                                                   runtime_env=self._runtime_env())
        inflight = {}
        for chunk in _chunks(candidates, opts.chunk_candidates):
            chunk_tasks = [by_id[task_id] for task_id in dict.fromkeys(c.task_id for c in chunk)]
            inflight[remote.remote(chunk_tasks, chunk, limits, allow, opts.cpus_per_chunk)] = chunk
        try:
            while inflight:
                [ref], _ = ray.wait(list(inflight), num_returns=1)
                chunk = inflight.pop(ref)
                verdicts = self._get(ref, "an execution task")
                advance(len(chunk))
                yield from verdicts
        finally:
            for ref in inflight:
                ray.cancel(ref, force=True)

    def _get(self, ref: Any, what: str) -> Any:
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            raise _user_error(exc) from None
        except ray.exceptions.RayError as exc:
            raise RrrError(f"ray: {what} failed more than {self.options.max_retries} times ({_first_line(exc)}); "
                           "what finished is kept: the same command resumes") from None


@contextlib.contextmanager
def executor_for(name: str, options: RayOptions | None = None, n_ctx: int | None = None
                 ) -> Iterator[RayExecutor | None]:
    """What a command's `--executor NAME` gives: None for local (the caller's own backend and sandbox
    pool), a connected RayExecutor for ray (disconnected afterwards)."""
    if check_executor(name) != "ray":
        yield None
        return
    with RayExecutor(options, n_ctx=n_ctx) as cluster:
        cluster.connect()
        yield cluster


def _check_reachable(address: str) -> None:
    """A quick TCP look at a HOST:PORT (or ray://HOST:PORT) address: Ray itself retries an unreachable one
    for minutes, printing as it goes."""
    import socket

    if address in ("auto", "local"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise RrrError(f"ray: address {address!r} is not HOST:PORT (or auto)")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise RrrError(f"ray: cannot reach {address}: {exc.strerror or exc} (is `ray start --head` running "
                       "there?)") from None


def _chunks(candidates: Iterable[Candidate], size: int) -> Iterator[list[Candidate]]:
    """Consecutive candidates in chunks of whole tasks, each at least `size` long where there are enough."""
    chunk: list[Candidate] = []
    for candidate in candidates:
        if len(chunk) >= size and candidate.task_id != chunk[-1].task_id:
            yield chunk
            chunk = []
        chunk.append(candidate)
    if chunk:
        yield chunk


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


def _user_error(exc: Any) -> RrrError:
    """A worker's own RrrError (a bad model file, no sandbox on that node) as the one line it is."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, RrrError):
        return RrrError(str(cause))
    return RrrError(f"ray: a worker failed: {_first_line(cause or exc)}")
