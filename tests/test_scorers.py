"""Scorers: random, mean log-prob, public examples (CodeT-style, in the real sandbox), weighted, registry."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.ranking import rank
from rrr_cli.ranking.registry import get_scorer, scorer_names
from rrr_cli.ranking.scorers import MeanLogprobScorer, PublicExamplesScorer, RandomScorer, WeightedScorer
from rrr_cli.records import Candidate, Task, read_records
from rrr_cli.tasks import load_tasks
from rrr_cli.tasks.examples import example_checks

FIXTURES = Path(__file__).parent / "fixtures" / "eval"


def _task(task_id: str) -> Task:
    return next(t for t in read_records(FIXTURES / "tasks.jsonl", Task) if t.task_id == task_id)


def _candidates(task: Task, completions: list[str], logprobs: list[float | None] | None = None) -> list[Candidate]:
    logprobs = logprobs or [-1.0] * len(completions)
    return [Candidate(task_id=task.task_id, language=task.language, prompt=task.prompt, completion=text,
                      sample_id=i, mean_logprob=lp) for i, (text, lp) in enumerate(zip(completions, logprobs))]


def test_random_is_seeded_and_per_candidate():
    task = _task("fx/add")
    candidates = _candidates(task, ["a", "b", "c", "d"])
    first = RandomScorer(seed=1).score(task, candidates)
    assert first == RandomScorer(seed=1).score(task, candidates)
    assert first != RandomScorer(seed=2).score(task, candidates)
    assert len(set(first)) == 4 and all(0 <= s < 1 for s in first)


def test_mean_logprob_ranks_missing_last():
    task = _task("fx/add")
    candidates = _candidates(task, ["a", "b", "c"], [-0.5, None, -0.1])
    scores = MeanLogprobScorer().score(task, candidates)
    assert scores[2] > scores[0] > scores[1] == -math.inf
    assert [c.sample_id for c in rank(task, candidates, MeanLogprobScorer())] == [2, 0, 1]


def test_public_examples_in_the_sandbox(sandbox_home):
    task = _task("fx/add")  # examples: add(1, 2) == 3 and add(-1, 1) == 0
    candidates = _candidates(task, ["    return a + b\n", "    return 3\n", "    return (\n", "    return a * b\n"],
                             [-2.0, -0.1, -0.2, -0.3])
    scorer = PublicExamplesScorer()
    outcomes = scorer.examples_passed(task, candidates)
    assert [(o.passed, o.total) for o in outcomes] == [(2, 2), (1, 2), (0, 2), (0, 2)]
    assert outcomes[0].describe() == "2/2 examples"
    ranked = rank(task, candidates, scorer)
    # The examples decide first (despite its low log-prob); among the 0/2, the likelier wins the tie.
    assert [c.sample_id for c in ranked] == [0, 1, 2, 3]


def test_public_examples_falls_back_to_builds(sandbox_home):
    task = _task("fx/none")  # no `>>>` examples
    assert example_checks(task).fallback
    candidates = _candidates(task, ["    return None\n", "    return (\n"], [-3.0, -0.1])
    scorer = PublicExamplesScorer()
    outcomes = scorer.examples_passed(task, candidates)
    assert [o.builds for o in outcomes] == [True, False] and outcomes[1].describe() == "does not build"
    assert [c.sample_id for c in rank(task, candidates, scorer)] == [0, 1]


@pytest.mark.parametrize("language", ["sh", "cpp", "js"])
def test_a_task_with_no_examples_builds_in_its_own_harness(sandbox_home, language):
    # HumanEval/41 has no examples in MultiPL-E: the check is the harness with its assertions out
    # (in Bash a `:` stands in, as an empty function body does not parse).
    task = next(t for t in load_tasks([f"humaneval-{language}"]) if "_41_" in t.task_id)
    assert example_checks(task).fallback
    body = {"sh": "    echo $(( $1 * $1 ))\n", "cpp": "    return n * n;\n",
            "js": "  return n * n;\n}\n"}[language]  # a JavaScript completion closes the function
    outcomes = PublicExamplesScorer().examples_passed(task, _candidates(task, [body, "    (\n"]))
    assert [o.builds for o in outcomes] == [True, False]

def test_a_completion_cut_at_its_stop_string_is_checked_as_it_runs(sandbox_home):
    # Sampling stops before Bash's closing `\n}`, so the completion ends without a newline; the hidden
    # tests get one before them, and so must every example check (`echo $x}` leaves the function open).
    task = _add_task("sh")
    candidates = _candidates(task, ["  echo $(( $1 + $2 ))", "  echo $(( $1 * $2 ))"])
    assert [(o.passed, o.total) for o in PublicExamplesScorer().examples_passed(task, candidates)] == [(2, 2), (0, 2)]


# The examples of HumanEval/53 (add) in each language, as the harness must assert them.
ADD_EXAMPLE = {
    "cpp": "    assert(candidate((2), (3)) == (5));",
    "java": "    assert(add((2l), (3l)) == (5l));",
    "cs": "    Debug.Assert(Add((2L), (3L)) == (5L));",
    "php": '    if (candidate(2, 3) !== 5) { throw new Exception("Test failed!"); }',
    "ts": "  assert.deepEqual(candidate(2, 3),5);",
    "js": "  assert.deepEqual(candidate(2, 3),5);",
    "sh": '    [[ $(candidate "2" "3") = "5" ]]',
}


def _add_task(language: str) -> Task:
    suffix = "/53" if language == "python" else "_53_add"
    return next(t for t in load_tasks([f"humaneval-{language}"]) if t.task_id.endswith(suffix))


@pytest.mark.parametrize("language", sorted(ADD_EXAMPLE))
def test_example_checks_use_the_harness_of_each_language(language):
    task = _add_task(language)
    checks = example_checks(task)
    assert not checks.fallback and len(checks.tails) == 2
    lines = checks.tails[0].splitlines()
    assert ADD_EXAMPLE[language] in lines
    # The hidden tests are gone: only the example's assertion is left.
    assert sum(1 for line in lines if "(2" in line or '"2"' in line or "2," in line) == 1


def test_example_checks_rename_the_callee_to_what_the_harness_calls():
    # MultiPL-E's Java examples call `stringLength` while the function is `strlen`.
    task = next(t for t in load_tasks(["humaneval-java"]) if t.task_id.endswith("_23_strlen"))
    assert "    assert(strlen((\"\")) == (0l));" in example_checks(task).tails[0].splitlines()


ADD_BODIES = {  # right, right on one example only, does not build
    "python": ["    return x + y\n", "    return 5\n", "    return (\n"],
    "cpp": ["    return x + y;\n", "    return 5;\n", "    return x +;\n"],
    "java": ["        return x + y;\n", "        return 5l;\n", "        return x +;\n"],
    "cs": ["        return x + y;\n", "        return 5L;\n", "        return x +;\n"],
    # PHP, TypeScript and JavaScript completions close the function themselves (their tests do not).
    "php": ["    return $x + $y;\n}\n", "    return 5;\n}\n", "    return $x +;\n}\n"],
    "ts": ["    return x + y;\n}\n", "    return 5;\n}\n", "    return x +;\n}\n"],
    "js": ["    return x + y;\n}\n", "    return 5;\n}\n", "    return x +;\n}\n"],
    "sh": ["    echo $(( $1 + $2 ))\n", "    echo 5\n", "    echo $(( $1 + ))\n"],
}


@pytest.mark.slow
def test_public_examples_in_every_language(sandbox_home):
    from rrr_cli.execution import toolchain_missing

    languages = [language for language in ADD_BODIES if not toolchain_missing(language)]
    groups = [(_add_task(language), _candidates(_add_task(language), ADD_BODIES[language])) for language in languages]
    scorer = PublicExamplesScorer()
    scorer.score_many(groups)
    for task, candidates in groups:
        counts = [scorer.outcomes[(task.task_id, c.sample_id)] for c in candidates]
        assert [(o.passed, o.total) for o in counts] == [(2, 2), (1, 2), (0, 2)], task.language


def test_weighted_normalises_then_sums():
    task = _task("fx/add")
    candidates = _candidates(task, ["a", "b", "c"], [-3.0, -1.0, -2.0])

    class Constant(RandomScorer):
        name = "constant"

        def score(self, task, candidates):
            return [100.0, 300.0, 200.0][: len(candidates)]

    weighted = WeightedScorer([(MeanLogprobScorer(), 1.0), (Constant(), 0.5)])
    assert weighted.score(task, candidates) == pytest.approx([0.0, 1.5, 0.75])
    assert weighted.name == "weighted(mean_logprob=1,constant=0.5)"


def test_registry():
    assert {"random", "mean_logprob", "public_examples", "weighted", "reranker"} <= set(scorer_names())
    assert isinstance(get_scorer("random", seed=3), RandomScorer) and get_scorer("random", seed=3).seed == 3
    weighted = get_scorer("weighted:mean_logprob=1,random=0.25")
    assert weighted.name == "weighted(mean_logprob=1,random=0.25)"
    with pytest.raises(RrrError, match="unknown scorer 'best'"):
        get_scorer("best")
    with pytest.raises(RrrError, match="NAME=WEIGHT"):
        get_scorer("weighted:mean_logprob=heavy")


def test_reranker_absent_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("RRR_HOME", str(tmp_path))  # nothing trained here (and nothing shipped: conftest)
    with pytest.raises(RrrError, match="no trained reranker"):
        get_scorer("reranker")
    with pytest.raises(RrrError, match="no reranker 'nowhere'"):
        get_scorer("reranker", path="nowhere")


def test_python_examples_in_other_styles():
    from rrr_cli.tasks.examples import python_inline_examples

    task = Task(task_id="t", language="python", tests="", entry_point="f", prompt=(
        'def f(x, y):\n    """Examples:\n    f(1, 2) ➞ 3\n    * f(2, 2) => 4 # two and two\n'
        '    >>> f(0, 0) == 0\n    for f(5, 5) == 10\n    f(x) is prose, and g(1) == 2 is not ours\n    """\n'))
    found = [(e.call, e.expected) for e in python_inline_examples(task)]
    assert found == [("f(1, 2)", "3"), ("f(2, 2)", "4"), ("f(0, 0)", "0"), ("f(5, 5)", "10")]
    assert not example_checks(task).fallback
    humaneval = load_tasks(["humaneval-python"])
    # Most HumanEval prompts now yield examples (only `>>>` with the result on the next line: 70 of 164).
    assert sum(not example_checks(t).fallback for t in humaneval) >= 130
