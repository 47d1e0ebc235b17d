"""The eval run on disk: reuse, instant reruns, and resuming an interrupted run without duplicates.

The generator is a scripted backend (the point is the bookkeeping); execution is the real sandbox.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rrr_cli.evaluation.report import results
from rrr_cli.evaluation.runs import EvalSettings, JsonlLog, run_eval
from rrr_cli.generation.base import Backend, Generation
from rrr_cli.ranking.scorers import MeanLogprobScorer, PublicExamplesScorer, RandomScorer
from rrr_cli.records import Task, read_records

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
N = 3


class ScriptedBackend(Backend):
    """Candidate j of a prompt is a fixed text chosen by its seed; can fail after some calls."""

    name = "scripted"
    model_name = "scripted"
    answers = {
        "def add": ["    return a + b\n", "    return 3\n", "    return a - b\n"],
        "def nothing": ["    return None\n", "    return (\n", "    return 1\n"],
        "def neg": ["    return x\n", "    return -x\n", "    return 0 - x\n"],
    }

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after

    def generate(self, prompts, params):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-run
        self.calls += 1
        out = []
        for prompt in prompts:
            texts = next(v for k, v in self.answers.items() if k in prompt)
            out.append([Generation(text=texts[(params.seed + j) % len(texts)], n_tokens=4,
                                   logprob_sum=-0.4 * (j + 1), finish_reason="stop") for j in range(params.n)])
        return out

    def render_chat(self, messages):
        return messages[-1]["content"]


@pytest.fixture
def tasks() -> list[Task]:
    loaded = [t for t in read_records(FIXTURES / "tasks.jsonl", Task) if t.language == "python"]
    neg = Task(task_id="fx/neg", language="python", source="fixture", entry_point="neg",
               prompt='def neg(x):\n    """Minus x.\n    >>> neg(2)\n    -2\n    """\n',
               tests="\n\nassert neg(5) == -5\nassert neg(0) == 0\n")
    return loaded + [neg]


@pytest.fixture
def home(tmp_path, monkeypatch):
    from rrr_cli.execution import bwrap_problem

    if bwrap_problem():
        pytest.skip(bwrap_problem())
    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    return tmp_path


SETTINGS = EvalSettings(model="scripted", backend="scripted", n=N, temperature=0.8, seed=0,
                        prompt_style="completion")


def _scorers():
    return [RandomScorer(seed=0), MeanLogprobScorer(), PublicExamplesScorer()]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_eval_computes_from_real_verdicts_and_reruns_instantly(tasks, home):
    backend = ScriptedBackend()
    result = run_eval(tasks, SETTINGS, _scorers(), root=home / "runs", backend_factory=lambda s: backend)
    assert backend.calls == len(tasks)
    by_task = {row["task_id"]: row for row in result.per_task}
    assert by_task["fx/add"]["correct"] == 1  # a + b passes; 3 and a - b fail the hidden tests
    assert by_task["fx/none"]["correct"] == 1  # only `return None`
    assert by_task["fx/neg"]["correct"] == 2
    # Public examples pick a passing candidate in every task that has one with examples.
    assert by_task["fx/add"]["reranked@1"]["public_examples"] == 1.0
    assert by_task["fx/neg"]["reranked@1"]["public_examples"] == 1.0
    assert (result.run_dir / "report.json").is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("a rerun must neither sample nor execute")

    again = run_eval(tasks, SETTINGS, _scorers(), root=home / "runs", backend_factory=refuse, executor=refuse)
    assert results(again.report) == results(result.report)
    # Fewer tasks reuse the same run; other settings get their own.
    fewer = run_eval(tasks[:1], SETTINGS, _scorers(), root=home / "runs", backend_factory=refuse, executor=refuse)
    assert fewer.run_dir == result.run_dir
    other = EvalSettings(**{**SETTINGS.__dict__, "seed": 1})
    assert run_eval(tasks[:1], other, [MeanLogprobScorer()], root=home / "runs",
                    backend_factory=lambda s: ScriptedBackend()).run_dir != result.run_dir


def test_a_verdict_logged_under_an_older_harness_is_executed_again(tasks, home):
    first = run_eval(tasks, SETTINGS, _scorers(), root=home / "runs", backend_factory=lambda s: ScriptedBackend())
    log = first.run_dir / "verdicts.jsonl"
    records = _lines(log)
    assert records and all(r["harness"] for r in records)
    # As a run written before the proof that the tests finished: no harness, and one candidate that is
    # really wrong logged as passed (what an early exit got from the old harness).
    wrong = next(r for r in records if r["status"] != "passed")
    stale = [{k: v for k, v in r.items() if k != "harness"} for r in records]
    stale[records.index(wrong)]["status"] = "passed"
    log.write_text("".join(json.dumps(r) + "\n" for r in stale))
    executed = []

    def executor(pending_tasks, pending, advance):
        from rrr_cli.evaluation.runs import _default_executor

        executed.extend(pending)
        yield from _default_executor(pending_tasks, pending, advance)

    again = run_eval(tasks, SETTINGS, _scorers(), root=home / "runs", backend_factory=lambda s: None, executor=executor)
    assert len(executed) == len(records)  # every candidate ran again under today's harness
    assert results(again.report) == results(first.report)
    by_key = {(v.task_id, v.sample_id): v.status for group in again.verdicts.values() for v in group}
    assert by_key[(wrong["task_id"], wrong["sample_id"])] == wrong["status"]


def test_interrupted_run_resumes_without_duplicates(tasks, home):
    reference = run_eval(tasks, SETTINGS, _scorers(), root=home / "reference",
                         backend_factory=lambda s: ScriptedBackend())

    runs = home / "runs"
    # Interrupted while sampling the second task.
    with pytest.raises(KeyboardInterrupt):
        run_eval(tasks, SETTINGS, _scorers(), root=runs, backend_factory=lambda s: ScriptedBackend(fail_after=1))
    run_dir = next(runs.glob("eval-*"))
    assert len(_lines(run_dir / "samples.jsonl")) == N  # exactly one whole task

    # Interrupted while executing: after four verdicts (the first task's three, one of the second's).
    from rrr_cli.execution import execute

    def failing_executor(tasks_, candidates, advance):
        for count, verdict in enumerate(execute(tasks_, candidates), start=1):
            if count > 4:
                raise RuntimeError("killed")
            yield verdict

    resumed = ScriptedBackend()
    with pytest.raises(RuntimeError, match="killed"):
        run_eval(tasks, SETTINGS, _scorers(), root=runs, backend_factory=lambda s: resumed,
                 executor=failing_executor)
    assert resumed.calls == len(tasks) - 1  # only the tasks not sampled before
    assert len(_lines(run_dir / "verdicts.jsonl")) == N  # only whole tasks are logged

    # A torn last line (killed mid-append) is dropped, not fatal.
    with open(run_dir / "verdicts.jsonl", "a") as handle:
        handle.write('{"task_id": "fx/no')

    final = run_eval(tasks, SETTINGS, _scorers(), root=runs, backend_factory=lambda s: ScriptedBackend(fail_after=0))
    samples = _lines(run_dir / "samples.jsonl")
    verdicts = _lines(run_dir / "verdicts.jsonl")
    for records in (samples, verdicts, _lines(run_dir / "scores-public_examples-v4.jsonl")):
        keys = [(r["task_id"], r["sample_id"]) for r in records]
        assert len(keys) == len(set(keys)) == len(tasks) * N
    assert results(final.report) == results(reference.report)


def test_jsonl_log_drops_only_a_torn_tail(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl")
    log.append([{"a": 1}, {"a": 2}])
    with open(log.path, "a") as handle:
        handle.write('{"a": 3')
    assert log.load() == [{"a": 1}, {"a": 2}]
    log.append([{"a": 4}])
    assert log.load() == [{"a": 1}, {"a": 2}, {"a": 4}]
    log.path.write_text('{"a": 1}\nnot json\n{"a": 2}\n')
    from rrr_cli.errors import RrrError

    with pytest.raises(RrrError, match="log.jsonl:2: invalid JSON"):
        log.load()


def test_greedy_adds_its_own_pass_at_1(tasks, home):
    result = run_eval(tasks, SETTINGS, [MeanLogprobScorer()], greedy=True, root=home / "runs",
                      backend_factory=lambda s: ScriptedBackend())
    # The scripted greedy answer is each task's first text: a + b (passes), None (passes), x (fails).
    assert [row["greedy"] for row in result.per_task] == [1.0, 1.0, 0.0]
    assert result.report["average"]["greedy"] == pytest.approx(2 / 3)
    assert len(_lines(result.run_dir / "greedy-samples.jsonl")) == len(tasks)


def test_only_scorers_named_by_what_decides_them_are_cached(tasks, home):
    from rrr_cli.evaluation.runs import scorer_cache_name
    from rrr_cli.ranking.scorers import BatchScorer, WeightedScorer

    class Learned(BatchScorer):  # e.g. a reranker: retrained under the same name
        name = "reward_model"

        def score(self, task, candidates):
            return MeanLogprobScorer().score(task, candidates)

    assert scorer_cache_name(RandomScorer(seed=3)) == "scores-random-seed3.jsonl"
    assert scorer_cache_name(WeightedScorer([(MeanLogprobScorer(), 1.0)])) is not None
    assert scorer_cache_name(Learned()) is None
    assert scorer_cache_name(WeightedScorer([(Learned(), 1.0)])) is None
    run_eval(tasks, SETTINGS, [Learned()], root=home / "runs", backend_factory=lambda s: ScriptedBackend())
    assert not list((home / "runs").glob("eval-*/scores-reward_model.jsonl"))


@pytest.mark.parametrize("line,message", [
    (b'{"task_id": "t", "sample_id": 0, "completion_sha": "ab", "score": "high"}', "field 'score' must be"),
    (b'{"task_id": "t", "sample_id": 0, "score": 1.0}', "missing field 'completion_sha'"),
    (b'{"task_id": "t", "sample_id": 0, "completion_sha": "\xff", "score": 1.0}', "not UTF-8 text"),
    (b'{"task_id": "t", "sample_id": 0, "completion_sha": "ab", "score": NaN}', "NaN is not a JSON number"),
    (b'[1, 2]', "expected a JSON object"),
])
def test_a_damaged_run_log_is_one_line_naming_file_and_line(tmp_path, line, message):
    from rrr_cli.errors import RrrError
    from rrr_cli.evaluation.runs import SCORE_FIELDS

    log = JsonlLog(tmp_path / "scores.jsonl")
    good = b'{"task_id": "t", "sample_id": 1, "completion_sha": "cd", "score": null}'
    log.path.write_bytes(good + b"\n" + line + b"\n" + good + b"\n")
    with pytest.raises(RrrError, match=f"scores.jsonl:2: .*{message}.*delete"):
        log.load(SCORE_FIELDS)
    # Whole but damaged as the last line is still damage, not a torn append: refused, file untouched.
    log.path.write_bytes(good + b"\n" + line)
    if b"\xff" not in line and b"NaN" not in line:
        with pytest.raises(RrrError, match="scores.jsonl:2:"):
            log.load(SCORE_FIELDS)
        assert log.path.read_bytes() == good + b"\n" + line
