"""The consensus scorer and its probe inputs: hand-written candidates (no model), a Python and a C++ task.

`smallest(xs, k)` returns the k smallest of xs in ascending order. Five candidates are right (three
ways of writing it), two take the top of a descending sort, which passes the prompt's one example
(k = 1) but not k = 2, and one always throws."""

from __future__ import annotations

import pytest

from rrr_cli.execution import toolchain_missing
from rrr_cli.execution.probes import ProbeOutput
from rrr_cli.ranking import rank
from rrr_cli.ranking.consensus import ConsensusScorer
from rrr_cli.ranking.probe_inputs import example_inputs, mutations, probe_inputs, sh_argument_kinds
from rrr_cli.ranking.registry import get_scorer
from rrr_cli.records import Candidate, Task

PYTHON_PROMPT = '''def smallest(xs: list, k: int) -> list:
    """The k smallest of xs, ascending.
    >>> smallest([3, 1, 2], 1)
    [1]
    """
'''
PYTHON = [("    return sorted(xs)[:k]\n",) * 3, ("    import heapq\n    return heapq.nsmallest(k, xs)\n",),
          ("    return list(sorted(xs))[0:k]\n",), ("    return sorted(xs, reverse=True)[len(xs) - k:]\n",) * 2,
          ("    raise ValueError('no')\n",)]

CPP_PROMPT = """#include<assert.h>
#include<bits/stdc++.h>
// The k smallest of xs, ascending.
// >>> smallest((std::vector<long>({(long)3, (long)1, (long)2})), (1))
// (std::vector<long>({(long)1}))
std::vector<long> smallest(std::vector<long> xs, long k) {
"""
CPP_TESTS = """}
int main() {
    auto candidate = smallest;
    assert(candidate((std::vector<long>({(long)5, (long)4})), (1)) == (std::vector<long>({(long)4})));
}
"""
CPP_RIGHT = "    std::sort(xs.begin(), xs.end());\n    xs.resize(std::min((long)xs.size(), k));\n    return xs;\n"
CPP_RIGHT_2 = ("    std::vector<long> out(xs);\n    std::sort(out.begin(), out.end());\n"
               "    return std::vector<long>(out.begin(), out.begin() + std::min((long)out.size(), k));\n")
CPP_REVERSE = ("    std::sort(xs.rbegin(), xs.rend());\n"
               "    return std::vector<long>(xs.end() - std::min((long)xs.size(), k), xs.end());\n")
CPP_CRASH = '    throw std::runtime_error("no");\n'
CPP = [(CPP_RIGHT,) * 3, (CPP_RIGHT_2,) * 2, (CPP_REVERSE,) * 2, (CPP_CRASH,)]


def _candidates(task: Task, bodies) -> list[Candidate]:
    completions = [body for group in bodies for body in group]
    # Descending log-probs, so the wrong ones would win on the model's confidence alone.
    return [Candidate(task_id=task.task_id, language=task.language, prompt=task.prompt, completion=c,
                      sample_id=i, mean_logprob=-0.1 * (len(completions) - i)) for i, c in enumerate(completions)]


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("RRR_HOME", str(tmp_path_factory.getbasetemp() / "consensus-home"))


@pytest.mark.parametrize("language", ["python", "cpp"])
def test_groups_order_and_the_crash_last(language):
    if toolchain_missing(language):
        pytest.skip(toolchain_missing(language))
    if language == "python":
        task = Task(task_id="t/py", language="python", prompt=PYTHON_PROMPT, tests="", entry_point="smallest")
        candidates = _candidates(task, PYTHON)
    else:
        task = Task(task_id="t/cpp", language="cpp", prompt=CPP_PROMPT, tests=CPP_TESTS)
        candidates = _candidates(task, CPP)
    for name in ("consensus", "consensus-dual", "consensus-mbr"):
        scorer = get_scorer(name)
        ranked = rank(task, candidates, scorer)
        assert {c.sample_id for c in ranked[:5]} == {0, 1, 2, 3, 4}, (name, ranked)
        assert ranked[0].sample_id == 4  # the best log-prob among the right ones
        assert ranked[-1].sample_id == 7  # the one that throws
        consensus = scorer.last
        assert [g.size for g in consensus.groups] == [5, 2, 1]
        assert [sorted(g.members) for g in consensus.groups] == [[0, 1, 2, 3, 4], [5, 6], [7]]
        assert [g.broken for g in consensus.groups] == [False, False, True]
        assert {p.source for p in consensus.probes} == {"example", "mutation"}
        split = consensus.split()
        assert split is not None and split.probe.source == "mutation"
        if language == "python":
            assert split.describe() == "on `smallest([3, 1, 2], 2)`: 5 candidates return `[1, 2]`, 2 return `[2, 1]`"
        else:
            assert split.sides == [(5, "[1, 2]"), (2, "[2, 1]")] and "(2)" in split.call
        assert set(consensus.to_dict()) == {"probes", "groups", "split"}


