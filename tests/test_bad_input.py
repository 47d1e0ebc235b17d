"""Garbage in, one clear line out: every command that reads records, fed generated bad input.

Each example writes a JSONL file (or stdin) holding some valid records and one bad line — random bytes,
a JSON value that is not an object, a record with a field dropped, mistyped, oversized, NaN, a
duplicate key, a NUL — and runs the command in-process. It must exit non-zero without a traceback,
name the input and the bad line, and leave the output file it was asked to write untouched.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_in_process import invoke
from rrr_cli.records import MAX_LINE_BYTES, Candidate, Pair, RecordError, Task, Verdict, check_value

TASK = {"task_id": "t/0", "language": "python", "prompt": "def f(x):\n", "tests": "assert f(1) == 1\n",
        "stop_tokens": ["\ndef "], "entry_point": "f"}
CANDIDATE = {"task_id": "t/0", "language": "python", "prompt": "def f(x):\n", "completion": "    return x\n",
             "sample_id": 0, "model": "m", "temperature": 0.8, "seed": 1, "n_tokens": 3, "logprob_sum": -1.5}
VERDICT = {"task_id": "t/0", "sample_id": 0, "status": "passed", "exit_code": 0, "duration_s": 0.1,
           "stderr_tail": ""}
PAIR = {"task_id": "t/0", "language": "python", "prompt": "def f(x):\n", "chosen": "    return x\n",
        "rejected": "    return 0\n", "kind": "standard", "iteration": 0}
VALID = {Task: TASK, Candidate: CANDIDATE, Verdict: VERDICT, Pair: PAIR}

# A value of another JSON type than each field's (for "mistyped").
WRONG = {str: [42, 1.5, True, None, ["x"], {"a": 1}], int: ["7", 1.5, True, None, [1]],
         float: ["0.8", True, None, [0.8], {"t": 1}], list: ["x", 3, {"a": 1}], bool: ["yes", 1]}


def _wrong_for(record_type, name):
    """Values of every JSON type the field's declared type does not admit."""
    hint = record_type.field_types()[name]
    wrong = []
    for value in [value for values in WRONG.values() for value in values]:
        try:
            check_value(value, hint, name)
        except RecordError:
            wrong.append(value)
    return wrong


@st.composite
def bad_line(draw, record_type):
    """One line (bytes, no newline) that no reader may accept as a `record_type` record."""
    valid = dict(VALID[record_type])
    how = draw(st.sampled_from(["bytes", "value", "dropped", "mistyped", "oversized", "nan", "duplicate",
                                "nul", "nul-in-text"]))
    if how == "bytes":
        line = draw(st.binary(min_size=1, max_size=200).filter(lambda b: b"\n" not in b and b.strip()))
        return line
    if how == "value":
        value = draw(st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False,
                                  allow_infinity=False) | st.text(max_size=20),
                                  lambda inner: st.lists(inner, max_size=4), max_leaves=8))
        return json.dumps(value).encode()
    if how == "dropped":
        required = record_type.required()
        for name in draw(st.lists(st.sampled_from(required), min_size=1, unique=True)):
            valid.pop("kind_" if name == "kind_" else name, None)
        return json.dumps(valid).encode()
    if how == "mistyped":
        name = draw(st.sampled_from([n for n in record_type.field_names() if n != "kind_" and n in valid]))
        valid[name] = draw(st.sampled_from(_wrong_for(record_type, name)))
        return json.dumps(valid).encode()
    if how == "oversized":
        text = json.dumps(valid)
        return (text[:-1] + ', "pad": "' + "x" * (MAX_LINE_BYTES + 10) + '"}').encode()
    if how == "nan":
        name = draw(st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999"]))
        return (json.dumps(valid)[:-1] + f', "x": {name}}}').encode()
    if how == "duplicate":
        key = draw(st.sampled_from(sorted(valid)))
        return (json.dumps(valid)[:-1] + f', "{key}": {json.dumps(valid[key])}}}').encode()
    if how == "nul":
        return json.dumps(valid).encode().replace(b'",', b'"\x00,', 1)
    text_field = next(k for k, v in valid.items() if isinstance(v, str) and k not in ("kind",))
    valid[text_field] += "\x00"
    return json.dumps(valid).encode()


@st.composite
def bad_file(draw, record_type, max_valid=3):
    """(bytes of a JSONL file, the 1-based number of its bad line)."""
    before = draw(st.integers(0, max_valid))
    after = draw(st.integers(0, 2))
    good = json.dumps(VALID[record_type]).encode()
    lines = [good] * before + [draw(bad_line(record_type))] + [good] * after
    return b"\n".join(lines) + b"\n", before + 1


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input")
    old = os.environ.get("RRR_HOME")
    os.environ["RRR_HOME"] = str(root / "home")
    (root / "tasks.jsonl").write_text(json.dumps(TASK) + "\n")
    (root / "candidates.jsonl").write_text(json.dumps(CANDIDATE) + "\n")
    (root / "verdicts.jsonl").write_text(json.dumps(VERDICT) + "\n")
    yield root
    if old is None:
        os.environ.pop("RRR_HOME", None)
    else:
        os.environ["RRR_HOME"] = old


def check_refused(workdir: Path, argv, data: bytes, bad: int, *, via_stdin=False, name="input.jsonl"):
    """Run `argv` on `data` (a file named `name`, or stdin) and check the refusal."""
    source = workdir / name
    source.write_bytes(data)
    output = workdir / "out.jsonl"
    output.write_text("what was there before\n")
    argv = [str(source) if a == "{input}" else str(output) if a == "{output}" else a for a in argv]
    code, _, err = invoke(argv, stdin=data if via_stdin else b"")
    assert code != 0, err
    assert "Traceback" not in err
    shown = "<stdin>" if via_stdin else str(source)
    assert f"{shown}:{bad}:" in err.strip().splitlines()[-1], err
    assert output.read_text() == "what was there before\n"
    assert not [p for p in workdir.iterdir() if p.name.endswith(".tmp")]


FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow,
                                                                      HealthCheck.data_too_large])


