"""Probe execution: run a candidate once on many call inputs and render what each call returns.

A probe input is the text of one call's arguments in the task's own language, as MultiPL-E's tests
write them, without the function's name and the parentheses around the list (`run_probes` adds both):

    python  [1, 2], 3                                     ts, js  [1, 2], 3
    cpp     std::vector<long>({1, 2}), 3                  php     array(1, 2), 3
    java    new ArrayList<Long>(Arrays.asList(1l, 2l)), 3l
    cs      new List<long>(new long[]{1L, 2L}), 3L
    sh      "1 2" 3        (the words after the function's name, as bash splits them)

The program is `prompt + completion`, the closing braces the task's tests would have added, then the
language's `probe_driver` (its definition file, `plugins/languages/<name>.toml`): it calls the entry
point on every input in turn inside the language's try/catch (a subshell for bash, a forked child for
C++ and PHP), under a per-probe time budget (an interval timer in Python and C++, `vm` timeouts in
node, a thread deadline in Java and C#, `set_time_limit` in PHP's child, a watchdog in bash), and prints
one line per probe:
`@@rrr-probe <index> ok <value>`, `... error <kind>` or `... timeout`. The value is a small JSON wire
form (numbers, strings, booleans, null, arrays, and the tagged objects {"tuple": [...]}, {"map":
[[k, v], ...]}, {"set": [...]}, {"stdout": [text, exit status]}, {"opaque": text}); the driver knows how
its language's values map onto it, and `render` turns it into the canonical text here, once for every
language: floats rounded to `precision` decimals (an integral float renders as an integer, as
JavaScript cannot tell them apart), maps in key order, tuples in parentheses, `null` for
None/nullopt/empty Optional/undefined, and bash's standard output as a string with ` (exit N)` when its
status is not 0. A probe whose line never came (the program was killed, or crashed outside a probe's
guard) is `timeout` when the run timed out and otherwise an `error` naming the run's status.

One program run per candidate; runs go through the worker pool and the verdict cache, so the same
program under the same limits never runs twice.
"""

from __future__ import annotations

import json
import math
import re
import signal
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import get_language
from rrr_cli.execution.pool import Progress, run_programs
from rrr_cli.execution.runner import RunResult
from rrr_cli.execution.sandbox import Limits
from rrr_cli.records import Candidate, Task

MARKER = "@@rrr-probe"
_LINE = re.compile(rf"{MARKER} (\d+) (ok|error|timeout)(?: (.*))?$", re.MULTILINE)
_PYTHON_DEF = re.compile(r"^def\s+([A-Za-z_]\w*)\s*\(", re.MULTILINE)
_STRING = re.compile(r'"(?:\\.|[^"\\\n])*"' + r"|'(?:\\.|[^'\\\n])*'")
_CLOSER = re.compile(r"[ \t]*\}[ \t]*\n")
_COMMENT = re.compile(r"^\s*(?://|#|/?\*|$)")
_CALLABLE = re.compile(r"([A-Za-z_$][\w$]*)\s*\(")
# Words that are followed by `(` without being the function's name.
_KEYWORDS = {"if", "for", "while", "switch", "catch", "return", "function", "foreach", "elseif", "using",
             "lock", "fixed", "synchronized", "until", "select", "array", "new", "typeof", "sizeof"}

PROBE_TIMEOUT_S = 2.0
PRECISION = 6


@dataclass
class ProbeOutput:
    """What one probe input gave: `value` (canonical text) when ok, `error` (the kind) otherwise."""

    input: str
    status: str  # ok|error|timeout
    value: str | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def signature(self) -> str:
        """One string to compare across candidates: the value, or the kind of failure."""
        return self.value if self.status == "ok" else f"<{self.status}{': ' + self.error if self.error else ''}>"


