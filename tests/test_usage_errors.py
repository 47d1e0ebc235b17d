"""Usage errors, for every command: Typer's usage box or one line, exit status 2, never a traceback.

The commands are found by walking the real command tree, so a new command is covered without a new test.
"""

from __future__ import annotations

import subprocess
import sys
import typing

import pytest
import typer

from cli_in_process import invoke
from rrr_cli.cli import app


def _commands():
    """(path of names, click command) for every leaf command."""
    found = []

    def walk(path, command):
        children = getattr(command, "commands", None)
        if children:
            for name, child in sorted(children.items()):
                walk(path + [name], child)
        else:
            found.append((path, command))

    walk([], typer.main.get_command(app))
    return found


COMMANDS = _commands()
IDS = [" ".join(path) for path, _ in COMMANDS]


def test_the_walk_finds_every_command():
    assert {"sample", "rerank", "exec", "eval", "selftrain", "train-reranker", "solve", "models pull"} <= set(IDS)


def _check_usage_error(argv, expected):
    code, out, err = invoke(argv)
    assert code == 2, (argv, code, err)
    assert "Traceback" not in err + out
    assert expected in err, (argv, err)


@pytest.mark.parametrize("path,command", COMMANDS, ids=IDS)
def test_unknown_option(path, command):
    _check_usage_error([*path, "--bogus-option"], "No such option: --bogus-option")


def _is_number(param) -> bool:
    """Whether an option takes an int or a float (click's `type`, or the annotation newer Typer keeps)."""
    if getattr(getattr(param, "type", None), "name", "") in ("integer", "float"):
        return True
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    return annotation in (int, float) or set(typing.get_args(annotation)) in ({int, type(None)}, {float, type(None)})


@pytest.mark.parametrize("path,command", COMMANDS, ids=IDS)
def test_a_value_of_the_wrong_type(path, command):
    numeric = [p for p in command.params if p.opts[0].startswith("-") and _is_number(p)]
    if not numeric:
        pytest.skip(f"rrr {' '.join(path)} has no numeric option")
    for param in numeric:
        _check_usage_error([*path, param.opts[0], "not-a-number"], "Invalid value")


@pytest.mark.parametrize("path,command", COMMANDS, ids=IDS)
def test_a_missing_argument(path, command):
    required = [p for p in command.params if p.required and not p.opts[0].startswith("-")]
    if not required:
        pytest.skip(f"rrr {' '.join(path)} has no required argument")
    code, out, err = invoke([*path])
    assert code == 2 and "Traceback" not in err + out
    # Commands that need an argument show their help (Typer's no_args_is_help) or say what is missing.
    assert "Usage:" in out + err or "Missing argument" in err, (out, err)


def test_an_unknown_command():
    _check_usage_error(["bogus-command"], "No such command")


def test_the_installed_entry_point_too():
    """The same through a real process and the console script's path (`python -m rrr_cli`)."""
    result = subprocess.run([sys.executable, "-m", "rrr_cli", "sample", "-n", "abc", "mbpp"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "Invalid value for '-n'" in result.stderr