def _fake_examples(program_list):
    # Group A (completion says so) fails the second example, f(2); everything else passes.
    return [{"status": "failed" if "group-a" in program and "(\nf(2)\n)" in program else "passed"}
            for _, program in program_list]


def _fake_probes(jobs):
    return [[ProbeOutput(i, "ok", value="a" if "group-a" in c.completion else "b") for i in inputs]
            for _, c, inputs in jobs]


def test_dual_agreement_lets_a_big_group_outvote_an_example_and_mbr_does_not():
    task = Task(task_id="t/f", language="python", prompt='def f(x):\n    """\n    >>> f(1)\n    1\n    >>> f(2)\n'
                '    2\n    """\n', tests="", entry_point="f")
    candidates = _candidates(task, [("    return 1  # group-a\n",) * 5, ("    return x\n",) * 2])
    dual = ConsensusScorer("dual", runner=_fake_examples, probe_runner=_fake_probes)
    mbr = ConsensusScorer("mbr", runner=_fake_examples, probe_runner=_fake_probes)
    assert rank(task, candidates, dual)[0].sample_id == 4  # 5 × 1 example beats 2 × 2
    assert rank(task, candidates, mbr)[0].sample_id == 6  # both examples first, then agreement
    assert [g.examples_passed for g in mbr.last.groups] == [1, 2]


def test_example_inputs_in_each_language():
    python = Task(task_id="p", language="python", prompt=PYTHON_PROMPT, tests="", entry_point="smallest")
    assert example_inputs(python) == ["[3, 1, 2], 1"]
    mbpp = Task(task_id="m", language="python", entry_point="g", tests="",
                prompt='def g(a, b):\n    """Add.\n    Your code should pass this test: assert g(2, [1]) == 3\n'
                '    """\n')
    assert example_inputs(mbpp) == ["2, [1]"]
    cpp = Task(task_id="c", language="cpp", prompt=CPP_PROMPT, tests=CPP_TESTS)
    assert example_inputs(cpp) == ["(std::vector<long>({(long)3, (long)1, (long)2})), (1)"]
    java = Task(task_id="j", language="java", tests="    }\n}\n", prompt=(
        "class Problem {\n    // >>> smallest((new ArrayList<Long>(Arrays.asList((long)3l, (long)1l))), (1l))\n"
        "    // (new ArrayList<Long>(Arrays.asList((long)1l)))\n"
        "    public static ArrayList<Long> smallest(ArrayList<Long> xs, long k) {\n"))
    assert example_inputs(java) == ["(new ArrayList<Long>(Arrays.asList((long)3l, (long)1l))), (1l)"]
    js = Task(task_id="s", language="js", tests="", prompt='// >>> smallest([3, 1], 1, "ab")\n// [1]\n'
              "function smallest(xs, k, s){\n")
    assert example_inputs(js) == ['[3, 1], 1, "ab"']
    sh = Task(task_id="b", language="sh", tests="", prompt='#!/bin/bash\n# >>> $(smallest "3 1" "1")\n# "1"\n'
              "smallest() {\n")
    assert example_inputs(sh) == ['"3 1" "1"']