@FAST
@given(bad_file(Candidate))
def test_rerank_refuses_bad_candidates_from_a_file(workdir, case):
    check_refused(workdir, ["rerank", "{input}", "-o", "{output}"], *case)


@FAST
@given(bad_file(Candidate))
def test_rerank_refuses_bad_candidates_on_stdin(workdir, case):
    check_refused(workdir, ["rerank", "-", "-o", "{output}"], *case, via_stdin=True)


@FAST
@given(bad_file(Candidate, max_valid=1))
def test_exec_refuses_bad_candidates(workdir, case):
    check_refused(workdir, ["exec", str(workdir / "tasks.jsonl"), "-c", "{input}", "-o", "{output}"], *case)


@FAST
@given(bad_file(Task))
def test_sample_refuses_bad_tasks(workdir, case):
    check_refused(workdir, ["sample", "{input}", "-n", "1", "--model", str(workdir / "none.gguf"),
                            "-o", "{output}"], *case)


@FAST
@given(bad_file(Task))
def test_exec_refuses_bad_tasks(workdir, case):
    check_refused(workdir, ["exec", "{input}", "-c", str(workdir / "candidates.jsonl"), "-o", "{output}"],
                  *case)


@FAST
@given(bad_file(Task))
def test_eval_refuses_bad_tasks(workdir, case):
    check_refused(workdir, ["eval", "--tasks", "{input}", "-n", "1"], *case)


@FAST
@given(bad_file(Candidate), st.booleans())
def test_train_reranker_refuses_bad_candidates_or_verdicts(workdir, case, verdicts_bad):
    if verdicts_bad:
        data, bad = case[0].replace(json.dumps(CANDIDATE).encode(), json.dumps(VERDICT).encode()), case[1]
        argv = ["train-reranker", str(workdir / "candidates.jsonl"), "{input}"]
    else:
        data, bad = case
        argv = ["train-reranker", "{input}", str(workdir / "verdicts.jsonl")]
    if verdicts_bad:  # the bad line was drawn for a candidate; it must be bad for a verdict too
        from rrr_cli.records import iter_json_lines

        try:
            for _, obj in iter_json_lines(io.BytesIO(data.splitlines()[bad - 1]), "x"):
                Verdict.from_dict(obj)
            return  # a candidate line that happens to be a valid verdict: not a bad verdict file
        except RecordError:
            pass
    check_refused(workdir, argv, data, bad)
    assert not (workdir / "home" / "cache" / "rerankers").exists() or \
        not any((workdir / "home" / "cache" / "rerankers").iterdir())


@FAST
@given(bad_file(Pair))
def test_train_reranker_refuses_bad_pairs(workdir, case):
    check_refused(workdir, ["train-reranker", "--pairs", "{input}"], *case)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=1, max_size=300))
def test_solve_refuses_a_garbage_task_file(workdir, data):
    path = workdir / "garbage.py"
    path.write_bytes(b"\xff" + data)  # never valid UTF-8, so never a task
    code, out, err = invoke(["solve", str(path)])
    assert code != 0 and "Traceback" not in err
    assert f"{path}:1:" in err and "not UTF-8" in err, err
    assert path.read_bytes() == b"\xff" + data


@pytest.mark.parametrize("text,message", [
    ("[sample]\ntemperature = 'hot'\n", "setting 'sample.temperature' must be float"),
    ("[sample]\nn = 2.5\n", "setting 'sample.n' must be int"),
    ("[sample]\ntemprature = 0.5\n", "unknown setting 'sample.temprature'"),
    ("[execution]\nallow_unsandboxed = 1\n", "must be bool"),
    ("[sample\n", "invalid TOML"),
    ("# caf\xe9\n".encode("latin-1"), ":1: not UTF-8 text"),
    (b"[sample]\nn = 2\n\x00", ":3: a NUL byte"),
])
def test_a_bad_config_file_is_one_line(workdir, text, message):
    config = workdir / "config.toml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    os.environ["RRR_CONFIG"] = str(config)
    try:
        code, _, err = invoke(["sample", str(workdir / "tasks.jsonl"), "--model", str(workdir / "none.gguf")])
    finally:
        del os.environ["RRR_CONFIG"]
    assert code != 0 and "Traceback" not in err
    assert message in err and str(config) in err, err
    assert len(err.strip().splitlines()) == 1, err
