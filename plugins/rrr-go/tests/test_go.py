"""rrr-go: Go reaches every part of rrr through its one language file."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("rrr_go", reason="the plugin is not installed (pip install -e plugins/rrr-go)")

from rrr_cli import plugins
from rrr_cli.execution import Limits, assemble, run_program, toolchain_missing
from rrr_cli.execution.languages import get_language
from rrr_cli.execution.probes import run_probes
from rrr_cli.generation.prompts import chat_messages, style_for, to_completion
from rrr_cli.ranking.scorers import PublicExamplesScorer, example_checks
from rrr_cli.records import Candidate, Task, known_languages, read_records
from rrr_cli.tasks import load_source

HERE = Path(__file__).resolve().parent.parent
EXAMPLES = HERE / "examples"
needs_go = pytest.mark.skipif(toolchain_missing("go") is not None, reason="golang-go is not installed")

SOLUTIONS = {
    "go/add": ("\treturn x + y\n", "\treturn x - y\n"),
    "go/max_of": ("\tbest := nums[0]\n\tfor _, n := range nums {\n\t\tif n > best {\n\t\t\tbest = n\n\t\t}\n\t}\n"
                  "\treturn best\n", "\treturn nums[0]\n"),
    "go/count_vowels": ("\tcount := 0\n\tfor _, c := range s {\n\t\tswitch c {\n\t\tcase 'a', 'e', 'i', 'o', 'u', "
                        "'A', 'E', 'I', 'O', 'U':\n\t\t\tcount++\n\t\t}\n\t}\n\treturn count\n",
                        "\treturn len(s)\n"),
    "go/is_prime": ("\tif n < 2 {\n\t\treturn false\n\t}\n\tfor d := 2; d*d <= n; d++ {\n\t\tif n%d == 0 {\n"
                    "\t\t\treturn false\n\t\t}\n\t}\n\treturn true\n", "\treturn n%2 == 1\n"),
    "go/reverse": ("\tout := make([]int, 0, len(nums))\n\tfor i := len(nums) - 1; i >= 0; i-- {\n"
                   "\t\tout = append(out, nums[i])\n\t}\n\treturn out\n", "\treturn nums\n"),
    "go/fizzbuzz": ("\tswitch {\n\tcase n%15 == 0:\n\t\treturn \"FizzBuzz\"\n\tcase n%3 == 0:\n\t\treturn \"Fizz\"\n"
                    "\tcase n%5 == 0:\n\t\treturn \"Buzz\"\n\t}\n\treturn strconv.Itoa(n)\n",
                    "\treturn strconv.Itoa(n)\n"),
}
SUM_OF_SQUARES = "\ttotal := 0\n\tfor _, n := range nums {\n\t\ttotal += n * n\n\t}\n\treturn total\n"


def _candidate(task: Task, completion: str, sample_id: int = 0) -> Candidate:
    return Candidate(task_id=task.task_id, language=task.language, prompt=task.prompt, completion=completion,
                     sample_id=sample_id, model="test", backend="test", prompt_style="completion",
                     temperature=0.8, seed=0, n_tokens=1)


def test_go_is_a_language_plugin_of_package_rrr_go():
    plugin = plugins.discovered("language")["go"]
    assert plugin.package == "rrr-go" and not plugin.builtin
    assert "go" in known_languages()
    go = get_language("go")
    assert (go.display_name, go.fence, go.task_extensions, go.packages) == ("Go", "go", (".go",), ("golang-go",))


def test_a_go_task_file_becomes_a_task_with_its_examples_as_tests():
    task = load_source(str(EXAMPLES / "sum_of_squares.go"))[0]
    assert task.language == "go" and task.entry_point == "sumOfSquares" and task.stop_tokens == ["\n}"]
    assert task.prompt.endswith("func sumOfSquares(nums []int) int {\n")
    assert task.tests.startswith("}\n") and "\trrrCheck(sumOfSquares([]int{-4, 5}), 41)\n" in task.tests
    assert [e["expected"] for e in task.extra["examples"]] == ["14", "0", "41"]
    assert task.extra["examples_executable"] and not task.extra["completion_closes_function"]


def test_prompts_name_go_and_fence_its_code():
    task = load_source(str(EXAMPLES / "is_palindrome.go"))[0]
    assert style_for(task, "auto") == "completion"
    user = chat_messages(task)[1]["content"]
    assert "Complete the following Go function" in user and "```go\n" in user
    # A chat reply's function body stops before the `}` that the tests close.
    assert to_completion(task, "chat", "\treturn true\n}\n\nfunc main() {}\n") == "\treturn true\n"


def test_the_hand_written_tasks_load_as_records():
    tasks = list(read_records(EXAMPLES / "go-tasks.jsonl", Task))
    assert {task.task_id for task in tasks} == set(SOLUTIONS)
    assert all(task.language == "go" and task.entry_point for task in tasks)


@needs_go
@pytest.mark.parametrize("task_id", sorted(SOLUTIONS))
def test_each_task_passes_its_solution_and_fails_a_wrong_one(task_id):
    task = next(t for t in read_records(EXAMPLES / "go-tasks.jsonl", Task) if t.task_id == task_id)
    right, wrong = SOLUTIONS[task_id]
    assert run_program("go", assemble(task, right)).status == "passed"
    assert run_program("go", assemble(task, wrong)).status == "failed"


@needs_go
def test_verdicts_tell_compile_errors_and_runtime_errors_from_failures():
    task = load_source(str(EXAMPLES / "sum_of_squares.go"))[0]
    assert run_program("go", assemble(task, SUM_OF_SQUARES)).status == "passed"
    assert run_program("go", assemble(task, "\treturn undefinedName\n")).status == "compile_error"
    crashed = run_program("go", assemble(task, "\treturn nums[5]\n"))
    assert crashed.status == "runtime_error" and "index out of range" in crashed.stderr
    assert run_program("go", assemble(task, "\tfor {\n\t}\n"), Limits(timeout_s=2)).status == "timeout"
    wrong = run_program("go", assemble(task, "\treturn 1\n"))
    assert wrong.status == "failed" and "assertion failed: got 1, want 14" in wrong.stderr


@needs_go
def test_public_examples_score_task_files_and_harnessed_tasks():
    task = load_source(str(EXAMPLES / "sum_of_squares.go"))[0]
    scorer = PublicExamplesScorer()
    outcomes = scorer.examples_passed(task, [_candidate(task, SUM_OF_SQUARES, 0), _candidate(task, "\treturn 14\n", 1)])
    assert [(o.passed, o.total) for o in outcomes] == [(3, 3), (1, 3)]
    harnessed = next(t for t in read_records(EXAMPLES / "go-tasks.jsonl", Task) if t.task_id == "go/add")
    harnessed.extra = {"examples": [{"call": "add(2, 3)", "expected": "5"}]}
    checks = example_checks(harnessed)
    assert not checks.fallback and "\trrrCheck(add(2, 3), 5)\n" in checks.tails[0]
    assert "add(100, -250)" not in checks.tails[0]  # the hidden tests are taken out
    right, wrong = SOLUTIONS["go/add"]
    scores = scorer.score(harnessed, [_candidate(harnessed, right, 0), _candidate(harnessed, wrong, 1)])
    assert scores[0] > 0.9 > 0.1 > scores[1]


@needs_go
def test_probes_render_go_values_errors_and_timeouts():
    prompt = "package main\n\nimport \"strings\"\n\nfunc f(s string, n int) ([]string, map[string]float64, *int, error) {\n"
    task = Task(task_id="probe", language="go", prompt=prompt, tests="}\n", stop_tokens=["\n}"], entry_point="f",
                source="test")
    body = ("\tif n < 0 {\n\t\tfor {\n\t\t}\n\t}\n\tparts := strings.Fields(s)\n\tm := map[string]float64{\"b\": 1.0 / 3, "
            "\"a\\n\": 2}\n\treturn parts, m, &n, nil\n")
    outputs = run_probes(task, _candidate(task, body), ['"x y", 1', '"", -1', '"", 0'], probe_timeout_s=0.5)
    assert outputs[0].status == "ok"
    assert outputs[0].value == '(["x", "y"], {"a\\n": 2, "b": 0.333333}, 1, null)'
    assert outputs[1].status == "timeout"
    assert outputs[2].value == '([], {"a\\n": 2, "b": 0.333333}, 0, null)'
    panics = run_probes(task, _candidate(task, "\tvar p *int\n\t*p = len(strings.Fields(s))\n"
                                          "\treturn nil, nil, p, nil\n"), ['"", 0'])
    assert (panics[0].status, panics[0].error) == ("error", "runtime.errorString")
