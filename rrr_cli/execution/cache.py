"""A content-addressed cache of run results, so rerunning eval or selftrain does not execute again.

The key is sha256 of the language's definition, the program and the limits; each entry is one small
JSON file under `<cache>/verdicts/<2 hex>/<sha256>.json`, written atomically. Results that depend on
the machine rather than the program (sandbox errors, missing toolchains) are never stored.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rrr_cli import config
from rrr_cli.atomic import atomic_write_text
from rrr_cli.execution.languages import get_language
from rrr_cli.execution.runner import RunResult
from rrr_cli.execution.sandbox import Limits

# Bump when the way a run is classified changes, so old entries stop matching.
ENGINE_VERSION = 1


def harness_key(language: str) -> str:
    """A short digest of how `language`'s programs are run and judged (its execution spec, the proof
    that the tests finished among it): a verdict logged under another digest is not trusted."""
    spec = get_language(language).execution_spec()
    material = json.dumps([ENGINE_VERSION, spec], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:16]


def cache_key(language: str, program: str, limits: Limits) -> str:
    # Only what decides the run (see Language.execution_spec): verdicts stay cached across changes to
    # the probe templates, prompts and task-file templates.
    spec = get_language(language).execution_spec()
    material = json.dumps([ENGINE_VERSION, spec, program, limits.key()], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


class VerdictCache:
    """Run results on disk by content hash."""

    def __init__(self, root: Path | None = None):
        self.root = root or config.data_path("cache") / "verdicts"

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def get(self, key: str) -> RunResult | None:
        try:
            data = json.loads(self._path(key).read_text(encoding="utf-8"))
            return RunResult(**data)
        except (OSError, ValueError, TypeError):
            return None  # absent or unreadable: run again

    def put(self, key: str, result: RunResult) -> None:
        if result.status == "sandbox_error":
            return
        atomic_write_text(self._path(key), json.dumps(result.to_dict(), ensure_ascii=False))
