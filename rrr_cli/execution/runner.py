"""One program through the sandbox: write it, compile it if the language compiles, run it, classify."""

from __future__ import annotations

import secrets
import signal
from dataclasses import dataclass

from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import Language, get_language, toolchain_missing
from rrr_cli.execution.sandbox import WORKDIR, Completed, Limits, make_workdir, remove_workdir, run_sandboxed
from rrr_cli.records import Task, Verdict

TAIL_CHARS = 2000
# The environment variable that names the file a program's harness creates after its last test
# (`Language.tests_done`): a fresh random name each run, never part of the program or the cache key.
TESTS_DONE_ENV = "RRR_TESTS_DONE"
NOT_FINISHED = "tests did not finish"


@dataclass
class RunResult:
    """The outcome of one program: a verdict status plus what the program printed."""

    status: str  # passed|failed|timeout|compile_error|runtime_error|sandbox_error
    exit_code: int | None
    duration_s: float
    stdout: str
    stderr: str
    reason: str | None = None  # why a run that exited 0 did not pass (`tests did not finish`)

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_verdict(self, task_id: str, sample_id: int) -> Verdict:
        tail = self.stderr if self.stderr.strip() or self.passed else self.stdout
        return Verdict(task_id=task_id, sample_id=sample_id, status=self.status, exit_code=self.exit_code,
                       duration_s=round(self.duration_s, 4), stderr_tail=tail[-TAIL_CHARS:], reason=self.reason)

    def to_dict(self) -> dict:
        out = {"status": self.status, "exit_code": self.exit_code, "duration_s": self.duration_s,
               "stdout": self.stdout, "stderr": self.stderr}
        if self.reason:
            out["reason"] = self.reason
        return out


def assemble(task: Task, completion: str, tests: str | None = None) -> str:
    """The program to run: prompt + completion + tests (MultiPL-E; `tests` in place of the task's, as the
    public-examples checks do); a bare completion when both are empty. A completion cut at a stop
    string ends without a newline, so one goes before the tests (in Bash `echo $x}` does not close
    the function)."""
    tests = task.tests if tests is None else tests
    if not task.prompt and not tests:
        return completion
    middle = completion if not completion or completion.endswith("\n") else completion + "\n"
    return task.prompt + middle + tests


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return ""
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


def _classify(language: Language, done: Completed, finished: bool) -> str:
    """The verdict status of a run; `finished`: the harness proved that its last test ran."""
    output = done.stderr + "\n" + done.stdout
    if done.timed_out or done.exit_code == -signal.SIGXCPU:
        return "timeout"
    if done.output_exceeded:
        return "runtime_error"
    if done.exit_code == 0:
        return "passed" if finished and not language.matches("assertion_pattern", done.stderr) else "failed"
    if language.matches("compile_error_pattern", output):
        return "compile_error"
    if language.matches("failed_pattern", output) or done.exit_code in language.failed_exit_codes:
        return "failed"
    return "runtime_error"


def _explain(done: Completed, limits: Limits, stage: str) -> str:
    notes = []
    if done.timed_out:
        notes.append(f"rrr: {stage} timed out")
    if done.exit_code == -signal.SIGXCPU:
        notes.append(f"rrr: {stage} used up its CPU time")
    if done.output_exceeded:
        notes.append(f"rrr: output limit exceeded ({limits.output_bytes} bytes)")
    if done.exit_code is not None and done.exit_code < 0 and not (done.timed_out or done.output_exceeded):
        notes.append(f"rrr: killed by {_signal_name(done.exit_code)}")
    return done.stderr + ("\n" + "\n".join(notes) if notes else "")


def run_program(language: str, program: str, limits: Limits | None = None, *,
                sandboxed: bool | None = None) -> RunResult:
    """Compile (where the language does) and run one program in a fresh sandbox and work dir.

    `sandboxed=None` decides from the machine and settings (see `require_sandbox`); no cache here.
    """
    from rrr_cli.execution.sandbox import require_sandbox

    spec = get_language(language)
    limits = limits or Limits.from_config()
    if sandboxed is None:
        sandboxed = require_sandbox()
    missing = toolchain_missing(language)
    if missing:
        return RunResult("sandbox_error", None, 0.0, "", missing)
    workdir = make_workdir()
    try:
        source = workdir / spec.file
        source.write_text(spec.prepare(program), encoding="utf-8")
        if sandboxed:
            source.chmod(0o644)
        total = 0.0
        if spec.compile:
            built = run_sandboxed(spec.argv(spec.compile), workdir, limits, timeout_s=limits.compile_timeout_s,
                                  env=spec.env, sandboxed=sandboxed)
            total += built.duration_s
            # A checker that reports a problem and exits 0 (bash -n on a bad `[[ ... ]]`) rejected it all the same.
            said = (built.stderr + built.stdout).strip()
            if built.exit_code != 0 or (spec.compile_output_is_error and said):
                status = "timeout" if built.timed_out else "compile_error"
                return RunResult(status, built.exit_code, total, built.stdout,
                                 _explain(built, limits, "compilation") or built.stdout)
        env = dict(spec.env)
        proof = None
        if spec.tests_done:
            # Where the harness writes its proof: outside the program text, so no candidate can
            # print it, and new each run, so no earlier run's file counts.
            proof = f".rrr-tests-done-{secrets.token_hex(12)}"
            env[TESTS_DONE_ENV] = f"{WORKDIR if sandboxed else workdir}/{proof}"
        done = run_sandboxed(spec.argv(spec.run), workdir, limits, timeout_s=limits.timeout_s,
                             env=env, sandboxed=sandboxed)
        total += done.duration_s
        finished = proof is None or (workdir / proof).exists()
        status = _classify(spec, done, finished)
        explained = _explain(done, limits, "run")
        reason = None
        if done.exit_code == 0 and status == "failed" and not finished:
            reason = NOT_FINISHED
            explained += f"\nrrr: {NOT_FINISHED}: the program exited with status 0 before its last test"
        return RunResult(status, done.exit_code, total, done.stdout, explained, reason)
    except OSError as exc:
        return RunResult("sandbox_error", None, 0.0, "", f"rrr: could not run the sandbox: {exc}")
    finally:
        remove_workdir(workdir)


def check_language(language: str) -> None:
    get_language(language)  # raises RrrError for an unknown language


__all__ = ["RunResult", "assemble", "run_program", "RrrError", "NOT_FINISHED", "TESTS_DONE_ENV"]
