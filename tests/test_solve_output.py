"""What `rrr solve` puts on stdout: piped (or with --plain), exactly the completed file that `--write`
writes, byte for byte; every message on stderr. On a terminal, highlighting never changes the code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from rrr_cli.commands import solve
from rrr_cli.tasks.taskfile import load_task_file

ROOT = Path(__file__).resolve().parent.parent
LONG_LINE_EXAMPLE = ROOT / "examples" / "unique_in_order.py"


def test_the_example_has_a_line_a_wrap_would_break():
    assert max(len(line) for line in LONG_LINE_EXAMPLE.read_text().splitlines()) > 100


def test_solve_on_a_pipe_prints_exactly_the_file_write_produces(tmp_path, model_cache):
    model = model_cache("qwen2.5-coder-0.5b-instruct")
    task = tmp_path / LONG_LINE_EXAMPLE.name
    original = LONG_LINE_EXAMPLE.read_bytes()
    task.write_bytes(original)
    env = {**os.environ, "RRR_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "COLUMNS": "80"}
    # Few, short candidates: the bytes are the point here, not how good the body is.
    result = subprocess.run([sys.executable, "-m", "rrr_cli", "solve", str(task), "--model", str(model),
                             "-n", "2", "--max-tokens", "160", "--write"],
                            capture_output=True, env=env, timeout=900, cwd=ROOT)
    assert result.returncode == 0, result.stderr.decode()
    written = task.read_bytes()
    assert result.stdout == written  # the whole file, as --write left it
    assert (tmp_path / (task.name + ".bak")).read_bytes() == original
    assert written.startswith(original) and len(written) > len(original)  # the body follows the docstring
    assert b"\x1b" not in result.stdout and b"chosen by" not in result.stdout
    assert b"chosen by" in result.stderr and b"rank" in result.stderr


def test_completed_file_keeps_the_rest_of_a_python_file(tmp_path):
    path = tmp_path / "two.py"
    path.write_text('import math\n\n\ndef area(r: float) -> float:\n    """Area of a circle of radius `r`.\n\n'
                    '    >>> area(1.0) == math.pi\n    True\n    """\n    ...\n\n\nprint(area(2.0))\n')
    task = load_task_file(path)
    completed = solve.completed_file(path, task, "    return math.pi * r * r")
    assert completed == ('import math\n\n\ndef area(r: float) -> float:\n    """Area of a circle of radius `r`.\n\n'
                         '    >>> area(1.0) == math.pi\n    True\n    """\n    return math.pi * r * r\n\n\n'
                         'print(area(2.0))\n')


def test_completed_file_closes_a_braced_function_where_the_tests_would(tmp_path):
    path = tmp_path / "sum_of_squares.cpp"
    text = (ROOT / "examples" / "sum_of_squares.cpp").read_text() + "\nint other() { return 1; }\n"
    path.write_text(text)
    task = load_task_file(path)
    body = "    long total = 0;\n    for (long x : numbers) total += x * x;\n    return total;"
    completed = solve.completed_file(path, task, body)
    signature = "long sum_of_squares(std::vector<long> numbers) {\n"
    head = text[: text.index(signature) + len(signature)]
    assert completed == head + body + "\n}\n\nint other() { return 1; }\n"


def test_completed_file_takes_a_self_closing_completion_as_it_is(tmp_path):
    path = tmp_path / "count_vowels.js"
    text = (ROOT / "examples" / "count_vowels.js").read_text()
    path.write_text(text)
    task = load_task_file(path)
    body = "  return (text.match(/[aeiou]/gi) || []).length;\n}\n"
    completed = solve.completed_file(path, task, body)
    assert completed.count("}") == text.count("}")  # the file's own closing brace is replaced, not kept too
    assert completed.endswith(body) and completed.startswith(task.prompt)


def test_highlighting_on_a_terminal_never_changes_the_code(tmp_path, monkeypatch):
    task = load_task_file(LONG_LINE_EXAMPLE)
    body = "    return list(dict.fromkeys(items))\n"
    terminal = Console(force_terminal=True, width=40, record=True, file=open(os.devnull, "w"),
                       highlight=False, soft_wrap=True)
    monkeypatch.setattr(solve, "stdout", terminal)
    solve._highlight(task, body)
    shown = terminal.export_text(styles=False)
    function = task.prompt[task.prompt.index("def unique_in_order"):] + body
    assert shown == function  # a 120-character line on a 40-column terminal: folded by it, not by rrr
