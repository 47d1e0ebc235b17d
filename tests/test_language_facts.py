"""Every per-language fact the probes, the confidence model and the report read comes from the Language.

The probe inputs of every shipped benchmark task were hashed before these facts moved out of
`ranking/probe_inputs.py`'s `language ==` branches into the language files; they must hash the same.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import math

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.evaluation import report as render
from rrr_cli.execution.languages import INTEGER_PATTERN, _language_from_toml, get_language, languages_in_order
from rrr_cli.ranking import confidence
from rrr_cli.ranking import probe_inputs as probes
from rrr_cli.ranking.consensus import _call
from rrr_cli.records import Task
from rrr_cli.tasks import load_tasks

registry = importlib.import_module("rrr_cli.execution.languages")  # the package re-exports a function of that name
BUILT_IN = ["python", "cpp", "java", "php", "ts", "cs", "sh", "js"]  # the paper's order

# Recorded on the code before the move (the same computation, `_hashes` below): 2254 tasks (MultiPL-E's
# 8 x ~160 and MBPP's 974), 14249 probes.
PROBES_BEFORE = "523f55236a9d4a44ce83478c5a005e9a4a60cf28291557bfa2bddd3ffdd15c6d"
CALLS_BEFORE = "5d43e18002d72d215126e38dc26071aeddab4eae192eb9b51a528d52ba9c1fd2"


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _hashes() -> tuple[str, str, int]:
    """(hash of every task's `probe_inputs`, hash of the other model-free parts: the examples' inputs,
    their mutations, the reply's opening, the signature, a reply parsed, probes with generated inputs
    mixed in; the number of tasks)."""
    tasks = load_tasks(["multipl-e"]) + load_tasks(["mbpp"], split="all")
    inputs, calls = [], []
    for task in tasks:
        inputs.append([task.task_id, task.language, [p.to_dict() for p in probes.probe_inputs(task)]])
        examples = probes.example_inputs(task)
        reply = "\n".join(probes.call_opening(task) + e + ")" for e in examples)
        calls.append([task.task_id, task.language, examples, [probes.mutations(e, task.language) for e in examples],
                      probes.call_opening(task), probes.signature_parameters(task), probes.parse_generated(task, reply),
                      [p.to_dict() for p in probes.probe_inputs(task, generated=examples[::-1] + ["  x  "], limit=9)]])
    return _digest(inputs), _digest(calls), len(tasks)


def test_the_probe_inputs_of_every_shipped_task_are_what_they_were_before_the_move():
    probes_hash, calls_hash, count = _hashes()
    assert count == 2254
    assert probes_hash == PROBES_BEFORE
    assert calls_hash == CALLS_BEFORE


def test_rrr_s_own_languages_come_first_in_the_paper_s_order():
    assert languages_in_order()[:8] == BUILT_IN
    assert [get_language(name).report_order for name in BUILT_IN] == [10, 20, 30, 40, 50, 60, 70, 80]
    assert confidence.LANGUAGES[:8] == tuple(BUILT_IN)


def test_the_built_in_literal_forms_are_the_ones_the_code_had():
    assert get_language("php").literal_map_entry == "=>"
    assert [get_language(n).literal_string_quotes for n in BUILT_IN] == ["\"'", '"', '"', "\"'", "\"'", '"', "\"'", "\"'"]
    assert all(get_language(n).literal_integer_pattern == INTEGER_PATTERN for n in BUILT_IN)
    assert get_language("sh").literal_list_pattern is None
    sh = get_language("sh")
    assert (sh.write_call("f", "1 2"), sh.write_call("f", "1 2", shown=True)) == ("$(f 1 2)", "f 1 2")
    assert get_language("cpp").write_call("f", "1, 2", shown=True) == "f(1, 2)"
    assert _call("sh", "f", '"a b" 3') == 'f "a b" 3' and _call("not-installed", "f", "x") == "f(x)"
    assert probes.argument_kinds("# $1 is a space-separated list\nf() {\n", "sh") == {0: "a space-separated list"}
    assert probes.argument_kinds("# $1 is a space-separated list\n", "js") is None


TOY = '''
name = "toy"
extension = ".toy"
packages = []
file = "main.toy"
run = ["toy", "{file}"]
signature_lead = '\\bfn\\s+'
literal_integer_pattern = '^(?P<digits>-?\\d+)(?P<suffix>i64)?$'
literal_string_quotes = "'"
literal_list_pattern = '^list<(?P<type>\\w+)>\\[(?P<items>.*)\\]$'
literal_list = "list<@TYPE@>[@ITEMS@]"
literal_empty_list = "empty<@TYPE@>()"
literal_map_entry = ":"
report_order = 15
'''


@pytest.fixture
def toy(monkeypatch):
    """A language that exists only as a file: rrr knows nothing of it but what the file says."""
    installed = registry.languages()
    language = _language_from_toml(TOY, "toy.toml")
    monkeypatch.setattr(registry, "languages", lambda: {**installed, "toy": language})
    return language


def test_a_language_file_alone_decides_how_its_probes_are_varied(toy):
    assert probes.mutations("list<int>[3, 4], 'ab', 7i64, \"x\", list<str>['a': 1]", "toy") == [
        "empty<int>(), 'ab', 7i64, \"x\", list<str>['a': 1]",
        "list<int>[3], 'ab', 7i64, \"x\", list<str>['a': 1]",
        "list<int>[3, 3, 4], 'ab', 7i64, \"x\", list<str>['a': 1]",
        "list<int>[3, 4], '', 7i64, \"x\", list<str>['a': 1]",
        "list<int>[3, 4], 'a', 7i64, \"x\", list<str>['a': 1]",
        "list<int>[3, 4], 'ab', 8i64, \"x\", list<str>['a': 1]",
        "list<int>[3, 4], 'ab', 6i64, \"x\", list<str>['a': 1]",
    ]  # `"x"` is not a string here, and a map written like a list is left alone
    task = Task(task_id="toy/1", language="toy", prompt="// f(list<int>[1])\nfn f(xs: list<int>) -> int {\n",
                tests="", entry_point="f", source="test")
    assert probes.signature_parameters(task) == "xs: list<int>"
    assert probes.call_opening(task) == "f("
    report = {"groups": ["mbpp", "cpp", "toy", "python", "zz"], "columns": {}}
    assert render._groups(report) == ["python", "toy", "cpp", "mbpp", "zz"]


@pytest.mark.parametrize("line,message", [
    ('literal_list_pattern = "^\\\\[(.*)\\\\]$"\nliteral_list = "[@ITEMS@]"', "needs a group named 'items'"),
    ('literal_list_pattern = "^\\\\[(?P<items>.*)\\\\]$"', "needs literal_list, holding @ITEMS@"),
    ('literal_list_pattern = "^\\\\[(?P<items>.*)\\\\]$"\nliteral_list = "@KIND@[@ITEMS@]"', "names @KIND@"),
    ('literal_list = "[@ITEMS@]"', "need literal_list_pattern"),
    ('literal_integer_pattern = "^(-?\\\\d+)$"', "needs a group named 'digits'"),
    ('signature_lead = "(unclosed"', "signature_lead is not a regular expression"),
    ('argument_kinds_pattern = "^# (.+)$"', "needs two groups"),
    ('list_argument_kind = "a list"', "list_argument_kind needs argument_kinds_pattern"),
    ('call_form = "@ENTRY@()"', "call_form must hold @ENTRY@ and @ARGS@"),
    ('argument_separator = ""', "argument_separator must not be empty"),
    ('literal_string_quotes = 1', "literal_string_quotes must be a string"),
    ('report_order = "first"', "report_order must be an integer"),
    ('report_order = true', "report_order must be an integer"),
])
def test_a_wrong_probe_or_report_key_is_one_line_naming_it(line, message):
    base = 'name = "bad"\nextension = ".bad"\npackages = []\nfile = "x"\nrun = ["x"]\n'
    with pytest.raises(RrrError, match="bad.toml: .*" + message.replace("(", "\\(").replace(")", "\\)")):
        _language_from_toml(base + line + "\n", "bad.toml")


def test_the_shipped_confidence_reads_the_built_ins_as_its_coefficients_say():
    """Each built-in language reads its own fitted weight, by name, whatever else is installed."""
    model = confidence.shipped()
    weights = dict(zip(model.features, model.weights))
    rows = [[1.0, 0.0, 1.0, 0.75, 1.0, 0.0]] * 6 + [[0.0, 0.0, 1.0, 0.25, 0.0, 0.5]] * 2
    for language in BUILT_IN:
        row = confidence.feature_row(rows, 0, -0.2, 3, language)
        named = dict(zip(confidence.FEATURES, row))
        assert named[f"language_{language}"] == 1.0 and sum(named[f"language_{n}"] for n in confidence.LANGUAGES) == 1
        z = model.bias + sum(w * named[name] for name, w in weights.items())
        assert model.probability(row) == pytest.approx(1 / (1 + math.exp(-z)), abs=1e-12)
        assert model.reads_language(language)


def test_a_language_the_model_has_no_column_for_reads_as_the_average_one(toy):
    model = confidence.shipped()
    language_weights = [w for name, w in zip(model.features, model.weights) if name.startswith("language_")]
    assert abs(sum(language_weights)) < 1e-9  # the L2 fit's symmetry: 0 is the mean language effect
    rows = [[1.0, 0.0, 1.0, 0.75, 1.0, 0.0]] * 6 + [[0.0, 0.0, 1.0, 0.25, 0.0, 0.5]] * 2
    named = dict(zip(confidence.FEATURES, confidence.feature_row(rows, 0, -0.2, 3, "python")))
    z = model.bias + sum(w * named.get(name, 0.0) for name, w in zip(model.features, model.weights)
                         if not name.startswith("language_"))
    average = 1 / (1 + math.exp(-(z + sum(language_weights) / len(language_weights))))
    for language in ("toy", "not-installed"):
        assert not model.reads_language(language)
        assert model.probability(confidence.feature_row(rows, 0, -0.2, 3, language)) == pytest.approx(average, abs=1e-12)


def test_a_model_may_name_a_plugin_language_installed_or_not(tmp_path):
    weights = {"examples_passed": 2.0, "language_python": 0.5, "language_klingon": 3.0}
    path = tmp_path / "model.json"
    path.write_text(json.dumps({"format": confidence.FORMAT, "weights": list(weights.values()), "bias": -1.0,
                                "features": list(weights), "about": {}}))
    model = confidence.load_model(path)
    assert model.reads_language("klingon") and not model.reads_language("cpp")
    row = confidence.feature_row([[1.0, 0.0, 1.0, 1.0, 1.0, 0.0]], 0, None, 1, "python")
    assert model.probability(row) == pytest.approx(1 / (1 + math.exp(-(2.0 + 0.5 - 1.0))))
    path.write_text(json.dumps({**json.loads(path.read_text()), "features": ["examples_passed", "language_", "x"]}))
    with pytest.raises(RrrError, match="not a confidence model"):
        confidence.load_model(path)