def entry_point(task: Task) -> str:
    """The function the probes call: the task's `entry_point`, else the prompt's last function.

    The last function is the first `name(` on the last line of the prompt that has one, comments
    skipped: MultiPL-E prompts end with the signature to complete, and its return type may hold braces
    (TypeScript's `{[key: string]: number}`) that `tasks.braced`'s signature pattern does not take.
    """
    if task.entry_point:
        return task.entry_point
    if task.language == "python":
        names = _PYTHON_DEF.findall(task.prompt)
        if names:
            return names[-1]
    else:
        for line in reversed(task.prompt.splitlines()):
            if _COMMENT.match(line):
                continue
            for match in _CALLABLE.finditer(_STRING.sub('""', line)):
                if match.group(1) not in _KEYWORDS:
                    return match.group(1)
    raise RrrError(f"{task.task_id}: cannot tell which function to probe (no function in the prompt)")


def _scopes(tests: str) -> tuple[str, int]:
    """The lines that open the tests by closing the candidate's function, and how many scopes the tests
    close after that (the class around a Java or C# method)."""
    closing = 0
    match = _CLOSER.match(tests)
    while match:
        closing = match.end()
        match = _CLOSER.match(tests, closing)
    code = _STRING.sub('""', tests)
    net = code.count("}") - code.count("{")
    return tests[:closing], max(0, net - tests[:closing].count("}"))


def probe_program(task: Task, completion: str, inputs: Sequence[str],
                  probe_timeout_s: float = PROBE_TIMEOUT_S) -> str:
    """The one program that runs every probe input against `prompt + completion`."""
    spec = get_language(task.language)
    if not spec.probe_driver or not spec.probe_call:
        raise RrrError(f"language {spec.name!r} has no probe driver (probe_driver, probe_call)")
    entry = entry_point(task)
    calls = []
    for index, arguments in enumerate(inputs):
        if "\n" in arguments:
            arguments = " ".join(line.strip() for line in arguments.splitlines())
        calls.append(spec.probe_call.replace("@INDEX@", str(index)).replace("@ENTRY@", entry)
                     .replace("@ARGS@", arguments))
    # The calls go in last, so an input's own text is never taken for a placeholder.
    # A driver that ends with an exit of its own proves there, before it, that every probe ran.
    driver = (spec.probe_driver.replace("@TESTS_DONE@", (spec.tests_done or "").rstrip("\n"))
              .replace("@ENTRY@", entry).replace("@TIMEOUT_S@", f"{probe_timeout_s:g}")
              .replace("@TIMEOUT_MS@", str(max(1, round(probe_timeout_s * 1000))))
              .replace("@CALLS@", "\n".join(calls)))
    body = completion if not completion or completion.endswith("\n") else completion + "\n"
    closing, after = _scopes(task.tests) if spec.probe_closes_scopes else ("", 0)
    return task.prompt + body + closing + driver + "}\n" * after


def _number(value: float | int, precision: int) -> str:
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    rounded = round(value, precision)
    if rounded == int(rounded) and abs(rounded) < 2**63:
        return str(int(rounded))
    return f"{rounded:.{precision}f}".rstrip("0").rstrip(".")


def render(wire: Any, precision: int = PRECISION) -> str:
    """The canonical text of a value in the drivers' JSON wire form (see the module docstring)."""
    if wire is None:
        return "null"
    if isinstance(wire, bool):
        return "true" if wire else "false"
    if isinstance(wire, (int, float)):
        return _number(wire, precision)
    if isinstance(wire, str):
        return json.dumps(wire, ensure_ascii=False)
    if isinstance(wire, list):
        return "[" + ", ".join(render(item, precision) for item in wire) + "]"
    if isinstance(wire, dict) and len(wire) == 1:
        (tag, content), = wire.items()
        if tag == "tuple" and isinstance(content, list):
            return "(" + ", ".join(render(item, precision) for item in content) + ")"
        if tag == "set" and isinstance(content, list):
            return "{" + ", ".join(sorted(render(item, precision) for item in content)) + "}"
        if tag == "map" and isinstance(content, list):
            pairs = sorted((render(k, precision), render(v, precision)) for k, v in content)
            return "{" + ", ".join(f"{k}: {v}" for k, v in pairs) + "}"
        if tag == "stdout" and isinstance(content, list) and len(content) == 2:
            text, status = content
            return json.dumps(text, ensure_ascii=False) + (f" (exit {status})" if status else "")
        if tag == "opaque":
            return f"<{content}>"
    raise ValueError(f"not a probe value: {wire!r}")


