"""A verdict that can't be faked: `passed` needs exit status 0 and the harness's proof that the tests ran
to their end, in every language (rrr's eight and the Go plugin), for the hidden tests, the public
examples and the probes alike."""

from __future__ import annotations

import dataclasses

import pytest

from early_exit import FORMS, NONZERO, WRONG, good_completion, task_for
from rrr_cli.execution import Limits, assemble, run_program, toolchain_missing
from rrr_cli.execution.cache import cache_key, harness_key
from rrr_cli.execution.languages import get_language, language_names
from rrr_cli.execution.probes import run_probes
from rrr_cli.execution.runner import NOT_FINISHED
from rrr_cli.execution.sandbox import bwrap_problem
from rrr_cli.records import Candidate
from rrr_cli.ranking.scorers import PublicExamplesScorer

pytestmark = pytest.mark.skipif(bwrap_problem() is not None, reason=f"no sandbox: {bwrap_problem()}")

LIMITS = Limits(timeout_s=10.0, compile_timeout_s=60.0)
LANGUAGES = [name for name in FORMS if name in language_names()]


def _need(language: str) -> None:
    missing = toolchain_missing(language)
    if missing:
        pytest.skip(missing)


def _run(language: str, completion: str):
    task = task_for(language)
    return run_program(language, assemble(task, completion), LIMITS)


@pytest.mark.parametrize("language,form", [(language, form) for language in LANGUAGES for form in FORMS[language]])
def test_an_early_exit_is_failed_with_the_reason(language, form):
    _need(language)
    result = _run(language, FORMS[language][form])
    assert result.status == "failed", (result.status, result.stderr[-800:])
    if (language, form) not in NONZERO:
        # The program really did exit 0: only the missing proof tells it from a pass.
        assert result.exit_code == 0, result.stderr[-800:]
        assert result.reason == NOT_FINISHED
        assert f"rrr: {NOT_FINISHED}" in result.stderr
        verdict = result.to_verdict("t", 0)
        assert verdict.reason == NOT_FINISHED and verdict.to_dict()["reason"] == NOT_FINISHED


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_known_good_solution_passes_and_a_wrong_one_fails(language):
    _need(language)
    task = task_for(language)
    good = _run(language, good_completion(language, task))
    assert good.status == "passed", good.stderr[-1500:]
    assert good.reason is None and "reason" not in good.to_dict()
    wrong = _run(language, WRONG[language])
    assert wrong.status == "failed" and wrong.reason is None, (wrong.status, wrong.stderr[-800:])


@pytest.mark.parametrize("language,program", [
    # A harness's own `return` from main still proves that its tests finished.
    ("cpp", "#include <cassert>\nint main() {\n    assert(1 + 2 == 3);\n    return 0;\n}\n"),
    ("java", "class Problem {\n    public static void main(String[] args) {\n        assert 1 + 2 == 3;\n"
             "        if (args.length == 0) return;\n        assert false;\n    }\n}\n"),
    ("cs", "using System.Diagnostics;\nclass Problem {\n    public static void Main(string[] args) {\n"
           "        Debug.Assert(1 + 2 == 3);\n        return;\n    }\n}\n"),
])
def test_a_return_from_main_still_proves_the_tests_finished(language, program):
    _need(language)
    result = run_program(language, program, LIMITS)
    assert result.status == "passed", result.stderr[-1500:]


def test_a_failing_harness_with_a_status_hook_stays_failed_even_though_the_proof_ran_first():
    # Java's proof sits in a finally that skips a throw: the AssertionError must not write it on its way
    # out, or a shutdown hook's halt(0) would turn the failure into a pass.
    _need("java")
    program = ("class Problem {\n    public static void main(String[] args) {\n"
               "        Runtime.getRuntime().addShutdownHook(new Thread(() -> Runtime.getRuntime().halt(0)));\n"
               "        throw new AssertionError(\"wrong\");\n    }\n}\n")
    result = run_program("java", program, LIMITS)
    assert result.exit_code == 0 and result.status == "failed" and result.reason == NOT_FINISHED


def test_the_harness_is_part_of_the_verdict_cache_key():
    spec = get_language("python")
    program, limits = "print(1)\n", Limits()
    weaker = dataclasses.replace(spec, tests_done=None)
    assert weaker.execution_spec() != spec.execution_spec()
    assert "tests_done" in spec.execution_spec()
    # The key depends on the installed definition: the same program under another harness is another key.
    assert cache_key("python", program, limits) == cache_key("python", program, limits)
    assert len(harness_key("python")) == 16 and harness_key("python") != harness_key("js")


@pytest.mark.parametrize("language", ["python", "cpp", "js"])
def test_public_examples_do_not_count_an_early_exit(language):
    _need(language)
    task = task_for(language)
    exits = {"python": FORMS["python"]["exit inside the function"], "cpp": FORMS["cpp"]["exit inside the function"],
             "js": FORMS["js"]["exit inside the function"]}[language]
    candidates = [Candidate(task_id=task.task_id, language=language, prompt=task.prompt, completion=completion,
                            sample_id=i, model="m", backend="b", prompt_style="completion", temperature=0.8,
                            seed=0, n_tokens=1)
                  for i, completion in enumerate([good_completion(language, task), exits])]
    good, early = PublicExamplesScorer().examples_passed(task, candidates)
    assert good.total > 0 and good.passed == good.total
    assert early.passed == 0


@pytest.mark.parametrize("language", ["python", "java"])
def test_probes_after_an_early_exit_are_not_outputs(language):
    _need(language)
    task = task_for(language)
    exits = {"python": "    import os\n    if numbers == [9.0]:\n        os._exit(0)\n    return True\n",
             "java": "        if (x == 9) System.exit(0);\n        return x + y;\n"}[language]
    inputs = {"python": ["[1.0, 1.5], 0.7", "[9.0], 1.0", "[2.0], 1.0"],
              "java": ["1l, 2l", "9l, 1l", "3l, 4l"]}[language]
    candidate = Candidate(task_id=task.task_id, language=language, prompt=task.prompt, completion=exits,
                          sample_id=0, model="m", backend="b", prompt_style="completion", temperature=0.8,
                          seed=0, n_tokens=1)
    outputs = run_probes(task, candidate, inputs, LIMITS, cache=False)
    assert outputs[0].status == "ok"
    # The call that exited, and every one after it, gave no output: errors, never values.
    assert [o.status for o in outputs[1:]] == ["error", "error"]
    assert outputs[2].error == NOT_FINISHED
