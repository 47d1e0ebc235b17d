"""Probe execution: one reference function, written in each of the eight languages, renders the same
outputs for the same inputs; a probe that crashes and one that loops cost only their own outputs."""

from __future__ import annotations

from typing import NamedTuple

import pytest

from rrr_cli.execution import Limits, toolchain_missing
from rrr_cli.execution.probes import ProbeOutput, entry_point, parse_outputs, render, run_probes, run_probes_many
from rrr_cli.execution.runner import RunResult
from rrr_cli.records import Candidate, Task

# summary(xs, k) -> (sorted xs, {"odd": n, "even": n}, their mean as a float, the first x > k or
# None, xs joined by ",", whether k is in xs). Written in each language below, where k == 13 throws and
# k == 99 loops forever.
def summary(xs, k):
    counts = {"odd": sum(x % 2 != 0 for x in xs), "even": sum(x % 2 == 0 for x in xs)}
    mean = sum(xs) / len(xs) if xs else 0.0
    return (sorted(xs), counts, mean, next((x for x in xs if x > k), None), ",".join(map(str, xs)), k in xs)


CASES = [([3, 1, 2], 1), ([], 0), ([5, 5, -2], 10), ([7], 13), ([7], 7), ([4, 1], 99), ([-3, 8], 2)]
CRASH, LOOP = 3, 5


def _expected(xs, k):
    value = summary(xs, k)
    return render({"tuple": [value[0], {"map": list(value[1].items())}, *value[2:]]})


EXPECTED = [None if k in (13, 99) else _expected(xs, k) for xs, k in CASES]


def _task(language: str, prompt: str, tests: str = "") -> Task:
    return Task(task_id=f"probe-{language}", language=language, prompt=prompt, tests=tests)


def _candidate(task: Task, completion: str) -> Candidate:
    return Candidate(task_id=task.task_id, language=task.language, prompt=task.prompt, completion=completion,
                     sample_id=0)


def _check(outputs: list[ProbeOutput], tuples: bool = True) -> None:
    for index, (output, want) in enumerate(zip(outputs, EXPECTED)):
        if index == CRASH:
            assert output.status == "error" and output.error, output
        elif index == LOOP:
            assert output.status == "timeout", output
        else:
            assert output.status == "ok", output
            assert output.value == (want if tuples else "[" + want[1:-1] + "]")


def test_render_is_canonical():
    assert render({"map": [["b", 1.0], ["a", [0.1 + 0.2, None]]]}) == '{"a": [0.3, null], "b": 1}'
    assert render({"tuple": [2.5, "x\"y", True]}) == '(2.5, "x\\"y", true)'
    assert render(8 / 3) == "2.666667" and render(-0.0) == "0" and render(float("inf")) == "inf"
    assert render({"stdout": ["1 2", 0]}) == '"1 2"' and render({"stdout": ["", 3]}) == '"" (exit 3)'


def test_entry_point_comes_from_the_last_signature():
    assert entry_point(_task("cpp", "long helper(long x) {\n}\nlong solve(std::vector<long> xs) {\n")) == "solve"
    assert entry_point(_task("sh", "#!/bin/bash\n# doc\nsolve() {\n")) == "solve"
    assert entry_point(_task("python", "def helper():\n    pass\ndef solve(x):\n")) == "solve"


class Program(NamedTuple):
    """The reference function in one language, shaped as a MultiPL-E task."""

    prompt: str
    completion: str
    tests: str  # as MultiPL-E's tests begin and end: the driver closes what they close
    inputs: list[str]
    tuples: bool  # False where a tuple is an array (php, ts, js): the value renders in brackets
    crash: str  # the kind of error the k == 13 probe reports


PYTHON = Program("def summary(xs: list, k: int) -> tuple:\n", """\
    if k == 13:
        raise ValueError("thirteen")
    while k == 99:
        pass
    counts = {"odd": sum(x % 2 != 0 for x in xs), "even": sum(x % 2 == 0 for x in xs)}
    mean = sum(xs) / len(xs) if xs else 0.0
    return (sorted(xs), counts, mean, next((x for x in xs if x > k), None), ",".join(map(str, xs)), k in xs)
""", "", [f"{xs}, {k}" for xs, k in CASES], True, "ValueError")

JS_COMPLETION = """    if (k == 13) { throw new RangeError("thirteen"); }
    while (k == 99) {}
    const counts = {"odd": xs.filter(x => x % 2 != 0).length, "even": xs.filter(x => x % 2 == 0).length};
    const mean = xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0.0;
    return [[...xs].sort((a, b) => a - b), counts, mean, xs.find(x => x > k), xs.join(","), xs.includes(k)];
}
"""
JS_TESTS = "const assert = require('node:assert');\n\nfunction test() {\n  let candidate = summary;\n}\n\ntest();\n"
JS = Program("function summary(xs, k){\n", JS_COMPLETION, JS_TESTS, [f"{xs}, {k}" for xs, k in CASES], False,
             "RangeError")
