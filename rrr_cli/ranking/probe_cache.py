"""Generated probes, kept on disk: the calls a model wrote for a task are asked for once per model.

`rrr eval` and `rrr solve` score with consensus over the prompt's examples, their mutations and the
calls the generator writes (`probe_inputs.generated_inputs`: two short greedy generations per task,
one opened on the first call and one free, `probe_inputs.STYLES`).
That generation costs a few seconds a task on a CPU, so its result is kept under
`<cache>/probes/<2 hex>/<sha256>.json`, one file per request style, keyed by the model and the exact
request (its messages, the number of calls, the token budget): an eval rerun, or `rrr solve` on the same file, asks nothing again.
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
from typing import Callable, Sequence

from rrr_cli import config
from rrr_cli.atomic import atomic_write_text
from rrr_cli.generation.base import Backend
from rrr_cli.ranking.probe_inputs import GENERATED_CALLS, STYLES, combined_calls, generate_calls, generation_request
from rrr_cli.records import Task

# Per request style: bump when parsing or the request changes in a way the key does not see. The
# free style's request is the one asked before the opened style existed, so its entries still serve.
VERSIONS = {"opened": 2, "free": 1}


class GeneratedProbes:
    """The calls `model` writes for each task: from disk, else asked of the backend (and kept).

    Give either a `backend` that is already open (`rrr solve`'s sampler) or `open_backend`, a callable
    that opens one the first time a task is not cached (`rrr eval`, whose sampler is closed by then);
    `close` closes only a backend opened here. `seconds` is the generation time this object spent.
    """

    def __init__(self, model: str, backend: Backend | None = None,
                 open_backend: Callable[[], Backend] | None = None, root: Path | None = None):
        self.model = model
        self.backend = backend
        self.open_backend = open_backend
        self.root = root or config.data_path("cache") / "probes"
        self.seconds = 0.0
        self.asked = 0
        self._opened = False
        self._memo: dict[str, list[str]] = {}

    def key(self, task: Task, style: str = "opened") -> str:
        opened = style == "opened"
        material = json.dumps([VERSIONS[style], self.model, task.language,
                               generation_request(task, GENERATED_CALLS, opened), STYLES[style]],
                              sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(material.encode("utf-8")).hexdigest()

    def path(self, task: Task, style: str = "opened") -> Path:
        key = self.key(task, style)
        return self.root / key[:2] / f"{key}.json"

    def entry(self, task: Task, style: str) -> dict | None:
        """The stored reply of one request style for a task (reply, seconds, n_tokens, model), or None."""
        try:
            entry = json.loads(self.path(task, style).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # absent or unreadable: ask again
        if not isinstance(entry, dict) or not isinstance(entry.get("reply"), str):
            return None
        return entry

    def cached(self, task: Task) -> dict | None:
        """Both stored replies for a task, as one entry (`replies` by style, `seconds` and `n_tokens`
        summed); None unless every style is on disk."""
        entries = {style: self.entry(task, style) for style in STYLES}
        if any(entry is None for entry in entries.values()):
            return None
        return {"model": self.model, "task_id": task.task_id,
                "replies": {style: entry["reply"] for style, entry in entries.items()},
                "seconds": sum(float(entry.get("seconds") or 0) for entry in entries.values()),
                "n_tokens": sum(int(entry.get("n_tokens") or 0) for entry in entries.values())}

    def inputs(self, task: Task) -> list[str]:
        """The task's generated call inputs (parsed from the replies, so a parser fix needs no new ask)."""
        if task.task_id not in self._memo:
            self.prefetch([task])
        return self._memo[task.task_id]

    def prefetch(self, tasks: Sequence[Task]) -> None:
        """Ask the model, one batched call per request style, for every task here that is neither
        remembered nor on disk."""
        tasks = [task for task in dict((t.task_id, t) for t in tasks).values() if task.task_id not in self._memo]
        replies: dict[str, dict[str, str]] = {task.task_id: {} for task in tasks}
        for style in STYLES:
            missing = []
            for task in tasks:
                entry = self.entry(task, style)
                if entry is None:
                    missing.append(task)
                else:
                    replies[task.task_id][style] = entry["reply"]
            if not missing:
                continue
            backend = self._backend()
            started = time.perf_counter()
            generations = generate_calls(missing, backend, opened=style == "opened")
            seconds = time.perf_counter() - started
            self.seconds += seconds
            self.asked += len(missing)
            for task, reply in zip(missing, generations):
                # A batch's wall time, shared out: what each task's probes cost.
                entry = {"model": self.model, "task_id": task.task_id, "style": style, "reply": reply.text,
                         "n_tokens": reply.n_tokens, "seconds": round(seconds / len(missing), 3),
                         "batch": len(missing)}
                atomic_write_text(self.path(task, style), json.dumps(entry, ensure_ascii=False))
                replies[task.task_id][style] = reply.text
        for task in tasks:
            self._memo[task.task_id] = combined_calls(task, (replies[task.task_id][style] for style in STYLES))

    def _backend(self) -> Backend:
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


__all__ = ["GeneratedProbes", "VERSIONS"]
