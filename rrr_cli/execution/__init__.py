"""Execution: run untrusted candidate programs in a sandbox, in eight languages, in a pool, cached.

    run_program(language, program)        one program, sandboxed, no cache
    run_programs([(language, program)])   many, through the worker pool and the verdict cache
    execute(tasks, candidates)            a stream of candidates -> a stream of verdicts, in order
"""

from rrr_cli.execution.languages import languages, languages_available, toolchain_missing
from rrr_cli.execution.pool import execute, run_programs
from rrr_cli.execution.runner import RunResult, assemble, run_program
from rrr_cli.execution.sandbox import Limits, bwrap_problem, require_sandbox

LANGUAGES_AVAILABLE = tuple(languages_available())

__all__ = ["RunResult", "Limits", "run_program", "run_programs", "assemble", "execute",
           "toolchain_missing", "LANGUAGES_AVAILABLE", "languages", "bwrap_problem", "require_sandbox"]
