"""Records: round trips, pass-through fields, clear errors with file and line, atomic writes."""

import io
import json

import pytest

from rrr_cli.records import (Candidate, Pair, RecordError, Task, Verdict, read_records, to_jsonl,
                             write_records)


def candidate(**fields):
    base = {"task_id": "t/1", "language": "python", "prompt": "def f():\n", "completion": "    return 1\n",
            "sample_id": 0}
    return {**base, **fields}


def test_candidate_round_trip_keeps_unknown_fields():
    record = Candidate.from_dict(candidate(custom={"x": 1}, mean_logprob=-0.5))
    data = record.to_dict()
    assert data["custom"] == {"x": 1}
    assert data["mean_logprob"] == -0.5
    assert Candidate.from_dict(json.loads(json.dumps(data))) == record


def test_pair_uses_kind_field_in_json():
    pair = Pair.from_dict({"task_id": "t", "language": "python", "prompt": "p", "chosen": "a",
                           "rejected": "b", "kind": "hard_negative", "iteration": 2})
    assert pair.kind_ == "hard_negative"
    assert pair.to_dict()["kind"] == "hard_negative"
    with pytest.raises(RecordError, match="unknown pair kind"):
        Pair.from_dict({**pair.to_dict(), "kind": "weird"})


def test_missing_field_names_the_field_and_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps(candidate()) + "\n" + json.dumps({"task_id": "x"}) + "\n")
    with pytest.raises(RecordError) as error:
        list(read_records(path, Candidate))
    assert f"{path}:2:" in str(error.value)
    assert "missing field(s): language, prompt, completion, sample_id" in str(error.value)


def test_invalid_json_and_unknown_language_are_reported_with_line():
    stream = io.StringIO(json.dumps(candidate()) + "\n\n{not json\n")
    with pytest.raises(RecordError, match=r":3: invalid JSON"):
        list(read_records(stream, Candidate))
    with pytest.raises(RecordError, match="unknown language 'cobol'"):
        list(read_records(io.StringIO(json.dumps(candidate(language="cobol"))), Candidate))


def test_verdict_status_is_checked():
    assert Verdict.from_dict({"task_id": "t", "sample_id": 0, "status": "passed"}).passed
    with pytest.raises(RecordError, match="unknown verdict status"):
        Verdict.from_dict({"task_id": "t", "sample_id": 0, "status": "great"})


def test_write_is_atomic_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "out.jsonl"
    write_records(path, [Candidate.from_dict(candidate())])
    before = path.read_text()

    def broken():
        yield Candidate.from_dict(candidate(sample_id=1))
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        write_records(path, broken())
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_task_records_round_trip(tmp_path):
    task = Task(task_id="a", language="sh", prompt="f() {\n", tests="}\nf\n", stop_tokens=["\n}"])
    path = tmp_path / "tasks.jsonl"
    write_records(path, [task])
    assert list(read_records(path, Task)) == [task]
    assert to_jsonl([task]).count("\n") == 1