TS = Program("function summary(xs: number[], k: number): [number[], {[key: string]: number}, number, "
             "number | undefined, string, boolean] {\n", JS_COMPLETION, "declare var require: any;\n" + JS_TESTS,
             JS.inputs, False, "RangeError")

PHP = Program("<?php\nfunction summary($xs, $k) {\n", """\
    if ($k == 13) { throw new InvalidArgumentException("13"); }
    while ($k == 99) {}
    $odd = count(array_filter($xs, fn($x) => $x % 2 != 0));
    $counts = ["odd" => $odd, "even" => count($xs) - $odd];
    $mean = count($xs) ? array_sum($xs) / count($xs) : 0.0;
    $sorted = $xs;
    sort($sorted);
    $first = null;
    foreach ($xs as $x) { if ($x > $k) { $first = $x; break; } }
    return [$sorted, $counts, $mean, $first, implode(",", $xs), in_array($k, $xs)];
}
""", "function candidate(...$args) {\n    return summary(...$args);\n}\n",
              [f"array({', '.join(map(str, xs))}), {k}" for xs, k in CASES], False, "InvalidArgumentException")

CPP = Program("#include<assert.h>\n#include<bits/stdc++.h>\n// The summary of xs.\nstd::tuple<std::vector<long>, "
              "std::map<std::string,long>, float, std::optional<long>, std::string, bool> "
              "summary(std::vector<long> xs, long k) {\n", """\
    if (k == 13) throw std::invalid_argument("13");
    while (k == 99) {}
    long odd = 0;
    for (long x : xs) odd += x % 2 != 0;
    std::map<std::string, long> counts = {{"odd", odd}, {"even", (long)xs.size() - odd}};
    float mean = 0.0;
    for (long x : xs) mean += x;
    if (!xs.empty()) mean /= xs.size();
    std::vector<long> sorted = xs;
    std::sort(sorted.begin(), sorted.end());
    std::optional<long> first;
    for (long x : xs) if (x > k) { first = x; break; }
    std::string joined;
    for (size_t i = 0; i < xs.size(); i++) joined += (i ? "," : "") + std::to_string(xs[i]);
    return std::make_tuple(sorted, counts, mean, first, joined, std::find(xs.begin(), xs.end(), k) != xs.end());
""", "}\nint main() {\n    auto candidate = summary;\n    assert(candidate((std::vector<long>({(long)1}))) == 1);\n}\n",
              [f"std::vector<long>({{{', '.join(map(str, xs))}}}), {k}" for xs, k in CASES], True,
              "std::invalid_argument")

JAVA = Program("import java.util.*;\nimport org.javatuples.*;\nimport java.util.stream.*;\nclass Problem {\n"
               "    public static Sextet<ArrayList<Long>, HashMap<String,Long>, Float, Optional<Long>, String, "
               "Boolean> summary(ArrayList<Long> xs, long k) {\n", """\
        if (k == 13) throw new IllegalArgumentException("13");
        while (k == 99) {}
        long odd = xs.stream().filter(x -> x % 2 != 0).count();
        HashMap<String, Long> counts = new HashMap<>();
        counts.put("odd", odd);
        counts.put("even", xs.size() - odd);
        float mean = 0.0f;
        for (long x : xs) mean += x;
        if (!xs.isEmpty()) mean /= xs.size();
        ArrayList<Long> sorted = new ArrayList<>(xs);
        Collections.sort(sorted);
        Optional<Long> first = xs.stream().filter(x -> x > k).findFirst();
        String joined = xs.stream().map(String::valueOf).collect(Collectors.joining(","));
        return Sextet.with(sorted, counts, mean, first, joined, xs.contains(k));
""", "    }\n    public static void main(String[] args) {\n    assert(summary((new ArrayList<Long>("
               "Arrays.asList((long)1l)))) == (1l));\n    }\n\n}\n",
               [f"new ArrayList<Long>(Arrays.asList({', '.join(f'(long){x}l' for x in xs)})), {k}l" for xs, k in CASES],
               True, "IllegalArgumentException")

