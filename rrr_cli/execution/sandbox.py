"""The sandbox: bubblewrap namespaces plus rlimits, a wall-clock timeout and capped output.

Under bwrap a program sees a read-only root, a private tmpfs /tmp holding only its own work dir
(/tmp/work), no network (an empty network namespace, loopback only), its own PID namespace (when
its first process exits, the kernel kills everything it left behind) and dies with its parent.

Memory is capped with RLIMIT_DATA, not RLIMIT_AS: the JVM, V8 and mono reserve gigabytes of address
space they never touch, which RLIMIT_AS counts and RLIMIT_DATA does not, while a real allocation
(malloc, anonymous writable mappings, a JVM heap being committed) is counted by both.
The process limit is set *inside* the sandbox's user namespace (`ulimit -u` just before exec), where
the kernel counts processes per namespace: a fork bomb exhausts its own sandbox, not its neighbours.
Running as root, the sandbox first drops to `nobody`, since root is exempt from RLIMIT_NPROC.
"""

from __future__ import annotations

import math
import os
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from rrr_cli import config
from rrr_cli.errors import RrrError

WORKDIR = "/tmp/work"  # where the work dir appears inside the sandbox
NOBODY = 65534


@dataclass
class Limits:
    """Resource limits for one program run (compilation gets `compile_timeout_s` instead)."""

    timeout_s: float = 10.0
    cpu_s: float | None = None  # None: the wall-clock timeout plus one second
    memory_mb: int = 2048  # RLIMIT_DATA: heap and private writable mappings
    processes: int = 128  # threads count too: a JVM alone starts ~20
    file_size_mb: int = 64
    open_files: int = 512
    output_bytes: int = 1_000_000  # per stream; more than this ends the run
    compile_timeout_s: float = 60.0

    @classmethod
    def from_config(cls, timeout_s: float | None = None) -> "Limits":
        return cls(timeout_s=float(config.get("execution.timeout_s", timeout_s)))

    def key(self) -> dict:
        return asdict(self)


@dataclass
class Completed:
    """What happened to one sandboxed command."""

    exit_code: int | None  # negative: killed by that signal
    duration_s: float
    stdout: str
    stderr: str
    timed_out: bool = False
    output_exceeded: bool = False


@lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot sandbox here, or None when it can (probed once per process)."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    workdir = make_workdir()
    try:
        probe = subprocess.run(_bwrap_prefix(workdir) + ["/bin/true"], capture_output=True, text=True,
                               timeout=30, preexec_fn=_drop_privileges, env=_environment({}))
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap does not start: {exc}"
    finally:
        remove_workdir(workdir)
    if probe.returncode != 0:
        return "bwrap cannot create namespaces here: " + (probe.stderr.strip().splitlines() or ["?"])[-1]
    return None


def require_sandbox(allow_unsandboxed: bool | None = None) -> bool:
    """True to sandbox; False when bwrap is unusable and the user opted out; else a one-line RrrError."""
    problem = bwrap_problem()
    if problem is None:
        return True
    if config.get("execution.allow_unsandboxed", allow_unsandboxed):
        return False
    raise RrrError(f"{problem}: refusing to run untrusted code without a sandbox; install bubblewrap, "
                   "or opt in with --allow-unsandboxed / RRR_EXECUTION_ALLOW_UNSANDBOXED=1")


def make_workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="rrr-run-"))
    if os.geteuid() == 0:
        os.chown(path, NOBODY, NOBODY)
    return path


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _drop_privileges() -> None:
    if os.geteuid() == 0:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def _hidden_home() -> list[str]:
    # The user's home holds keys and tokens; hide it unless a toolchain lives there.
    home = os.path.realpath(os.path.expanduser("~"))
    if home in ("/", "") or not os.path.isdir(home):
        return []
    from rrr_cli.execution.languages import languages, resolve_executable

    for language in languages().values():
        for exe in language.executables():
            found = resolve_executable(exe)
            if found and found.startswith(home + os.sep):
                return []
    return ["--tmpfs", home]


def _bwrap_prefix(workdir: Path) -> list[str]:
    return [
        shutil.which("bwrap") or "bwrap",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        *_hidden_home_cached(),
        "--bind", str(workdir), WORKDIR,
        "--chdir", WORKDIR,
        "--unshare-all",  # user, pid, net, ipc, uts, cgroup
        "--die-with-parent",
        "--new-session",
        "--",
    ]


@lru_cache(maxsize=1)
def _hidden_home_cached() -> tuple[str, ...]:
    return tuple(_hidden_home())


def _environment(extra: dict[str, str]) -> dict[str, str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": WORKDIR, "TMPDIR": "/tmp",
           "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    env.update(extra)
    return env


def _rlimits(limits: Limits, sandboxed: bool):
    cpu = int(math.ceil(limits.cpu_s if limits.cpu_s is not None else limits.timeout_s + 1))
    data = limits.memory_mb << 20
    fsize = limits.file_size_mb << 20

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sandboxed:
            _drop_privileges()

    return apply


def run_sandboxed(argv: list[str], workdir: Path, limits: Limits, *, timeout_s: float,
                  env: dict[str, str] | None = None, sandboxed: bool = True) -> Completed:
    """Run `argv` in `workdir` under the sandbox; never raises for anything the program does."""
    if sandboxed:
        limit_processes = ["/bin/bash", "-c", f'ulimit -u {limits.processes} && exec "$@"', "rrr-sandbox"]
        command = _bwrap_prefix(workdir) + limit_processes + argv
        environment = _environment(env or {})
    else:
        command = argv
        environment = {**_environment(env or {}), "HOME": str(workdir), "TMPDIR": str(workdir)}
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=workdir, env=environment, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               preexec_fn=_rlimits(limits, sandboxed))
    buffers = {process.stdout: bytearray(), process.stderr: bytearray()}
    timed_out = exceeded = False
    deadline = start + timeout_s
    with selectors.DefaultSelector() as selector:
        for stream in buffers:
            selector.register(stream, selectors.EVENT_READ)
        while selector.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in selector.select(timeout=min(remaining, 1.0)):
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                buffer = buffers[key.fileobj]
                buffer += chunk
                if len(buffer) > limits.output_bytes:
                    exceeded = True
            if exceeded:
                break
    if not (timed_out or exceeded):
        # Both streams closed; the program may still be running without them.
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            timed_out = True
    _kill(process)
    process.wait()
    for stream in buffers:
        stream.close()
    duration = time.monotonic() - start
    out, err = (bytes(buffers[s][: limits.output_bytes]).decode("utf-8", "replace")
                for s in (process.stdout, process.stderr))
    return Completed(exit_code=process.returncode, duration_s=duration, stdout=out, stderr=err,
                     timed_out=timed_out, output_exceeded=exceeded)


def _kill(process: subprocess.Popen) -> None:
    # The whole session: bwrap (whose death takes its PID namespace with it) or, unsandboxed, the
    # program's process group.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
