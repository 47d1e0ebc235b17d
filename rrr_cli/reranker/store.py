"""Saved rerankers: the files of one, and the directories that hold them.

A trained reranker is a small directory under `config.data_path("rerankers")/<name>/`: `adapter/`
(peft LoRA weights; a head trained alone on llama.cpp states, or on none, has no adapter),
`head.safetensors` and `manifest.json` (base model and its sha256, settings, training data,
metrics, date). The base weights and tokenizer are not copied: the manifest names the base model,
and loading checks its sha256. It is written to a temporary directory and renamed into place, so a
reranker is whole or absent. Rerankers that come with rrr sit in the package's `data/rerankers/`.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import typing
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from rrr_cli import config
from rrr_cli.errors import RrrError
from rrr_cli.records import check_value, read_json_file
from rrr_cli.reranker.base_model import BaseModelInfo, base_model_info
from rrr_cli.reranker.settings import RewardModelSettings, check_states

MANIFEST = "manifest.json"
HEAD_FILE = "head.safetensors"
ADAPTER_DIR = "adapter"
FORMAT_VERSION = 1

# What a manifest's fields must be where present (older rerankers lack some of them).
MANIFEST_FIELDS: dict[str, Any] = {"format": int, "name": str, "created": str, "base_model": dict, "settings": dict}
BASE_MODEL_FIELDS: dict[str, Any] = {"spec": str | None, "path": str | None, "sha256": str | None}


# --- one reranker's files ---------------------------------------------------------------------------

def write_reranker(directory: str | os.PathLike, base: BaseModelInfo, settings: RewardModelSettings, head,
                   manifest: dict[str, Any] | None = None, adapters=None) -> tuple[Path, dict[str, Any]]:
    """Write a reranker atomically (a temp dir renamed into place): the torch `head`'s weights, the
    manifest (`manifest` adds to it) and, when given, the peft model `adapters`' LoRA weights.
    Any existing reranker at `directory` is replaced only once the new one is complete.
    Returns its directory and its manifest."""
    from safetensors.torch import save_file  # deferred: safetensors.torch imports torch

    target = Path(directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if adapters is not None:
            adapters.save_pretrained(tmp / ADAPTER_DIR)
        save_file({k: v.detach().cpu().contiguous() for k, v in head.state_dict().items()},
                  str(tmp / HEAD_FILE))
        data = {
            "format": FORMAT_VERSION,
            "name": target.name,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "base_model": base.to_dict(),
            "settings": settings.to_dict(),
            **(manifest or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for path in tmp.rglob("*"):
            if path.is_file():
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}")
            os.replace(target, old)
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target, data


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise RrrError(f"{directory}: not a reranker (no {MANIFEST})")
    data = read_json_file(path, "manifest")
    if not isinstance(data, dict):
        raise RrrError(f"{path}: manifest is not a JSON object")
    for key, hint in MANIFEST_FIELDS.items():
        if key in data:
            check_value(data[key], hint, f"{path}: manifest field {key!r}")
    for key, hint in BASE_MODEL_FIELDS.items():
        if key in data.get("base_model", {}):
            check_value(data["base_model"][key], hint, f"{path}: manifest field 'base_model.{key}'")
    hints = typing.get_type_hints(RewardModelSettings)
    for key, value in data.get("settings", {}).items():
        if key in hints:
            check_value(value, hints[key], f"{path}: manifest field 'settings.{key}'")
    return data


def saved_settings(manifest: dict[str, Any], directory: Path) -> RewardModelSettings:
    """The settings a manifest records (one saved before pooling was a setting read the last token)."""
    saved = {"pooling": "last", **(manifest.get("settings") or {})}
    settings = RewardModelSettings(**{k: v for k, v in saved.items()
                                      if k in RewardModelSettings.__dataclass_fields__})
    check_states(settings.states, f"{directory / MANIFEST}: ")
    return settings


def saved_base(manifest: dict[str, Any], directory: Path, check_base: bool = True) -> BaseModelInfo:
    """The base model a manifest names, found here (its spec, then its recorded path); it must have the
    recorded sha256 unless `check_base` is false."""
    base = manifest.get("base_model") or {}
    info = _find_base(base, directory)
    if check_base and base.get("sha256") and info.sha256 != base["sha256"]:
        raise RrrError(f"{directory}: base model {info.path} does not match the one this reranker "
                       f"was trained on (sha256 {info.sha256[:12]}… != {base['sha256'][:12]}…)")
    return info


def _find_base(base: dict[str, Any], directory: Path) -> BaseModelInfo:
    spec = base.get("spec")
    path = base.get("path")
    if spec is None and path is None:
        raise RrrError(f"{directory / MANIFEST}: no base model recorded")
    for candidate in (spec, path):
        if candidate is None:
            continue
        try:
            info = base_model_info(candidate)
        except RrrError:
            continue
        return info
    raise RrrError(f"{directory}: its base model {spec or path} is not available here")


def read_head(directory: Path, head):
    """The torch `head` with the weights saved in `directory`."""
    from safetensors.torch import load_file  # deferred: safetensors.torch imports torch

    try:
        head.load_state_dict(load_file(str(directory / HEAD_FILE)))
    except (OSError, RuntimeError) as exc:
        raise RrrError(f"{directory}: cannot load the reranker's head: {exc}") from None
    return head


def read_head_arrays(directory: Path) -> dict[str, Any]:
    """The head's weights saved in `directory` as numpy arrays, by name (no torch is imported)."""
    from safetensors.numpy import load_file  # deferred: numpy (listing rerankers needs none)

    try:
        return load_file(str(directory / HEAD_FILE))
    except (OSError, SafetensorError) as exc:
        raise RrrError(f"{directory}: cannot load the reranker's head: {exc}") from None


