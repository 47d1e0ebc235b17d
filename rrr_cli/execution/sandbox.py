"""The sandbox: bubblewrap namespaces plus rlimits, a wall-clock timeout and capped output.

Under bwrap a program sees a read-only root, a private tmpfs /tmp holding only its own work dir
(/tmp/work), no network (an empty network namespace, loopback only), its own PID namespace (when
its first process exits, the kernel kills everything it left behind) and dies with its parent.

Memory is capped with RLIMIT_DATA, not RLIMIT_AS: the JVM, V8 and mono reserve gigabytes of address
space they never touch, which RLIMIT_AS counts and RLIMIT_DATA does not, while a real allocation
(malloc, anonymous writable mappings, a JVM heap being committed) is counted by both.
Every sandbox starts with rrr-jail, a small C helper (jail.c, compiled on first use into the cache's
bin/): running as root it drops to `nobody` (root is exempt from RLIMIT_NPROC), enters a user namespace
of its own (so the kernel counts the sandbox's processes against its own RLIMIT_NPROC, not against one
budget shared by every sandbox), sets the rlimits and execs bwrap, whose namespaces nest inside. One
static exec does what `setpriv` and util-linux's `prlimit` did on either side of bwrap, two dynamic
execs and about 1.6 ms per candidate more. Without a C compiler that older chain is the fallback:
setpriv, bwrap, then prlimit inside the sandbox (a bash `ulimit` wrapper where prlimit is missing).
Either way the parent spawns without a `preexec_fn`, which would force Python's slow fork path (copying
the page tables of a parent that may hold a model) and run Python code between fork and exec in a
threaded pool.
"""

from __future__ import annotations

import hashlib
import math
import os
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

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
    problem = _probe(lambda workdir: _command(["/bin/true"], workdir, Limits(), sandboxed=True))
    return problem and "bwrap cannot create namespaces here: " + problem


