"""Task sources: a task file (`task.py`, `Task.java`, ...), a JSONL file of tasks, or a benchmark name."""

from __future__ import annotations

from pathlib import Path

from rrr_cli.errors import RrrError
from rrr_cli.records import Task, read_records
from rrr_cli.tasks.benchmarks import BENCHMARKS, is_benchmark, load_benchmark
from rrr_cli.tasks.taskfile import EXTENSIONS, load_task_file

__all__ = ["load_tasks", "load_source", "BENCHMARKS", "EXTENSIONS"]


def load_source(source: str, split: str | None = None) -> list[Task]:
    """All tasks of one source, whatever its kind."""
    path = Path(source)
    if path.suffix == ".jsonl" or (path.is_file() and path.suffix in (".json", ".ndjson")):
        return list(read_records(path, Task))
    if path.suffix in EXTENSIONS:
        return [load_task_file(path)]
    if is_benchmark(source):
        return load_benchmark(source, split=split)
    if path.exists():
        raise RrrError(f"{source}: unknown task file type {path.suffix or '(no extension)'!r} "
                       f"(known: .jsonl, {', '.join(sorted(EXTENSIONS))})")
    raise RrrError(f"{source}: no such file or benchmark (benchmarks: {', '.join(BENCHMARKS)})")


def load_tasks(sources: list[str], limit: int | None = None, split: str | None = None) -> list[Task]:
    """Tasks from several sources in order; `limit` applies to each source."""
    if limit is not None and limit < 1:
        raise RrrError(f"--limit must be at least 1 (got {limit})")
    tasks: list[Task] = []
    for source in sources:
        loaded = load_source(source, split=split)
        tasks.extend(loaded[:limit] if limit else loaded)
    seen: set[str] = set()
    for task in tasks:
        if task.task_id in seen:
            raise RrrError(f"task id {task.task_id!r} appears twice; task ids must be unique")
        seen.add(task.task_id)
    return tasks