# --- the rerankers directory ------------------------------------------------------------------------

def rerankers_dir() -> Path:
    """Where trained rerankers live: `<cache>/rerankers/<name>/`."""
    return config.data_path("rerankers")


def shipped_rerankers_dir() -> Path:
    """The rerankers that come with rrr (a head and a manifest each; `rerank.shipped` turns them off)."""
    return Path(__file__).parent.parent / "data" / "rerankers"


def is_shipped(directory: Path) -> bool:
    return Path(directory).parent == shipped_rerankers_dir()


def _rerankers_in(root: Path) -> list[tuple[str, Path, dict[str, Any]]]:
    found = []
    for entry in root.iterdir() if root.is_dir() else []:
        if entry.name.startswith(".") or not (entry / MANIFEST).is_file():
            continue
        try:
            manifest = read_manifest(entry)
        except RrrError:
            continue
        found.append((entry.name, entry, manifest))
    found.sort(key=lambda item: (str(item[2].get("created", "")), (item[1] / MANIFEST).stat().st_mtime),
               reverse=True)
    return found


def list_rerankers(shipped: bool = False) -> list[tuple[str, Path, dict[str, Any]]]:
    """(name, directory, manifest) of every complete trained reranker, newest first; with `shipped`,
    then those that come with rrr (unless the setting `rerank.shipped` is off)."""
    found = _rerankers_in(rerankers_dir())
    if shipped and config.get("rerank.shipped"):
        names = {name for name, _, _ in found}
        found += [item for item in _rerankers_in(shipped_rerankers_dir()) if item[0] not in names]
    return found


def newest_reranker() -> Path | None:
    """The newest trained reranker, else a shipped one."""
    found = list_rerankers(shipped=True)
    return found[0][1] if found else None


def find_reranker(name_or_path: str | os.PathLike | None) -> Path:
    """A reranker directory from a name (trained, then shipped) or a path; None means the newest."""
    if name_or_path is None:
        newest = newest_reranker()
        if newest is None:
            raise RrrError("no trained reranker yet (train one with `rrr train-reranker`)")
        return newest
    path = Path(name_or_path).expanduser()
    if (path / MANIFEST).is_file():
        return path
    if os.sep not in str(name_or_path):
        for root in (rerankers_dir(), shipped_rerankers_dir()):
            if (root / str(name_or_path) / MANIFEST).is_file():
                return root / str(name_or_path)
    known = ", ".join(name for name, _, _ in list_rerankers(shipped=True)) or "none trained yet"
    raise RrrError(f"no reranker {str(name_or_path)!r} (known: {known})")


def new_reranker_name(prefix: str = "reranker") -> str:
    """A fresh, sortable name: reranker-YYYYmmdd-HHMMSS."""
    return f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