def _probe(command: Callable[[Path], tuple[list[str], dict]]) -> str | None:
    """Run the command `command(workdir)` builds once: None when it succeeds, else why not (one line)."""
    workdir = make_workdir()
    try:
        argv, popen_args = command(workdir)
        probe = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=_environment({}),
                               **popen_args)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"does not start: {exc}"
    finally:
        remove_workdir(workdir)
    if probe.returncode != 0:
        return (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
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
        try:
            os.chown(path, NOBODY, NOBODY)
        except OSError as exc:  # root of a user namespace that maps no `nobody` (EINVAL), or no CAP_CHOWN
            shutil.rmtree(path, ignore_errors=True)
            raise RrrError(f"cannot give the sandbox's work dir to nobody ({exc.strerror}): run rrr as a "
                           "normal user, or as root outside a user namespace") from None
    return path


def remove_workdir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


@lru_cache(maxsize=1)
def _drop_root() -> tuple[list[str], dict]:
    """How a child of root becomes `nobody`: a command prefix, or else Popen arguments.

    util-linux's `setpriv` keeps the spawn on subprocess's vfork path; Popen's `user`/`group` would
    fork instead, copying the page tables of a parent that may hold a model (and making its pages
    copy-on-write). Not root: nothing to drop.
    """
    if os.geteuid() != 0:
        return [], {}
    from rrr_cli.execution.languages import SYSTEM_PATH

    setpriv = shutil.which("setpriv", path=SYSTEM_PATH)
    if setpriv:
        return [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--"], {}
    return [], {"user": NOBODY, "group": NOBODY, "extra_groups": []}


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


@lru_cache(maxsize=1)
def _prlimit() -> str | None:
    from rrr_cli.execution.languages import SYSTEM_PATH

    return shutil.which("prlimit", path=SYSTEM_PATH)


def _cpu_seconds(limits: Limits) -> int:
    return int(math.ceil(limits.cpu_s if limits.cpu_s is not None else limits.timeout_s + 1))


def _limit_flags(limits: Limits, processes: bool) -> list[str]:
    """The rlimits as options, in the syntax that rrr-jail and util-linux's `prlimit` share.

    `processes`: also cap RLIMIT_NPROC; only in a sandbox, whose own user namespace counts it.
    """
    cpu = _cpu_seconds(limits)
    return [f"--cpu={cpu}:{cpu + 1}", f"--data={limits.memory_mb << 20}", f"--fsize={limits.file_size_mb << 20}",
            f"--nofile={limits.open_files}", "--core=0",
            *([f"--nproc={limits.processes}"] if processes else [])]


def _limit_prefix(limits: Limits, processes: bool) -> list[str]:
    """Without rrr-jail: a command prefix that sets the rlimits on itself and execs the rest."""
    prlimit = _prlimit()
    if prlimit:
        return [prlimit, *_limit_flags(limits, processes), "--"]
    cpu = _cpu_seconds(limits)
    ulimits = (f"ulimit -S -t {cpu} && ulimit -H -t {cpu + 1} && ulimit -d {limits.memory_mb << 10} && "
               f"ulimit -f {limits.file_size_mb << 10} && ulimit -n {limits.open_files} && ulimit -c 0 && "
               + (f"ulimit -u {limits.processes} && " if processes else ""))
    return ["/bin/bash", "-c", ulimits + 'exec "$@"', "rrr-sandbox"]


@lru_cache(maxsize=1)
def _jail() -> str | None:
    """The rrr-jail helper, compiled from jail.c on first use; None where no C compiler builds one."""
    source = Path(__file__).with_name("jail.c")
    code = source.read_bytes()
    target = config.cache_dir() / "bin" / f"rrr-jail-{hashlib.sha256(code).hexdigest()[:12]}"
    if target.exists():
        return str(target)
    compiler = next(filter(None, (shutil.which(c) for c in ("cc", "gcc", "clang"))), None)
    if compiler is None:
        return None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as folder:
            built = Path(folder) / "rrr-jail"
            for static in (["-static", "-s"], []):  # static: no dynamic loader on every candidate's path
                try:
                    done = subprocess.run([compiler, "-O2", *static, "-o", str(built), str(source)],
                                          capture_output=True, timeout=120)
                    works = done.returncode == 0 and subprocess.run(
                        [str(built), "--nofile=64", "--", "/bin/true"], capture_output=True, timeout=30).returncode == 0
                except subprocess.TimeoutExpired:
                    works = False
                if works:
                    os.replace(built, target)  # atomic: a concurrent build lands the same bytes
                    return str(target)
    except OSError:  # an unwritable cache, a compiler that cannot run: the fallback chain serves
        pass
    return None


def _drop_flags() -> list[str]:
    return [f"--uid={NOBODY}", f"--gid={NOBODY}"] if os.geteuid() == 0 else []


def _jail_prefix(workdir: Path, limits: Limits) -> list[str]:
    return [_jail(), *_drop_flags(), "--userns", *_limit_flags(limits, processes=True), "--",
            *_bwrap_prefix(workdir)]


@lru_cache(maxsize=1)
def _jail_sandboxes() -> bool:
    """Whether bwrap runs inside rrr-jail's user namespace here (probed once per process)."""
    return _jail() is not None and _probe(lambda w: (_jail_prefix(w, Limits()) + ["/bin/true"], {})) is None


def _command(argv: list[str], workdir: Path, limits: Limits, sandboxed: bool) -> tuple[list[str], dict]:
    """The full command line that runs `argv` limited (and sandboxed), plus any Popen arguments."""
    if not sandboxed:
        jail = _jail()
        return ([jail, *_limit_flags(limits, processes=False), "--"] if jail
                else _limit_prefix(limits, processes=False)) + argv, {}
    if _jail_sandboxes():
        return _jail_prefix(workdir, limits) + argv, {}
    drop, privileges = _drop_root()
    return drop + _bwrap_prefix(workdir) + _limit_prefix(limits, processes=True) + argv, privileges


def run_sandboxed(argv: list[str], workdir: Path, limits: Limits, *, timeout_s: float,
                  env: dict[str, str] | None = None, sandboxed: bool = True) -> Completed:
    """Run `argv` in `workdir` under the sandbox; never raises for anything the program does."""
    command, privileges = _command(argv, workdir, limits, sandboxed)
    environment = _environment(env or {})
    if not sandboxed:
        environment.update(HOME=str(workdir), TMPDIR=str(workdir))
    start = time.monotonic()
    # No preexec_fn: without one (and without a user switch) subprocess spawns with vfork/posix_spawn.
    process = subprocess.Popen(command, cwd=workdir, env=environment, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                               **privileges)
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
