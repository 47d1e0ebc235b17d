"""A run's directory: `runs/<run-id>/run.toml`, `heldout/`, `iter-<i>/...`, every file written atomically.

A step is done when its artifact exists. Files are renamed into place when complete and folders are
built beside their final name and renamed in one move, so after a crash (even SIGKILL) an artifact
is either whole or absent, and `--resume` redoes exactly the steps whose artifacts are absent.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator

from rrr_cli import config
from rrr_cli.atomic import atomic_dir, atomic_write_text, exclusive_lock
from rrr_cli.errors import RrrError
from rrr_cli.records import Record, read_json_file, read_records, write_records
from rrr_cli.selftrain.settings import SelfTrainConfig, read_toml, to_toml

RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def runs_root() -> Path:
    return config.data_path("runs")


def new_run_id() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def find_run(run: str) -> Path:
    """A run folder from a run id (under the cache's runs/) or a path to the folder."""
    path = Path(run).expanduser()
    if not (path / "run.toml").is_file():
        path = runs_root() / run
    if not (path / "run.toml").is_file():
        raise RrrError(f"no selftrain run {run!r} (looked for {path / 'run.toml'})")
    return path


class RunStore:
    """The artifacts of one run."""

    def __init__(self, root: Path):
        self.root = root

    @classmethod
    def create(cls, config: SelfTrainConfig, run_id: str | None = None) -> "RunStore":
        run_id = run_id or new_run_id()
        if not RUN_ID.match(run_id):
            raise RrrError(f"bad run id {run_id!r}: use letters, digits, '.', '_' and '-'")
        root = runs_root() / run_id
        if (root / "run.toml").exists():
            raise RrrError(f"run {run_id!r} already exists at {root}; continue it with --resume {run_id}")
        root.mkdir(parents=True, exist_ok=True)
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        atomic_write_text(root / "run.toml", to_toml(config, run_id, created))
        return cls(root)

    @property
    def run_id(self) -> str:
        return self.root.name

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One process at a time per run, so two `--resume`s of one run never interleave its steps."""
        with exclusive_lock(self.root / ".lock") as held:
            if not held:
                raise RrrError(f"another `rrr selftrain` is using {self.root}; wait for it to finish")
            yield

    def config(self) -> SelfTrainConfig:
        return read_toml(self.root / "run.toml")[0]

    def iter_dir(self, iteration: int) -> Path:
        return self.root / f"iter-{iteration}"

    def path(self, *parts: str | int) -> Path:
        return self.root.joinpath(*[str(p) for p in parts])

    # -- reading and writing artifacts -----------------------------------------------------------

    @staticmethod
    def done(path: Path) -> bool:
        return path.exists()

    @staticmethod
    def write_jsonl(path: Path, records: Iterable[Record | dict[str, Any]]) -> int:
        return write_records(path, records)

    @staticmethod
    def read_jsonl(path: Path, record_type: type) -> list:
        return list(read_records(path, record_type))

    @staticmethod
    def write_json(path: Path, data: Any) -> None:
        atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")

    @staticmethod
    def read_json(path: Path) -> Any:
        return read_json_file(path)

    @staticmethod
    @contextlib.contextmanager
    def building(path: Path) -> Iterator[Path]:
        """A staging folder that becomes `path` in one rename when the block finishes without error."""
        with atomic_dir(path) as staging:
            yield staging

    def clean_staging(self) -> None:
        """Remove staging files and folders a killed process left behind (they are never artifacts)."""
        for leftover in self.root.rglob(".*.tmp"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)

    # -- stage timings (kept apart from the artifacts, which must not depend on the clock) --------

    def record_timing(self, iteration: int | str, stage: str, seconds: float) -> None:
        path = self.root / "timings.json"
        timings = self.read_json(path) if path.exists() else {}
        timings.setdefault(str(iteration), {})[stage] = round(seconds, 2)
        self.write_json(path, timings)

    def timings(self) -> dict[str, dict[str, float]]:
        path = self.root / "timings.json"
        return self.read_json(path) if path.exists() else {}
