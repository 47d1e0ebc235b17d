"""Languages as data: each `rrr_cli/plugins/languages/<name>.toml` says how to build and run a program.

A language file holds: `name`, `extension`, `packages` (the Debian packages of its toolchain), `file`
(the source file name), optional `compile` and required `run` argv lists (`{file}` is the source file),
optional `env`, `requires_files`, and the patterns that classify a non-zero exit: `failed_pattern`
(a test assertion failed), `compile_error_pattern` (the interpreter rejected the source),
`failed_exit_codes`, and `assertion_pattern` (a failure even when the program exits 0).
Probe execution (see `probes.py`) reads three more: `probe_driver`, the code appended after the
candidate that renders values and runs every probe (`@CALLS@` marks where the calls go), `probe_call`,
one probe's statement (`@INDEX@`, `@ENTRY@`, `@ARGS@`, `@TIMEOUT_S@`, `@TIMEOUT_MS@`), and
`probe_closes_scopes`: the task's tests begin by closing the candidate's function (cpp, java, cs, sh),
so the driver must close it too, and close what the tests close after their own calls.
Adding a language is adding a file; the runner never changes.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from rrr_cli.errors import RrrError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Toolchains are looked up in the system directories first, so a user's PATH shims (pyenv, nvm)
# do not stand in for the Debian toolchain the sandbox can see.
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@dataclass(frozen=True)
class Language:
    name: str
    extension: str
    packages: tuple[str, ...]
    file: str
    run: tuple[str, ...]
    compile: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    requires_files: tuple[str, ...] = ()
    failed_pattern: str | None = None
    compile_error_pattern: str | None = None
    assertion_pattern: str | None = None
    failed_exit_codes: tuple[int, ...] = ()
    probe_driver: str | None = None
    probe_call: str | None = None
    probe_closes_scopes: bool = False

    def argv(self, template: tuple[str, ...]) -> list[str]:
        """A command with `{file}` filled in and its program resolved to an absolute path."""
        words = [word.replace("{file}", self.file) for word in template]
        resolved = resolve_executable(words[0])
        return [resolved or words[0], *words[1:]]

    def executables(self) -> list[str]:
        commands = [self.run] + ([self.compile] if self.compile else [])
        return [command[0] for command in commands if not command[0].startswith("./")]

    def matches(self, attribute: str, text: str) -> bool:
        pattern = getattr(self, attribute)
        return bool(pattern and re.search(pattern, text, re.MULTILINE))


def resolve_executable(name: str) -> str | None:
    if name.startswith("./") or os.path.isabs(name):
        return name if name.startswith("./") or os.access(name, os.X_OK) else None
    found = shutil.which(name, path=SYSTEM_PATH) or shutil.which(name)
    return os.path.realpath(found) if found else None


def _language_from_toml(text: str, where: str) -> Language:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RrrError(f"{where}: invalid TOML: {exc}") from None
    missing = [key for key in ("name", "extension", "packages", "file", "run") if key not in data]
    if missing:
        raise RrrError(f"{where}: language file is missing {', '.join(missing)}")
    known = set(Language.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise RrrError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    for key in ("packages", "run", "compile", "requires_files", "failed_exit_codes"):
        if key in data:
            data[key] = tuple(data[key])
    return Language(**data)


@lru_cache(maxsize=1)
def languages() -> dict[str, Language]:
    """Every language shipped under rrr_cli/plugins/languages/, by name."""
    folder = resources.files("rrr_cli").joinpath("plugins", "languages")
    found: dict[str, Language] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            language = _language_from_toml(entry.read_text(encoding="utf-8"), f"plugins/languages/{entry.name}")
            found[language.name] = language
    return found


def get_language(name: str) -> Language:
    try:
        return languages()[name]
    except KeyError:
        raise RrrError(f"unknown language {name!r} (known: {', '.join(languages())})") from None


@lru_cache(maxsize=None)
def toolchain_missing(name: str) -> str | None:
    """"toolchain missing: install <package>" when a language cannot run here, else None."""
    language = get_language(name)
    absent = [exe for exe in language.executables() if resolve_executable(exe) is None]
    absent += [path for path in language.requires_files if not Path(path).exists()]
    if absent:
        return f"toolchain missing: install {' '.join(language.packages)} (not found: {', '.join(absent)})"
    return None


def languages_available() -> list[str]:
    return [name for name in languages() if toolchain_missing(name) is None]
