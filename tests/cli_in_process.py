"""Run the `rrr` command line inside the test process: fast enough for property-based tests."""

from __future__ import annotations

import contextlib
import io
import sys

from rrr_cli import cli


def invoke(argv, stdin: bytes = b""):
    """Run the CLI in this process as `rrr ARGV...`; (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    stdin_stream = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    old_argv, old_stdin = sys.argv, sys.stdin
    sys.argv, sys.stdin = ["rrr", *argv], stdin_stream
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv, sys.stdin = old_argv, old_stdin
    return code, out.getvalue(), err.getvalue()