def test_mutations_keep_each_languages_literal_syntax():
    assert mutations("[3, 1, 2], 1", "python") == [
        "[], 1", "[3], 1", "[3, 3, 1, 2], 1", "[3, 1, 2], 2", "[3, 1, 2], 0"]
    assert mutations("'ab', 0", "python") == ["'', 0", "'a', 0", "'ab', 1"]
    assert mutations("(std::vector<long>({(long)3, (long)1})), (1)", "cpp") == [
        "(std::vector<long>()), (1)", "(std::vector<long>({(long)3})), (1)",
        "(std::vector<long>({(long)3, (long)3, (long)1})), (1)",
        "(std::vector<long>({(long)3, (long)1})), (2)", "(std::vector<long>({(long)3, (long)1})), (0)"]
    assert mutations('(new ArrayList<Long>(Arrays.asList((long)3l, (long)1l))), (1l), ("x")', "java") == [
        '(new ArrayList<Long>()), (1l), ("x")', '(new ArrayList<Long>(Arrays.asList((long)3l))), (1l), ("x")',
        '(new ArrayList<Long>(Arrays.asList((long)3l, (long)3l, (long)1l))), (1l), ("x")',
        '(new ArrayList<Long>(Arrays.asList((long)3l, (long)1l))), (2l), ("x")',
        '(new ArrayList<Long>(Arrays.asList((long)3l, (long)1l))), (0l), ("x")',
        '(new ArrayList<Long>(Arrays.asList((long)3l, (long)1l))), (1l), ("")']
    assert mutations('[3, 1], -1, "ab"', "js") == [
        '[], -1, "ab"', '[3], -1, "ab"', '[3, 3, 1], -1, "ab"', '[3, 1], -2, "ab"', '[3, 1], -1, ""',
        '[3, 1], -1, "a"']
    assert mutations("(new List<long>(new long[]{(long)3L})), (5L)", "cs")[0] == "(new List<long>()), (5L)"
    assert mutations('array("a" => 1), 3', "php") == ['array("a" => 1), 4', 'array("a" => 1), 2']
    assert mutations('"3 1" "0"', "sh") == ['"" "0"', '"3" "0"', '"3 1" "1"']
    kinds = sh_argument_kinds("#!/bin/bash\n# $1 is a space-separated list\n# $2 is an integer\nf() {\n")
    assert kinds == {0: "a space-separated list", 1: "an integer"}
    assert mutations('"3 1" "0"', "sh", kinds) == ['"" "0"', '"3" "0"', '"3 3 1" "0"', '"3 1" "1"']
    # Maps, floats and booleans have no mutation: their type is not a small edit away.
    assert mutations("{'a': 1}, 1.5, True", "python") == []


def test_probes_are_deduplicated_capped_and_labelled():
    python = Task(task_id="p", language="python", prompt=PYTHON_PROMPT.replace(
        "    [1]\n", "    [1]\n    >>> smallest([3, 1, 2], 1)\n    [1]\n    >>> smallest([], 0)\n    []\n"),
        tests="assert smallest([9], 9) == [9]", entry_point="smallest")
    probes = probe_inputs(python)
    texts = [p.input for p in probes]
    assert len(texts) == len(set(texts)) and texts[:2] == ["[3, 1, 2], 1", "[], 0"]
    assert [p.source for p in probes[:2]] == ["example", "example"] and "[9], 9" not in texts
    assert len(probe_inputs(python, limit=3)) == 3
    assert probe_inputs(python, generated=["[5, 4], 1"])[2].source == "generated"


def test_solve_summary_names_the_input_that_splits_the_groups():
    from rrr_cli.commands import solve
    from rrr_cli.ui import stderr

    task = Task(task_id="t/f", language="python", prompt='def f(x):\n    """\n    >>> f([3, 1])\n    [1, 3]\n'
                '    """\n', tests="", entry_point="f")
    candidates = _candidates(task, [("    return sorted(x)\n",) * 5, ("    return x  # group-a\n",) * 3])
    scorer = ConsensusScorer(runner=lambda jobs: [{"status": "passed"} for _ in jobs], probe_runner=lambda jobs: [
        [ProbeOutput(i, "ok", value="[3, 1]" if "group-a" in c.completion else "[1, 3]") for i in inputs]
        for _, c, inputs in jobs])
    ranked = rank(task, candidates, scorer)
    consensus = solve._consensus(scorer, task)
    assert consensus is scorer.last and solve._consensus(get_scorer("random"), task) is None
    outcomes = {c.sample_id: scorer.examples.outcomes[(task.task_id, c.sample_id)] for c in candidates}
    with stderr.capture() as captured:
        solve._summary(ranked, outcomes, scorer.name, 1.0, consensus)
    text = captured.get()
    assert "on `f([3, 1])`: 5 candidates return `[1, 3]`, 3 return `[3, 1]`" in text
    assert "group" in text and ranked[0].sample_id == 4


