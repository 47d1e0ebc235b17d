"""The plugin registry: rrr's built-ins come through the entry points, a plugin package adds to them,
and a broken plugin is one line on stderr while rrr goes on."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rrr_cli import plugins
from rrr_cli.execution.languages import languages
from rrr_cli.records import RecordError, Task, known_languages


def test_builtins_are_registered_as_entry_points_of_rrr():
    assert {"llama.cpp", "hf", "vllm"} <= set(plugins.names("backend"))
    assert {"random", "mean_logprob", "public_examples", "weighted", "reranker"} <= set(plugins.names("scorer"))
    builtin_languages = {"python", "cpp", "java", "php", "ts", "cs", "sh", "js"}
    assert builtin_languages <= set(plugins.names("language")) == set(languages())
    for plugin in plugins.all_plugins():
        if plugin.name in builtin_languages | {"llama.cpp", "random"}:
            assert plugin.package == "rrr" and plugin.builtin


def test_every_language_owns_its_prompt_and_task_file_knowledge():
    for language in languages().values():
        assert language.display_name and language.fence and language.task_extensions
        assert language.prompt_style in ("chat", "completion")
    assert languages()["python"].prompt_style == "chat"
    assert languages()["cs"].fence == "csharp"
    assert ".cc" in languages()["cpp"].task_extensions


def test_record_validation_asks_the_registry():
    assert set(known_languages()) == set(plugins.names("language"))
    with pytest.raises(RecordError, match="unknown language 'cobol'"):
        Task.from_dict({"task_id": "t", "language": "cobol", "prompt": "", "tests": "", "stop_tokens": []})


def _fake_plugin(root: Path, entry_points: str, module: str | None = None) -> None:
    """A distribution `rrr-fake` on a path of its own: metadata and entry points, maybe a module."""
    info = root / "rrr_fake-0.3.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: rrr-fake\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    if module is not None:
        (root / "rrr_fake.py").write_text(textwrap.dedent(module))


def _rrr(root: Path, *argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.run([sys.executable, "-m", "rrr_cli", *argv], capture_output=True, text=True, env=env,
                          timeout=120)


def test_a_broken_plugin_is_one_line_naming_it_and_rrr_still_runs(tmp_path):
    _fake_plugin(tmp_path, """
        [rrr.scorers]
        shiny = rrr_fake_missing_module:factory
        [rrr.languages]
        klingon = rrr_fake
        """, module="")
    done = _rrr(tmp_path, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    rows = {(row["kind"], row["name"]): row for row in json.loads(done.stdout)}
    assert rows[("scorer", "shiny")]["package"] == "rrr-fake" and rows[("scorer", "shiny")]["version"] == "0.3"
    assert rows[("scorer", "shiny")]["status"].startswith("broken: ModuleNotFoundError")
    assert rows[("language", "klingon")]["status"].startswith("broken: cannot read rrr_fake/klingon.toml")
    assert rows[("scorer", "random")]["status"] == "ok"
    warnings = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(warnings) == 2, done.stderr
    assert all(line.startswith("rrr: warning: plugin") and "rrr-fake 0.3" in line for line in warnings)
    assert any("'shiny'" in line for line in warnings) and any("'klingon'" in line for line in warnings)
    # Any other command still works, and says so at most once per broken plugin.
    other = _rrr(tmp_path, "models", "path")
    assert other.returncode == 0 and other.stdout.strip()
    lines = [line for line in other.stderr.splitlines() if line.strip()]
    assert len(lines) == len(set(lines)) <= 2 and all(line.startswith("rrr: warning: plugin") for line in lines)


def test_a_plugin_scorer_is_chosen_by_name_and_cannot_take_a_builtin_name(tmp_path):
    _fake_plugin(tmp_path, """
        [rrr.scorers]
        shortest = rrr_fake:shortest
        random = rrr_fake:shortest
        """, module="""
        from rrr_cli.ranking import Scorer


        class Shortest(Scorer):
            name = "shortest"

            def score(self, task, candidates):
                return [-len(c.completion) for c in candidates]


        def shortest(argument=None, **options):
            return Shortest()
        """)
    script = textwrap.dedent("""
        from rrr_cli.ranking import rank
        from rrr_cli.ranking.registry import get_scorer
        from rrr_cli.records import Candidate, Task
        task = Task(task_id="t", language="python", prompt="def f():\\n", tests="", stop_tokens=[])
        candidates = [Candidate(task_id="t", language="python", prompt=task.prompt, completion=text, sample_id=i,
                                model="m", backend="b", prompt_style="completion", temperature=0.8, seed=0,
                                n_tokens=1) for i, text in enumerate(["    return 1 + 0\\n", "    return 1\\n"])]
        best = rank(task, candidates, get_scorer("shortest"))[0]
        print(best.sample_id, best.scorer, get_scorer("random").name)
        """)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "shortest", "random"]  # rrr's own `random` kept its name
    assert "scorer 'random' (package rrr-fake 0.3" in done.stderr and "taken by package rrr" in done.stderr


def test_a_language_prepares_its_programs_and_keys_the_cache_on_execution_fields_only():
    from dataclasses import replace

    from rrr_cli.execution.languages import Language

    base = Language(name="toy", extension=".toy", packages=("toy",), file="main.toy", run=("toy", "{file}"))
    headed = replace(base, program_header="import rrr\n", program_header_after=r"^package \w+\n",
                     program_footer="use rrr\n")
    assert headed.prepare("// x\npackage main\nbody") == "// x\npackage main\nimport rrr\nbody\nuse rrr\n"
    assert base.prepare("package main\n") == "package main\n"
    assert replace(base, display_name="Toy!", fence="t", task_tests="{checks}").execution_spec() == \
        base.execution_spec()
    assert "program_header" in headed.execution_spec() and "program_header" not in base.execution_spec()


def test_a_language_puts_the_proof_after_the_tests_or_into_main_around_its_body():
    from dataclasses import replace

    from rrr_cli.execution.languages import Language

    base = Language(name="toy", extension=".toy", packages=("toy",), file="main.toy", run=("toy", "{file}"),
                    tests_done="DONE;")
    assert base.prepare("check(f)") == "check(f)\nDONE;\n"
    braced = replace(base, tests_done_in=r"^int\s+main\s*\(", tests_done_setup="#include <x>",
                     tests_done_wrap="  guard { @TESTS_DONE@ }\n@BODY@")
    program = 'int f() { return 1; }\nint main() {\n  s = "}";\n  check(f);\n}\n'
    assert braced.prepare(program) == ('int f() { return 1; }\n#include <x>\nint main() {\n  guard { DONE; }\n'
                                       '\n  s = "}";\n  check(f);\n}\n')
    # No main to put it in: the program is left as it is (and its run can never prove it finished).
    assert braced.prepare("int f() {}\n") == "int f() {}\n"
    assert "tests_done_wrap" in braced.execution_spec() and "tests_done" in base.execution_spec()
    assert "tests_done" not in replace(base, tests_done=None).execution_spec()


def test_rrr_plugins_says_what_a_backend_lacks_and_which_language_trusts_the_exit_status(tmp_path):
    import importlib.util

    _fake_plugin(tmp_path, """
        [rrr.languages]
        toy = rrr_fake
        """)
    (tmp_path / "rrr_fake").mkdir()
    (tmp_path / "rrr_fake" / "__init__.py").write_text("")
    (tmp_path / "rrr_fake" / "toy.toml").write_text('name = "toy"\nextension = ".toy"\npackages = ["bash"]\n'
                                                     'file = "main.toy"\nrun = ["bash", "{file}"]\n')
    done = _rrr(tmp_path, "plugins", "--json")
    assert done.returncode == 0, done.stderr
    rows = {(row["kind"], row["name"]): row["status"] for row in json.loads(done.stdout)}
    if importlib.util.find_spec("vllm") is None:
        assert rows[("backend", "vllm")] == "not installed: pip install 'rrr[gpu]'"
    assert rows[("backend", "llama.cpp")] == "ok"
    assert rows[("language", "toy")] == "ok (no tests_done: a run that exits 0 passes, finished or not)"
    assert rows[("language", "python")] == "ok"


@pytest.mark.parametrize("extra,message", [
    ("tests_done = 5", "tests_done must be a string (got 5)"),
    ('tests_done_in = "("', "tests_done_in is not a regular expression"),
    ('tests_done = "x"\ntests_done_wrap = "no body"', "tests_done_wrap must hold @BODY@"),
])
def test_a_wrong_proof_key_in_a_language_file_is_one_line_naming_it(extra, message):
    from rrr_cli.errors import RrrError
    from rrr_cli.execution.languages import _language_from_toml

    base = 'name = "t"\nextension = ".t"\npackages = ["bash"]\nfile = "m.t"\nrun = ["bash", "{file}"]\n'
    with pytest.raises(RrrError, match=re.escape(message)) as raised:
        _language_from_toml(base + extra, "rrr_fake/t.toml")
    assert str(raised.value).startswith("rrr_fake/t.toml: ") and "\n" not in str(raised.value)
