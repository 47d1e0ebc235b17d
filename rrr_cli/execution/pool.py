"""The worker pool: many programs at once, in input order, through the verdict cache.

Workers are threads: each one only waits on its sandboxed subprocess, so the GIL is no bottleneck
and there is nothing to pickle.
"""

from __future__ import annotations

import collections
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from typing import Callable, Iterable, Iterator

from rrr_cli import config
from rrr_cli.errors import RrrError
from rrr_cli.execution.cache import VerdictCache, cache_key
from rrr_cli.execution.languages import get_language
from rrr_cli.execution.runner import RunResult, assemble, run_program
from rrr_cli.execution.sandbox import Limits, require_sandbox
from rrr_cli.records import Candidate, Task, Verdict

Progress = Callable[[int, int], None]


def worker_count(workers: int | None = None) -> int:
    value = config.resolved("execution.workers", workers, lambda v: isinstance(v, int) and v >= 0,
                            "must be 0 (one per core) or a positive number")
    return value or config.cpu_count()


class _Runner:
    """Runs one job, consulting and filling the cache."""

    def __init__(self, limits: Limits | None, cache: bool, allow_unsandboxed: bool | None):
        self.limits = limits or Limits.from_config()
        self.sandboxed = require_sandbox(allow_unsandboxed)  # refuse before anything runs
        self.cache = VerdictCache() if cache else None

    def __call__(self, language: str, program: str) -> RunResult:
        key = cache_key(language, program, self.limits) if self.cache else ""
        if self.cache and (hit := self.cache.get(key)) is not None:
            return hit
        result = run_program(language, program, self.limits, sandboxed=self.sandboxed)
        if self.cache:
            self.cache.put(key, result)
        return result


def run_programs(jobs: list[tuple[str, str]], limits: Limits | None = None, workers: int | None = None,
                 progress: Progress | None = None, *, cache: bool = True,
                 allow_unsandboxed: bool | None = None) -> list[RunResult]:
    """Run (language, program) jobs in the pool; results in input order. Identical jobs run once."""
    for language, _ in jobs:
        get_language(language)
    runner = _Runner(limits, cache, allow_unsandboxed)
    unique = list(dict.fromkeys(jobs))
    results: dict[tuple[str, str], RunResult] = {}
    with ThreadPoolExecutor(max_workers=worker_count(workers)) as pool:
        futures = {pool.submit(runner, language, program): (language, program) for language, program in unique}
        for done, future in enumerate(as_completed(futures), start=1):
            results[futures[future]] = future.result()
            if progress:
                progress(done, len(unique))
    return [results[job] for job in jobs]


def execute(tasks: Iterable[Task], candidates: Iterable[Candidate], *, limits: Limits | None = None,
            workers: int | None = None, cache: bool = True, progress: Progress | None = None,
            allow_unsandboxed: bool | None = None) -> Iterator[Verdict]:
    """Verdicts for a stream of candidates, in candidate order, running up to `workers` at once.

    Each candidate's program is its task's prompt + the candidate's completion + the task's tests.
    `progress(done, total)` counts candidates; for a stream, total is how many have been read so far.
    """
    by_id = {task.task_id: task for task in tasks}
    runner = _Runner(limits, cache, allow_unsandboxed)
    count = worker_count(workers)
    total = len(candidates) if isinstance(candidates, (list, tuple)) else None
    window: collections.deque[tuple[Candidate, Future]] = collections.deque()
    read = finished = 0
    with ThreadPoolExecutor(max_workers=count) as pool:
        def drain(keep: int) -> Iterator[Verdict]:
            nonlocal finished
            while len(window) > keep:
                candidate, future = window.popleft()
                finished += 1
                if progress:
                    progress(finished, total or read)
                yield future.result().to_verdict(candidate.task_id, candidate.sample_id)

        for candidate in candidates:
            task = by_id.get(candidate.task_id)
            if task is None:
                raise RrrError(f"candidate {candidate.task_id}#{candidate.sample_id}: no such task in the "
                               f"task source(s) ({len(by_id)} tasks loaded)")
            get_language(candidate.language)
            read += 1
            window.append((candidate, pool.submit(runner, candidate.language,
                                                  assemble(task, candidate.completion))))
            yield from drain(keep=count * 4)
        yield from drain(keep=0)