class _Scripted:
    """A backend stand-in that always replies with the same text (and counts its calls)."""

    def __init__(self, reply: str):
        self.reply, self.calls = reply, 0

    def render_chat(self, messages):
        return "\n".join(m["content"] for m in messages)

    def generate(self, prompts, params):
        from rrr_cli.generation.base import Generation

        self.calls += 1
        # Two requests per task: one opened on the first call (its reply continues it), one free.
        opened = prompts[0].endswith("```python\nsmallest(")
        assert params.temperature == 0 and (opened or prompts[0].endswith("```python\n"))
        return [[Generation(text=self.reply if opened else "smallest(" + self.reply, n_tokens=1)]]


def test_generated_probes_are_parsed_labelled_and_made_once_per_task():
    from rrr_cli.ranking.probe_inputs import generated_inputs, parse_generated

    python = Task(task_id="p", language="python", prompt=PYTHON_PROMPT, tests="", entry_point="smallest")
    reply = ("smallest([5, 4, 6], 2)\n>>> smallest([], 0)\nprint(smallest([1], 1))\nother([1], 1)\n"
             "1. smallest([9, 8], 1)")
    assert parse_generated(python, reply) == ["[5, 4, 6], 2", "[], 0", "[1], 1", "[9, 8], 1"]
    cpp = Task(task_id="c", language="cpp", prompt=CPP_PROMPT, tests=CPP_TESTS)
    assert parse_generated(cpp, "smallest(std::vector<long>({5, 4}), 1);\n```\nfoo(1)\n"
                           "    assert(smallest({(long)7}, (2)) == {(long)7});  // one\n"
                           "std::vector<long> smallest(std::vector<long> xs, long k) {") == [
        "std::vector<long>({5, 4}), 1", "{(long)7}, (2)"]
    sh = Task(task_id="b", language="sh", tests="", prompt="#!/bin/bash\nsmallest() {\n")
    assert parse_generated(sh, '$(smallest "5 4" "1")\nsmallest "" "0"') == ['"5 4" "1"', '"" "0"']
    backend = _Scripted("[5, 4, 6], 2)\nsmallest([3, 1, 2], 1)")  # the prompt opened the first call
    assert generated_inputs(python, backend) == ["[5, 4, 6], 2", "[3, 1, 2], 1"]
    scorer = ConsensusScorer(runner=lambda jobs: [{"status": "passed"} for _ in jobs], backend=backend,
                             probe_runner=lambda jobs: [[ProbeOutput(i, "ok", value="1") for i in inputs]
                                                        for _, _, inputs in jobs])
    candidates = _candidates(python, [("    return sorted(xs)[:k]\n",) * 2])
    scorer.score(python, candidates)
    scorer.score(python, candidates)
    assert backend.calls == 4  # two requests above, two for the scorer: its probes are kept per task
    sources = {p.input: p.source for p in scorer.last.probes}
    assert sources["[3, 1, 2], 1"] == "example" and sources["[5, 4, 6], 2"] == "generated"


def test_an_ill_typed_probe_does_not_cost_the_others():
    # As in a compiled language: one probe that does not type-check stops the whole program building.
    def probes(jobs):
        return [[ProbeOutput(i, "error", error="compile_error") if any("'bad'" in x for x in inputs)
                 else ProbeOutput(i, "ok", value="1" if "one" in c.completion else "2") for i in inputs]
                for _, c, inputs in jobs]

    task = Task(task_id="t/b", language="python", entry_point="f", tests="", prompt=(
        'def f(x):\n    """\n    >>> f(1)\n    1\n    >>> f(\'bad\')\n    1\n    """\n'))
    candidates = _candidates(task, [("    return 1  # one\n",) * 3, ("    return 2\n",) * 2])
    scorer = ConsensusScorer(runner=lambda jobs: [{"status": "passed" if "one" in p else "failed"} for _, p in jobs],
                             probe_runner=probes)
    assert rank(task, candidates, scorer)[0].sample_id == 2
    assert [g.size for g in scorer.last.groups] == [3, 2] and "'bad'" not in [p.input for p in scorer.last.probes]


