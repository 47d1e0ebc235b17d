"""Pooled trunk states, kept: a frozen reward-model trunk evaluates a text once, on this machine.

With no trainable layers (`rrr train-reranker`'s default recipe) the head reads each text's pooled
final state, which depends only on the base weights and the text. Computing it is the whole cost of
training and of scoring (a few hundred tokens a second on a 2-core CPU), so a state once computed is
kept: in memory for the process, and on disk under `<cache>/cache/pooled-states/<store>/`, where
`<store>` names the base weights (the start of their sha256), the pooling, the precision and the
device kind (each gives slightly different numbers). So the second fold of `rrr train-reranker
--folds 2`, the held-out scoring after each, a `--features text` run on the same candidates and
`rrr eval --reranker` on them read the states instead of running the trunk again.

A store is a folder of safetensors shards, one per batch of new texts (written beside and renamed,
so a shard is whole or absent); each tensor is named by the sha256 of its text's token ids and
completion start. Past `MAX_SHARDS` shards they are merged into one. States are float32 numpy rows
(read and written with safetensors' numpy API): a reranker that scores from llama.cpp's states never
imports torch, which takes longer to import than such a reranker takes to score a `rrr solve`.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any, Iterable, Sequence

from rrr_cli import config

MAX_SHARDS = 64


def text_key(ids: Sequence[int], start: int) -> str:
    """The name of a text's state: the sha256 of its completion start and token ids."""
    return hashlib.sha256(f"{start}:{','.join(map(str, ids))}".encode()).hexdigest()


class PooledStates:
    """The kept states of one store (see the module docstring); `get` and `put` by `text_key`."""

    def __init__(self, store: str, root: Path | None = None):
        self.folder = (root or config.data_path("cache") / "pooled-states") / store
        self.states: dict[str, Any] = {}
        self._read = False

    def get(self, key: str):
        self._load()
        return self.states.get(key)

    def put(self, new: dict[str, Any]) -> None:
        """Keep `new` (key -> 1-d float32 row: a numpy array or a CPU tensor) in memory and write them
        as one shard."""
        if not new:
            return
        new = {key: _array(value) for key, value in new.items()}
        self._load()
        self.states.update(new)
        self._write(new)
        shards = self._shards()
        if len(shards) > MAX_SHARDS:
            self._read_shards(shards)  # shards other processes wrote since this one loaded: kept too
            self._write(dict(self.states))
            for shard in shards:
                shard.unlink(missing_ok=True)

    def _shards(self) -> list[Path]:
        return sorted(self.folder.glob("*.safetensors")) if self.folder.is_dir() else []

    def _load(self) -> None:
        if self._read:
            return
        self._read = True
        self._read_shards(self._shards())

    def _read_shards(self, shards: list[Path]) -> None:
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        for shard in shards:
            try:
                self.states.update(load_file(str(shard)))
            except (OSError, SafetensorError):  # merged away by another process, or not ours: skip
                continue

    def _write(self, states: dict[str, Any]) -> None:
        from safetensors.numpy import save_file

        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.safetensors"
        partial = self.folder / f".{name}.part"
        save_file(states, str(partial))
        os.replace(partial, self.folder / name)


def _array(value):
    import numpy as np

    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().float().cpu().numpy()
    return np.ascontiguousarray(value, dtype=np.float32)


_STORES: dict[str, PooledStates] = {}


def store(name: str) -> PooledStates:
    """The process's one `PooledStates` for a store under the current cache folder."""
    key = f"{config.cache_dir()}:{name}"
    if key not in _STORES:
        _STORES[key] = PooledStates(name)
    return _STORES[key]


def forget() -> None:
    """Drop the in-memory states (the disk keeps them): benchmarks time a fresh process this way."""
    _STORES.clear()


def store_name(parts: Iterable[Any]) -> str:
    return "-".join(str(part) for part in parts)


__all__ = ["PooledStates", "store", "forget", "text_key", "store_name", "MAX_SHARDS"]
