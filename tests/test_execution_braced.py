"""Task files in the seven braced languages: parse the last open function, run its examples."""

from __future__ import annotations

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.execution import assemble, run_program, toolchain_missing
from rrr_cli.tasks import load_tasks
from rrr_cli.tasks.braced import braced_task

from test_execution_languages import BROKEN, COMPLETIONS

CLOSE = {"cpp": "}\n", "java": "    }\n}\n", "cs": "    }\n}\n", "sh": "}\n", "php": "}\n", "ts": "}\n", "js": "}\n"}


def _add_task(language):
    return next(t for t in load_tasks([f"humaneval-{language}"]) if t.task_id.endswith("HumanEval_53_add"))


@pytest.mark.parametrize("language", sorted(CLOSE))
def test_task_file_round_trip(language):
    if toolchain_missing(language):
        pytest.skip(toolchain_missing(language))
    original = _add_task(language)
    task = braced_task(original.prompt + CLOSE[language], f"add.{language}", language)
    assert task.prompt == original.prompt
    assert task.language == language and task.task_id == "add"
    right, wrong = COMPLETIONS[language][0]
    assert run_program(language, assemble(task, right)).status == "passed"
    if task.extra["examples_executable"]:
        assert len(task.extra["examples"]) == 2
        assert run_program(language, assemble(task, wrong)).status == "failed"
    else:
        assert "tests_note" in task.extra
    assert run_program(language, assemble(task, BROKEN[language])).status == "compile_error"


def test_last_open_function_is_chosen():
    text = ("// helper\nint twice(int x) {\n    return 2 * x;\n}\n"
            "// >>> add(1, 2)\n// 3\nint add(int a,\n        int b) {\n    // fill me in\n}\n")
    task = braced_task(text, "t.cpp", "cpp")
    assert task.entry_point == "add"
    assert task.prompt.endswith("int add(int a,\n        int b) {\n")
    assert task.extra["examples"] == [{"call": "add(1, 2)", "expected": "3"}]


def test_nothing_to_complete():
    with pytest.raises(RrrError, match="nothing to complete"):
        braced_task("int f() {\n    return 1;\n}\n", "t.cpp", "cpp")