CS = Program("using System;\nusing System.Diagnostics;\nusing System.Collections.Generic;\nusing System.Linq;\n"
             "class Problem {\n    public static Tuple<List<long>, Dictionary<string,long>, float, Nullable<long>, "
             "string, bool> Summary(List<long> xs, long k) {\n", """\
        if (k == 13) throw new ArgumentException("13");
        while (k == 99) {}
        long odd = xs.Count(x => x % 2 != 0);
        var counts = new Dictionary<string, long>();
        counts["odd"] = odd;
        counts["even"] = xs.Count - odd;
        float mean = 0.0f;
        foreach (long x in xs) mean += x;
        if (xs.Count > 0) mean /= xs.Count;
        var sorted = new List<long>(xs);
        sorted.Sort();
        long? first = null;
        foreach (long x in xs) if (x > k) { first = x; break; }
        return Tuple.Create(sorted, counts, mean, first, string.Join(",", xs), xs.Contains(k));
""", "    }\n    public static void Main(string[] args) {\n    Debug.Assert(Summary((new List<long>(new long[]{"
             "(long)1L}))) == (1L));\n    }\n\n}\n",
             [f"new List<long>(new long[]{{{', '.join(f'(long){x}L' for x in xs)}}}), {k}L" for xs, k in CASES],
             True, "ArgumentException")

PROGRAMS = {"python": PYTHON, "cpp": CPP, "java": JAVA, "php": PHP, "ts": TS, "cs": CS, "js": JS}


@pytest.mark.slow
@pytest.mark.parametrize("language", list(PROGRAMS))
def test_the_same_function_renders_the_same_in_every_language(language):
    """One program per language: every value type, a probe that throws and one that loops."""
    if toolchain_missing(language):
        pytest.skip(toolchain_missing(language))
    program = PROGRAMS[language]
    task = _task(language, program.prompt, program.tests)
    outputs = run_probes(task, _candidate(task, program.completion), program.inputs, Limits(timeout_s=20),
                         probe_timeout_s=1.0, cache=False)
    assert [o.input for o in outputs] == program.inputs
    _check(outputs, program.tuples)
    assert outputs[CRASH].error == program.crash


SH_PROMPT = ("#!/bin/bash\n# xs sorted, one line; then a line with a quote and a backslash.\n#\n"
             "# $1 is a space-separated list\n# $2 is an integer\nsummary() {\n")
SH_COMPLETION = """    if [[ $2 -eq 13 ]]; then echo "thirteen" >&2; exit 3; fi
    while [[ $2 -eq 99 ]]; do :; done
    echo $(printf '%s\\n' $1 | sort -n)
    echo 'a"b\\c'
"""
SH_TESTS = ('}\n\ncandidate() {\n    summary "$@"\n}\n\nset -e\nrun_test() {\n    [[ $(candidate "1") = "1" ]]\n}\n\n'
            "run_test\n")


@pytest.mark.slow
def test_bash_probes_render_standard_output_and_exit_status():
    if toolchain_missing("sh"):
        pytest.skip(toolchain_missing("sh"))
    task = _task("sh", SH_PROMPT, SH_TESTS)
    inputs = [f'"{" ".join(map(str, xs))}" {k}' for xs, k in CASES]
    outputs = run_probes(task, _candidate(task, SH_COMPLETION), inputs, Limits(timeout_s=20),
                         probe_timeout_s=1.0, cache=False)
    for index, ((xs, k), output) in enumerate(zip(CASES, outputs)):
        if index == CRASH:
            assert output.value == '"" (exit 3)', output
        elif index == LOOP:
            assert output.status == "timeout", output
        else:
            assert output.value == render(" ".join(map(str, sorted(xs))) + '\na"b\\c'), output


def test_probes_the_program_never_printed_take_the_runs_status():
    inputs = ["1", "2", "3"]
    printed = "noise\n@@rrr-probe 0 ok [1.5,{\"tuple\":[null]}]\njunk @@rrr-probe 1 error signal 11\n"
    timed_out = parse_outputs(inputs, RunResult("timeout", None, 10.0, printed, ""))
    assert [(o.status, o.value, o.error) for o in timed_out] == [
        ("ok", "[1.5, (null)]", None), ("error", None, "SIGSEGV"), ("timeout", None, None)]
    crashed = parse_outputs(inputs, RunResult("compile_error", 1, 0.1, "", "syntax error"))
    assert {(o.status, o.error) for o in crashed} == {("error", "compile_error")}
    assert crashed[0].signature == "<error: compile_error>" and timed_out[0].signature == "[1.5, (null)]"


def test_a_probe_that_ends_the_whole_program_keeps_the_earlier_outputs():
    task = _task("python", "import os\n\ndef f(x):\n")
    candidate = _candidate(task, "    if x == 2:\n        os._exit(7)\n    return x * 2\n")
    outputs = run_probes(task, candidate, ["1", "2", "3"], Limits(timeout_s=10), cache=False)
    assert [(o.status, o.value, o.error) for o in outputs] == [
        ("ok", "2", None), ("error", None, "runtime_error"), ("error", None, "runtime_error")]


