"""Task sources: shipped benchmarks, task files, examples in docstrings, bad input."""

import subprocess
import sys

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.tasks import load_tasks
from rrr_cli.tasks.examples import Example, extract_examples, python_example_check


def test_benchmarks_ship_with_the_package():
    assert len(load_tasks(["humaneval-python"])) == 164
    assert len(load_tasks(["mbpp"])) == 500  # the test split
    assert len(load_tasks(["mbpp"], split="train+validation")) == 464
    assert len(load_tasks(["multipl-e"])) == 164 + 161 + 158 + 161 + 159 + 158 + 158 + 161
    assert len(load_tasks(["humaneval-cpp", "mbpp"], limit=3)) == 6


def test_python_benchmark_programs_pass_with_canonical_solutions():
    for task in load_tasks(["humaneval-python"], limit=5) + load_tasks(["mbpp"], limit=5):
        program = task.prompt + task.extra["canonical_solution"] + task.tests
        if task.source == "mbpp":  # MBPP's reference is a whole module, not a continuation
            program = task.extra["canonical_solution"] + task.tests
        result = subprocess.run([sys.executable, "-c", program], capture_output=True, timeout=30)
        assert result.returncode == 0, (task.task_id, result.stderr)


def test_unknown_sources_are_clear_errors(tmp_path):
    with pytest.raises(RrrError, match="no such file or benchmark"):
        load_tasks(["humaneval-cobol"])
    with pytest.raises(RrrError, match="unknown mbpp split"):
        load_tasks(["mbpp"], split="dev")
    with pytest.raises(RrrError, match="--limit"):
        load_tasks(["mbpp"], limit=0)
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(RrrError, match="unknown task file type"):
        load_tasks([str(tmp_path / "notes.txt")])


def test_docstring_examples_are_extracted():
    text = '''
    >>> add(1, 2)
    3
    >>> add([1],
    ...     [2])
    [1, 2]
    >>> print("x")
    >>> greet()
    'hi'
    '''
    assert extract_examples(text) == [
        Example("add(1, 2)", "3"),
        Example("add([1],\n    [2])", "[1, 2]"),
        Example('greet()', "'hi'"),
    ]


def test_comment_style_examples_stop_at_code():
    prompt = '// >>> f((1))\n// (2)\nlong f(long x) {\n'
    assert extract_examples(prompt) == [Example("f((1))", "(2)")]


def test_example_check_compares_values_and_text():
    ok = "def f(x):\n    return [x] * 2\n" + python_example_check(Example("f(1)", "[1, 1]"))
    bad = "def f(x):\n    return [x]\n" + python_example_check(Example("f(1)", "[1, 1]"))
    text = "class P:\n    def __repr__(self):\n        return 'P<1>'\n\ndef f(x):\n    return P()\n" \
        + python_example_check(Example("f(1)", "P<1>"))
    commented = "def f(x):\n    return x\n" + python_example_check(Example("f(1)  # one", "1"))
    for program, code in ((ok, 0), (bad, 1), (text, 0), (commented, 0)):
        assert subprocess.run([sys.executable, "-c", program], capture_output=True).returncode == code


def test_python_task_file(tmp_path):
    path = tmp_path / "double.py"
    path.write_text('import math\n\n\ndef helper():\n    return 1\n\n\ndef double(x: int) -> int:\n'
                    '    """Twice x.\n\n    >>> double(2)\n    4\n    """\n    ...\n\n\nprint("end")\n')
    [task] = load_tasks([str(path)])
    assert task.language == "python" and task.entry_point == "double"
    assert task.prompt.endswith('    """\n') and "helper" in task.prompt and "..." not in task.prompt
    assert task.extra["examples"] == [{"call": "double(2)", "expected": "4"}]
    program = task.prompt + "    return 2 * x\n" + task.tests
    assert subprocess.run([sys.executable, "-c", program]).returncode == 0


def test_task_file_with_nothing_to_complete(tmp_path):
    path = tmp_path / "done.py"
    path.write_text("def f():\n    return 1\n")
    with pytest.raises(RrrError, match="nothing to complete"):
        load_tasks([str(path)])
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n")
    with pytest.raises(RrrError, match="not valid Python"):
        load_tasks([str(broken)])


def test_an_expected_result_ends_where_its_brackets_close():
    # MultiPL-E's comments run on into prose with no blank line; a multi-line result still joins.
    from rrr_cli.tasks.examples import extract_examples

    text = ("// >>> f((std::vector<long>({(long)1, (long)3})))\n// (10)\n// If the input vector is empty, return 0.\n"
            "// >>> g(2)\n// (std::vector<long>({(long)1,\n// (long)2}))\n// Example 2:\n")
    assert [e.expected for e in extract_examples(text)] == ["(10)", "(std::vector<long>({(long)1,\n(long)2}))"]
