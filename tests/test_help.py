"""Help that reads well and options that exist: every command has a one-line summary in `rrr --help`,
every `--help` example parses as written, and every flag named in an error hint, in the README or in
docs/ is a real option of the command it goes with."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from rrr_cli.cli import app

ROOT = Path(__file__).resolve().parent.parent
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Functions whose string arguments a user reads as a message (besides exceptions raised).
MESSAGE_CALLS = {"notice", "error_line", "say", "log", "warn", "echo"}
SEPARATORS = {"|", "||", "&&", ";", "&"}
REDIRECTS = {">", ">>", "<", "2>", "2>>"}


def _root():
    return typer.main.get_command(app)


def _tree(command=None, path=("rrr",)):
    """(path, click command) for the root and every group and command below it."""
    command = command or _root()
    yield path, command
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from _tree(sub, path + (name,))


def _flags(command) -> set[str]:
    names = {"--help", "-h"}
    for param in command.params:
        names.update(getattr(param, "opts", ()))
        names.update(getattr(param, "secondary_opts", ()))
    return {name for name in names if name.startswith("-")}


ALL_FLAGS = set().union(*(_flags(command) for _, command in _tree()))


def _rrr_invocations(line: str) -> list[list[str]]:
    """The argument lists of every `rrr ...` a shell line runs: through pipes, `&&`, redirections,
    `VAR=value` prefixes, `time` and `$(...)` substitutions."""
    found = []
    for inner in re.findall(r"\$\(([^()]*)\)", line):
        found += _rrr_invocations(inner)
    line = re.sub(r"\$\([^()]*\)", "X", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|<>")
    lexer.whitespace_split = True
    segment: list[str] = []
    for token in list(lexer) + [";"]:
        if token in SEPARATORS:
            while segment and (re.match(r"^[A-Z_][A-Z0-9_]*=", segment[0]) or segment[0] == "time"):
                segment.pop(0)
            if segment and segment[0] == "rrr":
                found.append(segment[1:])
            segment = []
        else:
            segment.append(token)
    out = []
    for args in found:
        kept, skip = [], False
        for token in args:
            if skip:
                skip = False
            elif token in REDIRECTS:
                skip = True
            else:
                kept.append(token)
        out.append(kept)
    return out


def _resolve(args: list[str]):
    """The command `rrr ARGS` reaches, its path, and the arguments left for it."""
    command, path, rest = _root(), ["rrr"], list(args)
    while rest and rest[0] in getattr(command, "commands", {}):
        command = command.commands[rest[0]]
        path.append(rest.pop(0))
    return command, path, rest


def _parses(args: list[str]) -> str | None:
    """None if `rrr ARGS` parses (options exist, values convert, arguments are there), else why not."""
    command, path, rest = _resolve(args)
    if getattr(command, "commands", None):
        return f"{' '.join(path)}: no such command {rest[:1]}"
    try:
        command.make_context(" ".join(path), rest)
    except Exception as exc:  # click's usage errors, whichever click Typer uses
        message = exc.format_message() if hasattr(exc, "format_message") else repr(exc)
        return f"rrr {' '.join(args)}: {message}"
    return None


def _help_examples(command) -> list[str]:
    text = command.help or ""
    if "Examples:" not in text:
        return []
    return [line.strip() for line in text.split("Examples:", 1)[1].splitlines() if line.strip()]


def _help(path: tuple[str, ...]) -> str:
    result = CliRunner().invoke(app, [*path[1:], "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0, result.output
    return result.output


COMMANDS = [(path, command) for path, command in _tree() if len(path) > 1]


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p[1:]) for p, _ in COMMANDS])
def test_every_command_has_a_one_line_summary(path, command):
    summary = (command.help or "").split("\n\n")[0]
    assert summary and "\n" not in summary, f"{' '.join(path)}: the first paragraph is the summary; keep it one line"
    listing = _help(path[:-1])
    assert re.search(rf"^│ {re.escape(path[-1])} +{re.escape(summary)} *│$", listing, re.M), \
        f"`{' '.join(path[:-1])} --help` does not show {path[-1]!r} with its summary on one line:\n{listing}"


@pytest.mark.parametrize("path,command", COMMANDS, ids=[" ".join(p[1:]) for p, _ in COMMANDS])
def test_every_help_example_parses_and_shows_on_one_line(path, command):
    examples = _help_examples(command)
    if getattr(command, "commands", None) is None:
        assert examples, f"{' '.join(path)} --help has no examples"
    shown = _help(path)
    for example in examples:
        invocations = _rrr_invocations(example)
        assert invocations, f"{' '.join(path)}: example runs no rrr command: {example}"
        assert any(_resolve(args)[1] == list(path) for args in invocations), \
            f"{' '.join(path)}: example is not an example of this command: {example}"
        for args in invocations:
            assert _parses(args) is None, _parses(args)
        assert example in shown, f"{' '.join(path)} --help wraps the example {example!r} at 80 columns"


def _text(node: ast.AST) -> str | None:
    """A string expression as a reader sees it, with X for what is filled in at run time: literals,
    f-strings and `+` of them; None for anything else."""
    if isinstance(node, ast.Constant):
        return node.value if isinstance(node.value, str) else None
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "X" for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        if left is not None or right is not None:
            return (left or "X") + (right or "X")
    return None


def _message_strings(tree: ast.AST):
    """(line, text) of the messages in raised exceptions and in message calls."""
    def messages(call):
        if isinstance(call, ast.Call):
            for arg in [*call.args, *(k.value for k in call.keywords)]:
                text = _text(arg)
                if text is not None:
                    yield arg.lineno, text

    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            yield from messages(node.exc)
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in MESSAGE_CALLS:
                yield from messages(node)


def test_flags_in_error_hints_exist():
    """A hint such as "(raise --n-ctx)" must name an option some rrr command has; a hint that names the
    command (`rrr selftrain --resume RUN`) must name one of that command."""
    wrong = []
    for path in sorted((ROOT / "rrr_cli").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for line, text in _message_strings(tree):
            where = f"{path.relative_to(ROOT)}:{line}"
            for args in _rrr_invocations_in_text(text):
                command, names, _ = _resolve(args)
                for flag in _flag_names(args):
                    if flag not in _flags(command):
                        wrong.append(f"{where}: {' '.join(names)} has no {flag} ({text!r})")
            # Another tool's command in backticks (`ray start --head`, `pip install …`) names its flags.
            for flag in FLAG.findall(re.sub(r"`(?!rrr\b)[A-Za-z][^`]*`", "", text)):
                if flag not in ALL_FLAGS:
                    wrong.append(f"{where}: no rrr command has {flag} ({text!r})")
    assert not wrong, "\n".join(wrong)


def _rrr_invocations_in_text(text: str) -> list[list[str]]:
    """`rrr ...` commands quoted in a message, up to the end of their backquotes or sentence."""
    commands = re.findall(r"`(rrr [^`]*)`", text) or re.findall(r"\brun: (rrr [^;()]*)", text)
    out = []
    for command in commands:
        try:
            out += _rrr_invocations(command)
        except ValueError:  # an unfinished quote in a message fragment: the flag check below still applies
            continue
    return out


def _flag_names(args: list[str]) -> list[str]:
    return [token.split("=", 1)[0] for token in args if FLAG.fullmatch(token.split("=", 1)[0])]


def _readme_code() -> tuple[list[str], list[str]]:
    """(lines of the shell code blocks, inline code spans) of the README and the pages under docs/."""
    lines, spans = [], []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        prose, fence = [], None
        for line in page.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                fence = line[3:].strip() if fence is None else None
            elif fence is None:
                prose.append(line)
            elif fence in ("", "sh", "bash", "shell", "console"):
                lines.append(line.split("  #")[0].strip())
        spans += [span.replace("\\|", "|").replace("\n", " ") for span in re.findall(r"`([^`]+)`", "\n".join(prose))]
    return [line for line in lines if line], spans


def test_readme_commands_parse():
    lines, _ = _readme_code()
    problems = [problem for line in lines for args in _rrr_invocations(line)
                if (problem := _parses(args)) is not None]
    assert not problems, "\n".join(problems)


def test_readme_flags_exist():
    """Inline code: `rrr CMD ... --flag` must be an option of CMD; a bare `--flag 1` one of some command."""
    _, spans = _readme_code()
    wrong = []
    for span in spans:
        if span.startswith("-"):
            wrong += [f"`{span}`: no rrr command has {flag}" for flag in FLAG.findall(span) if flag not in ALL_FLAGS]
            continue
        try:
            invocations = _rrr_invocations(span)
        except ValueError:
            continue
        for args in invocations:
            command, names, _ = _resolve(args)
            wrong += [f"`{span}`: {' '.join(names)} has no {flag}" for flag in _flag_names(args)
                      if flag not in _flags(command)]
    assert not wrong, "\n".join(wrong)


def test_the_checks_catch_a_missing_flag():
    """The parser the tests above rely on: a made-up flag fails, a real one passes, pipes split."""
    assert _rrr_invocations("HF_HUB_OFFLINE=1 rrr sample x -n 2 | rrr rerank --top-k 1 > out") == \
        [["sample", "x", "-n", "2"], ["rerank", "--top-k", "1"]]
    assert _rrr_invocations('llama-cli -m "$(rrr models path m)" -p hi') == [["models", "path", "m"]]
    assert _parses(["sample", "x", "--no-such-flag"]) is not None
    assert _parses(["sample", "x", "-n", "two"]) is not None
    assert _parses(["sample", "x", "--threads", "1", "--n-ctx", "2048"]) is None
    assert "--no-such-flag" not in ALL_FLAGS and "--threads" in ALL_FLAGS
