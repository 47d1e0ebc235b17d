"""The learned `evidence` scorer: a fitted model over execution evidence ranks candidates."""

from __future__ import annotations

import json

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.ranking import rank
from rrr_cli.ranking.confidence import FEATURES, ConfidenceModel
from rrr_cli.ranking.evidence_scorer import EvidenceScorer
from rrr_cli.ranking.registry import evidence_scorer, get_scorer
from rrr_cli.records import Candidate, Task

PROMPT = 'def add1(x: int) -> int:\n    """Return x plus one.\n\n    >>> add1(1)\n    2\n    >>> add1(5)\n    6\n    """\n'


def _candidates(task, bodies):
    return [Candidate(task_id=task.task_id, language="python", prompt=task.prompt, completion=body, sample_id=i,
                      mean_logprob=logprob) for i, (body, logprob) in enumerate(bodies)]


def test_the_shipped_model_ranks_by_what_running_showed(sandbox_home):
    task = Task(task_id="A/0", language="python", prompt=PROMPT, tests="", entry_point="add1")
    # The model's favourite passes one example of two; two right bodies agree on every probe.
    candidates = _candidates(task, [("    return 2\n", -0.01), ("    return x + 1\n", -0.3),
                                    ("    return 1 + x\n", -0.35), ("    return x +\n", -0.05)])
    scorer = get_scorer("evidence")
    assert isinstance(scorer, EvidenceScorer) and scorer.cache_key.startswith("evidence-")
    ranked = rank(task, candidates, scorer)
    assert {ranked[0].sample_id, ranked[1].sample_id} == {1, 2} and ranked[-1].sample_id == 3
    assert all(0 < c.score < 1 for c in ranked)


def test_a_model_file_given_by_path_and_its_errors(tmp_path):
    path = tmp_path / "model.json"
    model = ConfidenceModel([0.0] * len(FEATURES), 0.5)
    model.save(path)
    assert evidence_scorer(str(path)).model.bias == 0.5
    path.write_text("{\n  \"format\": ")
    with pytest.raises(RrrError, match=r"model.json:2: not JSON"):
        evidence_scorer(str(path))
    path.write_text(json.dumps({**model.to_dict(), "features": ["x"]}))
    with pytest.raises(RrrError, match="not a confidence model this version of rrr reads"):
        evidence_scorer(str(path))
    with pytest.raises(RrrError, match="missing.json: no such file"):
        evidence_scorer(str(tmp_path / "missing.json"))
    path.write_bytes(b"\xff\xfe{}")
    with pytest.raises(RrrError, match="model.json: not UTF-8 text"):
        evidence_scorer(str(path))
    path.write_text(json.dumps({**model.to_dict(), "weights": ["x"] * len(FEATURES)}))
    with pytest.raises(RrrError, match="one numeric weight per input"):
        evidence_scorer(str(path))
    path.write_text("[1, 2]")
    with pytest.raises(RrrError, match="not a confidence model"):
        evidence_scorer(str(path))


def test_a_model_reads_the_inputs_it_names_so_an_older_one_still_loads(tmp_path):
    # A model fitted before an input existed names fewer inputs; it reads those from a full row.
    from rrr_cli.ranking.confidence import fit

    rows = [[float(i % 2)] * len(FEATURES) for i in range(20)]
    labels = [i % 2 == 1 for i in range(20)]
    older = fit(rows, labels, features=FEATURES[:-1])
    path = tmp_path / "older.json"
    older.save(path)
    loaded = evidence_scorer(str(path)).model
    assert loaded.features == FEATURES[:-1] and len(loaded.weights) == len(FEATURES) - 1
    assert loaded.probability(rows[1]) > 0.5 > loaded.probability(rows[0])
    with pytest.raises(RrrError, match=f"a confidence row has {len(FEATURES)} inputs, got 3"):
        loaded.probability([0.0] * 3)
    path.write_text(json.dumps({**older.to_dict(), "features": [*FEATURES[:-2], "made_up"]}))
    with pytest.raises(RrrError, match="not a confidence model this version of rrr reads"):
        evidence_scorer(str(path))
    path.write_text(json.dumps({**older.to_dict(), "features": [FEATURES[0]] * (len(FEATURES) - 1)}))
    with pytest.raises(RrrError, match="not a confidence model this version of rrr reads"):
        evidence_scorer(str(path))


def test_bad_model_files_are_one_line_from_the_command_line(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "model.json"
    path.write_text('{"format": "rrr-confidence-2", "features": 3}')
    result = subprocess.run([sys.executable, "-m", "rrr_cli", "rerank", "--scorer", f"evidence:{path}"],
                            input=b"", capture_output=True, env={**__import__("os").environ, "RRR_HOME": str(tmp_path)})
    assert result.returncode == 2 and result.stderr.decode().count("\n") == 1, result.stderr.decode()
