"""The plugin registry: backends, scorers and languages found through Python entry points.

Three entry-point groups are rrr's extension points, and rrr registers its own built-ins through them
in its `pyproject.toml`, exactly as a third-party package does:

- `rrr.backends`: NAME = a callable `factory(path, *, name, n_ctx, threads, lora_path) -> Backend`
  that opens the model at `path` (see `generation/backends.py`);
- `rrr.scorers`: NAME = a callable `factory(argument=None, **options) -> Scorer`; `argument` is the
  text after `NAME:` on the command line, `options` what the command offers (`seed`, `runner`, ...),
  which a factory ignores when it has no use for them (see `ranking/registry.py`);
- `rrr.languages`: NAME = a package that holds `NAME.toml`, the language's definition (see
  `execution/languages.py`).

A backend or scorer factory may say what it needs installed with an attribute `requires`: a dict from
a module name to the command that installs it (`{"vllm": "pip install 'rrr[gpu]'"}`); `rrr plugins`
shows one that is absent as `not installed: <command>`.

An entry point is loaded the first time its kind is asked for. One that fails to load is reported
once, on stderr, as one line naming it and its package; rrr goes on without it.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any, Callable

GROUPS = {"backend": "rrr.backends", "scorer": "rrr.scorers", "language": "rrr.languages"}
HOME_PACKAGE = "rrr"


@dataclass(frozen=True)
class Plugin:
    """One entry point of one of rrr's groups: what `rrr plugins` lists."""

    name: str
    kind: str  # backend|scorer|language
    package: str  # the distribution that declares it
    version: str
    value: str  # module:attribute, as the package declared it
    entry_point: metadata.EntryPoint

    @property
    def builtin(self) -> bool:
        return self.package == HOME_PACKAGE

    def describe(self) -> str:
        return f"{self.kind} {self.name!r} (package {self.package} {self.version}, {self.value})"


def _warn(message: str) -> None:
    print(f"rrr: warning: {message}", file=sys.stderr, flush=True)


def _check_kind(kind: str) -> str:
    if kind not in GROUPS:
        raise ValueError(f"unknown plugin kind {kind!r} (known: {', '.join(GROUPS)})")
    return GROUPS[kind]


@lru_cache(maxsize=None)
def discovered(kind: str) -> dict[str, Plugin]:
    """The installed entry points of one kind, by name. rrr's own come first; a later package that
    claims a name already taken is reported and ignored, so a plugin cannot silently replace another."""
    group = _check_kind(kind)
    found: dict[str, Plugin] = {}
    entries = []
    for entry in metadata.entry_points(group=group):
        dist = getattr(entry, "dist", None)
        package = (dist.metadata["Name"] if dist is not None else None) or "?"
        version = (dist.version if dist is not None else None) or "?"
        entries.append(Plugin(entry.name, kind, package, version, entry.value, entry))
    entries.sort(key=lambda plugin: (not plugin.builtin, plugin.package.lower(), plugin.name))
    for plugin in entries:
        taken = found.get(plugin.name)
        if taken is None:
            found[plugin.name] = plugin
        elif taken.package != plugin.package:
            _warn(f"{plugin.describe()} ignored: the name is taken by package {taken.package}")
    return found


_loaded: dict[tuple[str, str], Any] = {}
_broken: dict[tuple[str, str], str] = {}


def _load(plugin: Plugin) -> Any | None:
    key = (plugin.kind, plugin.name)
    if key in _loaded:
        return _loaded[key]
    if key in _broken:
        return None
    try:
        value = plugin.entry_point.load()
    except Exception as exc:  # a plugin's bug must not stop rrr: report it and go on without it
        reason = f"{type(exc).__name__}: {exc}".strip().splitlines()[0]
        _broken[key] = reason
        _warn(f"plugin {plugin.describe()} failed to load and is ignored: {reason}")
        return None
    _loaded[key] = value
    return value


def load(kind: str, name: str) -> Any | None:
    """The object that entry point `name` of `kind` names; None when there is none or it is broken."""
    plugin = discovered(kind).get(name)
    return _load(plugin) if plugin else None


def load_all(kind: str) -> dict[str, Any]:
    """Every entry point of `kind` that loads, by name, in registry order."""
    out = {}
    for name, plugin in discovered(kind).items():
        value = _load(plugin)
        if value is not None:
            out[name] = value
    return out


def names(kind: str) -> list[str]:
    """The names registered for `kind` (loaded or not)."""
    return list(discovered(kind))


def broken(kind: str, name: str) -> str | None:
    """Why the entry point `name` of `kind` failed to load, or None."""
    return _broken.get((kind, name))


def report_broken(kind: str, name: str, reason: str) -> None:
    """For a plugin whose object loaded but is unusable (a language file that does not parse, a
    factory of the wrong shape): reported once, like a failed load, and left out from then on."""
    plugin = discovered(kind).get(name)
    key = (kind, name)
    if key in _broken:
        return
    _broken[key] = reason
    _loaded.pop(key, None)
    _warn(f"plugin {plugin.describe() if plugin else repr(name)} is ignored: {reason}")


def all_plugins() -> list[Plugin]:
    """Every plugin of every kind, rrr's own first."""
    return [plugin for kind in GROUPS for plugin in discovered(kind).values()]


def callable_or_report(kind: str, name: str) -> Callable[..., Any] | None:
    """The factory entry point `name` of `kind`, checked to be callable (reported and None if not)."""
    value = load(kind, name)
    if value is None:
        return None
    if not callable(value):
        report_broken(kind, name, f"{type(value).__name__} is not callable (an entry point of "
                      f"{GROUPS[kind]} names a factory)")
        return None
    return value


def missing_requirement(value: Any) -> str | None:
    """`not installed: <command>` for the first module in `value.requires` that cannot be found, else None."""
    for module, install in dict(getattr(value, "requires", None) or {}).items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            return f"not installed: {install}"
    return None


def clear() -> None:
    """Forget what was discovered and loaded (after installing or removing a package in-process)."""
    discovered.cache_clear()
    _loaded.clear()
    _broken.clear()


__all__ = ["GROUPS", "Plugin", "discovered", "load", "load_all", "names", "broken", "report_broken",
           "all_plugins", "callable_or_report", "missing_requirement", "clear"]
