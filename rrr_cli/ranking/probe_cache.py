"""Generated probes, kept on disk: the calls a model wrote for a task are asked for once per model.

`rrr eval` and `rrr solve` score with consensus over the prompt's examples, their mutations and the
calls the generator writes (`probe_inputs.generated_inputs`, one short greedy generation per task).
That generation costs a few seconds a task on a CPU, so its result is kept under
`<cache>/probes/<2 hex>/<sha256>.json`, keyed by the model and the exact request (its messages, the
number of calls, the token budget): an eval rerun, or `rrr solve` on the same file, asks nothing again.
An entry also keeps the model's raw reply and the seconds it took, so the cost can be reported later
(`benchmarks/probe_cost.py`).

The backend is opened only when a task's probes are not on disk (`open_backend`, called at most once),
so a fully cached run never loads the model.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

from rrr_cli import config
from rrr_cli.atomic import atomic_write_text
from rrr_cli.ranking.probe_inputs import (GENERATED_CALLS, GENERATION_TOKENS, generate_calls, generation_request,
                                          parse_generated)
from rrr_cli.records import Task

if TYPE_CHECKING:
    from rrr_cli.generation.base import Backend

# Bump when parsing or the request changes in a way the key does not see.
VERSION = 2  # 2: the reply opens on the first call (`probe_inputs.call_opening`)


class GeneratedProbes:
    """The calls `model` writes for each task: from disk, else asked of the backend (and kept).

    Give either a `backend` that is already open (`rrr solve`'s sampler) or `open_backend`, a callable
    that opens one the first time a task is not cached (`rrr eval`, whose sampler is closed by then);
    `close` closes only a backend opened here. `seconds` is the generation time this object spent.
    """

    def __init__(self, model: str, backend: "Backend | None" = None,
                 open_backend: Callable[[], "Backend"] | None = None, root: Path | None = None):
        self.model = model
        self.backend = backend
        self.open_backend = open_backend
        self.root = root or config.data_path("cache") / "probes"
        self.seconds = 0.0
        self.asked = 0
        self._opened = False
        self._memo: dict[str, list[str]] = {}

    def key(self, task: Task) -> str:
        material = json.dumps([VERSION, self.model, task.language, generation_request(task, GENERATED_CALLS),
                               GENERATION_TOKENS], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def path(self, task: Task) -> Path:
        key = self.key(task)
        return self.root / key[:2] / f"{key}.json"

    def cached(self, task: Task) -> dict | None:
        """The stored entry for a task (inputs, reply, seconds, n_tokens, model), or None."""
        try:
            entry = json.loads(self.path(task).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent or unreadable: ask again
        if not isinstance(entry, dict) or not isinstance(entry.get("reply"), str):
            return None
        return entry

    def inputs(self, task: Task) -> list[str]:
        """The task's generated call inputs (parsed from the reply, so a parser fix needs no new ask)."""
        if task.task_id not in self._memo:
            self.prefetch([task])
        return self._memo[task.task_id]

    def prefetch(self, tasks: Sequence[Task]) -> None:
        """Ask the model, in one batched call, for every task here that is neither remembered nor on disk."""
        entries = {}
        missing = []
        for task in tasks:
            if task.task_id in self._memo or task.task_id in entries:
                continue
            entry = self.cached(task)
            if entry is None:
                missing.append(task)
            else:
                entries[task.task_id] = entry
        if missing:
            backend = self._backend()
            started = time.perf_counter()
            replies = generate_calls(missing, backend)
            seconds = time.perf_counter() - started
            self.seconds += seconds
            self.asked += len(missing)
            for task, reply in zip(missing, replies):
                # A batch's wall time, shared out: what each task's probes cost.
                entry = {"model": self.model, "task_id": task.task_id, "reply": reply.text,
                         "n_tokens": reply.n_tokens, "seconds": round(seconds / len(missing), 3),
                         "batch": len(missing)}
                atomic_write_text(self.path(task), json.dumps(entry, ensure_ascii=False))
                entries[task.task_id] = entry
        for task in tasks:
            if task.task_id in entries:
                self._memo[task.task_id] = parse_generated(task, entries[task.task_id]["reply"])

    def _backend(self) -> "Backend":
        if self.backend is None:
            if self.open_backend is None:
                raise RuntimeError("GeneratedProbes needs a backend or open_backend to ask the model")
            self.backend = self.open_backend()
            self._opened = True
        return self.backend

    def close(self) -> None:
        if self._opened and self.backend is not None:
            self.backend.close()
            self.backend = None
            self._opened = False


__all__ = ["GeneratedProbes", "VERSION"]
