"""`rrr exec`: run candidate records against their tasks in the sandbox; one verdict record each."""

from __future__ import annotations

import collections
import sys
from pathlib import Path
from typing import List, Optional

import typer

from rrr_cli import config
from rrr_cli.commands import options
from rrr_cli.errors import RrrError
from rrr_cli.records import Candidate, RecordWriter, read_records
from rrr_cli.tasks import load_tasks
from rrr_cli.ui import help_text, notice, progress


def command(
    sources: List[str] = typer.Argument(..., help="Task sources the candidates belong to: task files, "
                                        "JSONL task files or benchmarks (humaneval-cpp, mbpp, ...)."),
    candidates: Optional[str] = typer.Option(None, "--candidates", "-c",
                                             help="Candidate JSONL file, or - for stdin (the default when piped)."),
    output: Optional[Path] = options.Output,
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Programs run at once "
                                          "(default: execution.workers, 0 = one per core)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds per program (default: 10)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Run every program even when a verdict is cached."),
    allow_unsandboxed: bool = typer.Option(False, "--allow-unsandboxed",
                                           help="Without bubblewrap, run untrusted code anyway (unsafe)."),
    split: Optional[str] = options.Split,
) -> None:
    """Run candidates in the sandbox; one verdict record each.

    One JSONL verdict record per candidate, in candidate order.

    Examples:

      rrr sample humaneval-cpp --limit 5 -n 4 | rrr exec humaneval-cpp

      rrr exec humaneval-python -c candidates.jsonl -o verdicts.jsonl
    """
    from rrr_cli.execution import Limits, execute, toolchain_missing

    if candidates is None:
        if sys.stdin.isatty():
            raise RrrError("no candidates: pass --candidates FILE, or pipe candidate records into stdin")
        candidates = "-"
    options.check_output_path(output)
    seconds = config.resolved("execution.timeout_s", timeout, lambda v: isinstance(v, (int, float)) and v > 0,
                              "must be a positive number of seconds")
    tasks = load_tasks(sources, split=split)
    warned: set[str] = set()
    counts: collections.Counter[str] = collections.Counter()

    def checked(stream):
        for candidate in stream:
            missing = candidate.language not in warned and toolchain_missing(candidate.language)
            if missing:
                notice(f"{candidate.language}: {missing}")
            warned.add(candidate.language)
            yield candidate

    with RecordWriter(output) as writer, progress() as bar:
        job = bar.add_task("executing", total=None)
        verdicts = execute(tasks, checked(read_records(candidates, Candidate)), limits=Limits(timeout_s=float(seconds)),
                           workers=workers, cache=not no_cache, allow_unsandboxed=allow_unsandboxed or None,
                           progress=lambda done, total: bar.update(job, completed=done, total=total))
        for verdict in verdicts:
            writer.write(verdict)
            counts[verdict.status] += 1
    summary = ", ".join(f"{status} {n}" for status, n in counts.most_common()) or "no candidates"
    notice(f"{writer.count} verdicts: {summary}" + (f" (written to {output})" if output else ""))


command.__doc__ = help_text(command.__doc__)