def test_an_ill_typed_probe_does_not_cost_the_others_without_examples_either():
    # No examples: the candidate that builds finds the probes that build, and the groups form on those.
    def probes(jobs):
        return [[ProbeOutput(i, "error", error="compile_error") if any("long n" in x for x in inputs)
                 else ProbeOutput(i, "ok", value=x if "same" in c.completion else "0") for i, x in enumerate(inputs)]
                for _, c, inputs in jobs]

    task = Task(task_id="t/c", language="python", entry_point="f", tests="",
                prompt='def f(n: int) -> int:\n    """The square of n."""\n')
    scorer = ConsensusScorer(runner=lambda jobs: [{"status": "passed"} for _ in jobs], probe_runner=probes,
                             generator=_Fixed(["1", "2", "long n"]))
    candidates = _candidates(task, [("    return n  # same\n",) * 3, ("    return 0\n",)])
    rank(task, candidates, scorer)
    assert [g.size for g in scorer.last.groups] == [3, 1]
    assert [p.input for p in scorer.last.probes] == ["1", "2"]


class _Fixed:
    """Generated probes that are always the same calls."""

    model = "fixed"

    def __init__(self, calls):
        self.calls = calls

    def prefetch(self, tasks):
        """Nothing to ask: the calls are fixed."""

    def inputs(self, task):
        return list(self.calls)


def test_eval_keeps_consensus_scores_under_a_key_that_names_the_variant():
    from rrr_cli.evaluation.runs import scorer_cache_name

    names = {name: scorer_cache_name(get_scorer(name)) for name in ("consensus", "consensus-dual", "consensus-mbr")}
    assert names["consensus-dual"] != names["consensus-mbr"] and None not in names.values()
    assert names["consensus"] in (names["consensus-dual"], names["consensus-mbr"])


def test_generated_probes_are_kept_on_disk_and_asked_for_in_one_batch(tmp_path):
    from rrr_cli.ranking.probe_cache import GeneratedProbes

    first = Task(task_id="p1", language="python", prompt=PYTHON_PROMPT, tests="", entry_point="smallest")
    second = Task(task_id="p2", language="python", prompt="# a second task\n" + PYTHON_PROMPT,
                  tests="", entry_point="smallest")
    backends = []

    def open_backend():
        backends.append(_Batched("[5, 4, 6], 2)\nsmallest([], 0)"))
        return backends[-1]

    probes = GeneratedProbes("m", open_backend=open_backend, root=tmp_path)
    probes.prefetch([first, second])
    assert probes.inputs(first) == ["[5, 4, 6], 2", "[], 0"] and probes.inputs(second) == probes.inputs(first)
    assert len(backends) == 1 and backends[0].prompts == 4 and backends[0].calls == 2  # both tasks in one call per style
    probes.close()
    assert backends[0].closed
    again = GeneratedProbes("m", open_backend=open_backend, root=tmp_path)
    assert again.inputs(first) == ["[5, 4, 6], 2", "[], 0"]
    assert len(backends) == 1  # from disk: the model never opens
    other = GeneratedProbes("another-model", open_backend=open_backend, root=tmp_path)
    other.inputs(first)
    assert len(backends) == 2  # another model's calls are its own


class _Batched(_Scripted):
    def __init__(self, reply):
        super().__init__(reply)
        self.prompts = 0
        self.closed = False

    def generate(self, prompts, params):
        from rrr_cli.generation.base import Generation

        self.calls += 1
        self.prompts += len(prompts)
        return [[Generation(text=self.reply, n_tokens=1)] for _ in prompts]

    def close(self):
        self.closed = True