@pytest.mark.slow
def test_a_cpp_probe_that_segfaults_or_aborts_costs_only_itself():
    if toolchain_missing("cpp"):
        pytest.skip(toolchain_missing("cpp"))
    task = _task("cpp", "#include<assert.h>\n#include<bits/stdc++.h>\nlong f(long x) {\n", "}\nint main() {\n}\n")
    completion = "    if (x == 1) { volatile long* p = nullptr; return *p; }\n    assert(x != 2);\n    return x * x;\n"
    outputs = run_probes(task, _candidate(task, completion), ["1", "2", "3"], Limits(timeout_s=20), cache=False)
    assert [(o.status, o.value, o.error) for o in outputs] == [
        ("error", None, "SIGSEGV"), ("error", None, "SIGABRT"), ("ok", "9", None)]


def test_many_candidates_run_once_each_and_are_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("RRR_HOME", str(tmp_path))
    task = _task("python", "def f(xs):\n")
    right, wrong = _candidate(task, "    return sorted(xs)\n"), _candidate(task, "    return xs\n")
    inputs = ["[2, 1]", "[]", "'ba'"]
    jobs = [(task, right, inputs), (task, wrong, inputs), (task, right, inputs)]
    first = run_probes_many(jobs, Limits(timeout_s=10), workers=2)
    assert [[o.signature for o in outputs] for outputs in first] == [
        ["[1, 2]", "[]", '["a", "b"]'], ["[2, 1]", "[]", '"ba"'], ["[1, 2]", "[]", '["a", "b"]']]
    assert len(list((tmp_path).rglob("*.json"))) == 2  # two distinct programs, each run (and stored) once
    assert run_probes_many(jobs, Limits(timeout_s=10), workers=2) == first


# HumanEval_53_add as MultiPL-E ships it (its preamble: imports, usings, `<?php`), one call syntax each.
ADD = {
    "python": ("    return x + y\n", ["1, 2", "-5, 5"]),
    "cpp": ("    return x + y;\n", ["1, 2", "-5, 5"]),
    "java": ("        return x + y;\n", ["1l, 2l", "-5l, 5l"]),
    "cs": ("        return x + y;\n", ["1L, 2L", "-5L, 5L"]),
    "php": ("    return $x + $y;\n}\n", ["1, 2", "-5, 5"]),
    "ts": ("    return x + y;\n}\n", ["1, 2", "-5, 5"]),
    "js": ("    return x + y;\n}\n", ["1, 2", "-5, 5"]),
    "sh": ("    echo $(( $1 + $2 ))\n", ["1 2", "-5 5"]),
}


@pytest.mark.slow
def test_probes_run_on_multipl_e_prompts_in_every_language():
    from rrr_cli.tasks import load_tasks

    jobs, want = [], []
    for language, (completion, inputs) in ADD.items():
        if toolchain_missing(language):
            continue
        task = next(t for t in load_tasks([f"humaneval-{language}"]) if t.task_id.split("/")[-1] in
                    ("53", "HumanEval_53_add"))
        jobs.append((task, _candidate(task, completion), inputs))
        want.append(['"3"', '"0"'] if language == "sh" else ["3", "0"])
    outputs = run_probes_many(jobs, Limits(timeout_s=20), cache=False)
    assert [[o.signature for o in probe] for probe in outputs] == want


# f(s) = s + "é😀": a string with a newline, a non-ASCII letter and a character outside the BMP.
UNICODE = {
    "python": ("def f(s):\n", "    return s + '\\u00e9\\U0001F600'\n", ""),
    "cpp": ("#include<bits/stdc++.h>\nstd::string f(std::string s) {\n", '    return s + "\\u00e9\\U0001F600";\n',
            "}\nint main() {\n}\n"),
    "java": ("class Problem {\n    public static String f(String s) {\n",
             '        return s + "\\u00e9\\ud83d\\ude00";\n',
             "    }\n    public static void main(String[] args) {\n    }\n\n}\n"),
    "cs": ("using System;\nclass Problem {\n    public static string F(string s) {\n",
           '        return s + "\\u00e9\\U0001F600";\n',
           "    }\n    public static void Main(string[] args) {\n    }\n\n}\n"),
    "php": ("<?php\nfunction f($s) {\n", '    return $s . "\\u{e9}\\u{1F600}";\n}\n', ""),
    "js": ("function f(s) {\n", "    return s + '\\u00e9\\u{1F600}';\n}\n", ""),
}


@pytest.mark.slow
def test_strings_render_alike_whatever_the_console_encoding():
    jobs = []
    for language, (prompt, completion, tests) in UNICODE.items():
        if not toolchain_missing(language):
            task = _task(language, prompt, tests)
            jobs.append((task, _candidate(task, completion), ['"x\\n"']))
    outputs = run_probes_many(jobs, Limits(timeout_s=20), cache=False)
    assert {probe[0].signature for probe in outputs} == {'"x\\né😀"'}