def _signal_name(kind: str) -> str | None:
    """`signal 11` (a probe's child killed by a signal) as `SIGSEGV`."""
    match = re.fullmatch(r"signal (\d+)", kind)
    if not match:
        return None
    try:
        return signal.Signals(int(match.group(1))).name
    except ValueError:
        return kind


def parse_outputs(inputs: Sequence[str], result: RunResult, precision: int = PRECISION) -> list[ProbeOutput]:
    """Per-input outputs from the driver's lines in `result.stdout`; the missing ones from the run's status."""
    found: dict[int, ProbeOutput] = {}
    for match in _LINE.finditer(result.stdout):
        index, status, rest = int(match.group(1)), match.group(2), (match.group(3) or "").strip()
        if index >= len(inputs) or index in found:
            continue
        if status == "ok":
            try:
                output = ProbeOutput(inputs[index], "ok", value=render(json.loads(rest, strict=False), precision))
            except ValueError:
                output = ProbeOutput(inputs[index], "error", error="unreadable value")
        elif status == "error":
            output = ProbeOutput(inputs[index], "error", error=_signal_name(rest) or rest or "error")
        else:
            output = ProbeOutput(inputs[index], "timeout")
        found[index] = output
    missing = "timeout" if result.status == "timeout" else "error"
    reason = None if missing == "timeout" else (result.reason or result.status if result.status != "passed"
                                                 else "no output")
    return [found.get(i) or ProbeOutput(text, missing, error=reason) for i, text in enumerate(inputs)]


def run_probes_many(jobs: Sequence[tuple[Task, Candidate, Sequence[str]]], limits: Limits | None = None, *,
                    probe_timeout_s: float = PROBE_TIMEOUT_S, precision: int = PRECISION,
                    workers: int | None = None, cache: bool = True, progress: Progress | None = None,
                    allow_unsandboxed: bool | None = None) -> list[list[ProbeOutput]]:
    """`run_probes` for many (task, candidate, inputs) at once through the worker pool, in input order.

    One program per job; identical programs run once, and the verdict cache keeps every run.
    """
    programs = [(task.language, probe_program(task, candidate.completion, inputs, probe_timeout_s))
                for task, candidate, inputs in jobs]
    results = run_programs(programs, limits, workers, progress, cache=cache, allow_unsandboxed=allow_unsandboxed)
    return [parse_outputs(inputs, result, precision) for (_, _, inputs), result in zip(jobs, results)]


def run_probes(task: Task, candidate: Candidate, inputs: Sequence[str], limits: Limits | None = None, *,
               probe_timeout_s: float = PROBE_TIMEOUT_S, precision: int = PRECISION, cache: bool = True,
               allow_unsandboxed: bool | None = None) -> list[ProbeOutput]:
    """Run `candidate` once in the sandbox on every input; one `ProbeOutput` per input, in order.

    `inputs` are argument lists in the task's language (see the module docstring). Each probe has
    `probe_timeout_s` where the language can enforce it per call (python, cpp, java, cs, js, ts, sh;
    php relies on the program's own `limits.timeout_s`), and the whole program `limits.timeout_s`.
    """
    return run_probes_many([(task, candidate, inputs)], limits, probe_timeout_s=probe_timeout_s,
                           precision=precision, workers=1, cache=cache, allow_unsandboxed=allow_unsandboxed)[0]


__all__ = ["ProbeOutput", "run_probes", "run_probes_many", "probe_program", "parse_outputs", "render",
           "entry_point", "MARKER"]
