"""Configuration and storage locations.

Settings come from, in order of precedence: a command-line option, an environment variable
(`RRR_<SECTION>_<KEY>`, e.g. `RRR_SAMPLE_TEMPERATURE`), the TOML config file (`[sample] temperature`),
and the built-in default. Data lives in the user cache directory (platformdirs), the config file in
the user config directory; `RRR_HOME` puts both under one folder.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import platformdirs

from rrr_cli.errors import RrrError
from rrr_cli.records import read_text_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP = "rrr"

DEFAULTS: dict[str, Any] = {
    "models.default": "qwen2.5-coder-0.5b-instruct",
    "models.hub_timeout_s": 30.0,
    "sample.n": 10,
    "sample.temperature": 0.8,
    "sample.top_p": 0.95,
    "sample.max_tokens": 512,
    "sample.seed": 0,
    "sample.prompt_style": "auto",
    "sample.backend": "auto",
    "sample.n_ctx": 4096,
    "sample.threads": 0,
    "vllm.tensor_parallel_size": 1,  # GPUs one vLLM engine splits a model over
    "solve.n": 8,
    "solve.timeout_s": 10.0,
    "execution.workers": 0,
    "execution.timeout_s": 10.0,
    "execution.allow_unsandboxed": False,
    "rerank.shipped": True,  # the rerankers that come with rrr may be the default scorer
}


def home() -> Path | None:
    value = os.environ.get("RRR_HOME")
    return Path(value).expanduser() if value else None


def cache_dir() -> Path:
    """Root of rrr's data: models/, datasets/, runs/, rerankers/."""
    root = home()
    return root / "cache" if root else Path(platformdirs.user_cache_dir(APP))


def config_dir() -> Path:
    root = home()
    return root / "config" if root else Path(platformdirs.user_config_dir(APP))


def config_file() -> Path:
    return Path(os.environ["RRR_CONFIG"]) if os.environ.get("RRR_CONFIG") else config_dir() / "config.toml"


def data_path(kind: str) -> Path:
    """A subdirectory of the cache ('models', 'datasets', 'runs', 'rerankers'), created on demand."""
    path = cache_dir() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


@lru_cache(maxsize=8)
def _load_file(path: str, mtime: float) -> dict[str, Any]:
    try:
        data = tomllib.loads(read_text_file(path, "config file"))
    except tomllib.TOMLDecodeError as exc:
        raise RrrError(f"{path}: invalid TOML: {exc}") from None
    flat: dict[str, Any] = {}

    def walk(prefix: str, node: dict[str, Any]) -> None:
        for key, value in node.items():
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                walk(name, value)
            else:
                flat[name] = value

    walk("", data)
    for key, value in flat.items():
        _check_file_value(path, key, value)
    return flat


def _check_file_value(path: str, key: str, value: Any) -> None:
    """A config-file setting must be one rrr knows, of its default's type (an integer is a valid float)."""
    if key not in DEFAULTS:
        section = key.rpartition(".")[0]
        known = sorted(k for k in DEFAULTS if k.rpartition(".")[0] == section) or sorted(DEFAULTS)
        raise RrrError(f"{path}: unknown setting {key!r} (known: {', '.join(known)})")
    like = DEFAULTS[key]
    if isinstance(like, bool):
        ok = isinstance(value, bool)
    elif isinstance(like, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        ok = isinstance(value, type(like)) and not (isinstance(value, bool) and not isinstance(like, bool))
    if not ok:
        raise RrrError(f"{path}: setting {key!r} must be {type(like).__name__} like {like!r}, "
                       f"got {value!r}")


def file_settings() -> dict[str, Any]:
    path = config_file()
    if not path.is_file():
        return {}
    return _load_file(str(path), path.stat().st_mtime)


def env_name(key: str) -> str:
    return "RRR_" + key.replace(".", "_").replace("-", "_").upper()


def _coerce(raw: str, like: Any, key: str) -> Any:
    try:
        if isinstance(like, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(like, int):
            return int(raw)
        if isinstance(like, float):
            return float(raw)
    except ValueError:
        raise RrrError(f"{env_name(key)}={raw!r} is not a valid {type(like).__name__}") from None
    return raw


@dataclass(frozen=True)
class Setting:
    value: Any
    origin: str  # "option", "env", "config", "default"


def lookup(key: str, option: Any = None) -> Setting:
    """Resolve one setting with its origin: option > environment > config file > default."""
    if option is not None:
        return Setting(option, "option")
    default = DEFAULTS.get(key)
    raw = os.environ.get(env_name(key))
    if raw is not None:
        return Setting(_coerce(raw, default, key), "env")
    settings = file_settings()
    if key in settings:
        value = settings[key]
        return Setting(float(value) if isinstance(default, float) else value, "config")
    if key not in DEFAULTS:
        raise KeyError(key)
    return Setting(default, "default")


def get(key: str, option: Any = None) -> Any:
    return lookup(key, option).value


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover
        return os.cpu_count() or 1


def resolved(key: str, option: Any, check: Callable[[Any], bool], message: str) -> Any:
    """`get` plus a range check that turns a bad value into one clear error line."""
    value = get(key, option)
    if not check(value):
        raise RrrError(f"{key.split('.')[-1].replace('_', '-')}: {message} (got {value!r})")
    return value
