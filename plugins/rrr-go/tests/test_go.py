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


# --- Go's probe literals and confidence, from go.toml alone ----------------------------------------

def _go_tasks() -> dict[str, Task]:
    return {task.task_id: task for task in read_records(EXAMPLES / "go-tasks.jsonl", Task)}


def test_go_tasks_get_probes_in_go_s_own_literals():
    from rrr_cli.ranking.probe_inputs import call_opening, mutations, parse_generated, probe_inputs, signature_parameters

    tasks = _go_tasks()
    probes = {task_id: [(p.input, p.source) for p in probe_inputs(task)] for task_id, task in tasks.items()}
    # A slice is varied as a slice: empty, its first element alone, that element twice.
    assert probes["go/max_of"] == [("[]int{3, 9, 2}", "example"), ("[]int{-5, -2, -8}", "example"),
                                   ("[]int{}", "mutation"), ("[]int{3}", "mutation"), ("[]int{-5}", "mutation"),
                                   ("[]int{3, 3, 9, 2}", "mutation"), ("[]int{-5, -5, -2, -8}", "mutation")]
    assert [i for i, _ in probes["go/count_vowels"]] == ['"hello"', '"AEIOU xyz"', '""', '"h"', '"A"']
    assert [i for i, _ in probes["go/is_prime"]] == ["7", "1", "8", "2", "6", "0"]
    # Nested slices, pointers and raw strings too; a rune is not a string, an array's length is its type.
    assert mutations("[][]int{{1, 2}, {3}}, 'a', [2]int{1, 2}, `ab`", "go") == [
        "[][]int{}, 'a', [2]int{1, 2}, `ab`", "[][]int{{1, 2}}, 'a', [2]int{1, 2}, `ab`",
        "[][]int{{1, 2}, {1, 2}, {3}}, 'a', [2]int{1, 2}, `ab`",
        "[][]int{{1, 2}, {3}}, 'a', [2]int{1, 2}, ``", "[][]int{{1, 2}, {3}}, 'a', [2]int{1, 2}, `a`"]
    assert mutations('map[string]int{"a": 1}, []*T{p}', "go") == ['map[string]int{"a": 1}, []*T{}',
                                                                   'map[string]int{"a": 1}, []*T{p}',
                                                                   'map[string]int{"a": 1}, []*T{p, p}']
    # The request for more calls names the parameters as Go's `func` line spells them.
    assert (call_opening(tasks["go/max_of"]), signature_parameters(tasks["go/max_of"])) == ("maxOf(", "nums []int")
    assert parse_generated(tasks["go/max_of"], "maxOf([]int{1})\nfmt.Println(maxOf([]int{2, 3}))\n"
                                               "func maxOf(nums []int) int {") == ["[]int{1}", "[]int{2, 3}"]


REFERENCES = {  # what each task's function returns, as the probes render it (None: it fails)
    "go/add": lambda x, y: str(x + y),
    "go/max_of": lambda nums: str(max(nums)) if nums else None,
    "go/count_vowels": lambda s: str(sum(c in "aeiouAEIOU" for c in s)),
    "go/is_prime": lambda n: "true" if n > 1 and all(n % d for d in range(2, n)) else "false",
    "go/reverse": lambda nums: "[" + ", ".join(map(str, nums[::-1])) + "]",
    "go/fizzbuzz": lambda n: '"' + ("FizzBuzz" if n % 15 == 0 else "Fizz" if n % 3 == 0 else "Buzz" if n % 5 == 0
                                    else str(n)) + '"',
}


def _python_value(go_arguments: str) -> list:
    """A probe's Go arguments as Python values (the literals these tasks use: ints, strings, []int)."""
    import ast
    import re

    return list(ast.literal_eval("(" + re.sub(r"\[\]int\{([^{}]*)\}", r"[\1]", go_arguments) + ",)"))


@needs_go
def test_go_probes_compile_and_run_to_the_values_they_should():
    from rrr_cli.execution.probes import run_probes_many
    from rrr_cli.ranking.probe_inputs import probe_inputs

    tasks = _go_tasks()
    jobs = [(task, _candidate(task, SOLUTIONS[task_id][0]), [p.input for p in probe_inputs(task)])
            for task_id, task in sorted(tasks.items())]
    for (task, _, inputs), outputs in zip(jobs, run_probes_many(jobs)):
        assert len(outputs) == len(inputs) >= 4, task.task_id
        for probe, output in zip(inputs, outputs):
            expected = REFERENCES[task.task_id](*_python_value(probe))
            if expected is None:  # maxOf of an empty slice: the index panics (the prompt says never empty)
                assert (output.status, output.error) == ("error", "runtime.boundsError"), (task.task_id, probe)
            else:
                assert (output.status, output.value) == ("ok", expected), (task.task_id, probe, output)


@needs_go
def test_a_go_pick_gets_a_confidence_and_a_model_can_learn_a_go_column():
    from rrr_cli.ranking.confidence import FEATURES, LANGUAGES, ConfidenceModel, feature_row, pick_confidence, shipped

    assert "go" in LANGUAGES and "language_go" in FEATURES  # from the registry, after rrr's own eight
    assert LANGUAGES.index("go") > max(LANGUAGES.index(n) for n in ("python", "cpp", "java", "php", "ts", "cs", "sh", "js"))
    task = _go_tasks()["go/max_of"]
    right, wrong = SOLUTIONS["go/max_of"]
    candidates = [_candidate(task, right, 0), _candidate(task, right, 1), _candidate(task, wrong, 2)]
    sure = pick_confidence(task, candidates, candidates[0])
    assert isinstance(sure.probability, float) and 0.0 < sure.probability < 1.0
    # The shipped model was fitted before Go: its language term for Go is the average language's (0).
    assert not shipped().reads_language("go")
    assert sure.basis == "2 of 3 candidates agree, 2/2 examples; Go read as the average language"
    row = feature_row([[1.0, 0.0, 1.0, 2 / 3, 1.0, 0.0]] * 2 + [[0.5, 0.0, 1.0, 1 / 3, 0.0, 0.0]], 0, None, 2, "go")
    assert row[FEATURES.index("language_go")] == 1.0
    # A model fitted with Go's column reads it.
    with_go = ConfidenceModel([1.0, -2.0], 0.0, ("examples_passed", "language_go"))
    assert with_go.reads_language("go")
    assert with_go.probability(row) == pytest.approx(1 / (1 + 2.718281828459045))
    assert pick_confidence(task, candidates, candidates[0], with_go).basis == "2 of 3 candidates agree, 2/2 examples"
