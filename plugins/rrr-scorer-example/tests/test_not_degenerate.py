"""The example scorer: found by name through rrr's registry, degenerate candidates last."""

from __future__ import annotations

import pytest

pytest.importorskip("rrr_scorer_example", reason="the plugin is not installed (pip install -e plugins/rrr-scorer-example)")

from rrr_cli import plugins
from rrr_cli.errors import RrrError
from rrr_cli.ranking import rank
from rrr_cli.ranking.registry import get_scorer
from rrr_cli.records import Candidate, Task

from rrr_scorer_example import degenerate

TASK = Task(task_id="t", language="python", prompt="def f(x):\n    \"\"\"Twice x.\"\"\"\n", tests="", stop_tokens=[])


def _candidate(sample_id: int, completion: str, mean_logprob: float | None) -> Candidate:
    return Candidate(task_id="t", language="python", prompt=TASK.prompt, completion=completion, sample_id=sample_id,
                     model="m", backend="b", prompt_style="completion", temperature=0.8, seed=0, n_tokens=4,
                     mean_logprob=mean_logprob)


def test_it_is_registered_by_this_package():
    plugin = plugins.discovered("scorer")["not_degenerate"]
    assert (plugin.package, plugin.builtin) == ("rrr-scorer-example", False)


@pytest.mark.parametrize("completion, expected", [
    ("    return 2 * x\n", False),
    ("    pass\n", True),
    ("    # TODO\n    ...\n", True),
    ("", True),
    ("    y = 1\n    y = 1\n    y = 1\n    return y\n", True),
    ("    y = 1\n    y = 1\n    return y\n", False),
])
def test_degenerate(completion, expected):
    assert degenerate(completion) is expected


def test_degenerate_candidates_rank_last_whatever_their_log_prob():
    candidates = [_candidate(0, "    pass\n", -0.01), _candidate(1, "    return x + x\n", -0.9),
                  _candidate(2, "    return 2 * x\n", -0.2), _candidate(3, "    return x * 2\n", None)]
    ranked = rank(TASK, candidates, get_scorer("not_degenerate"))
    assert [c.sample_id for c in ranked] == [2, 1, 3, 0]
    assert ranked[0].scorer == "not_degenerate"


def test_the_argument_is_the_number_of_repeats():
    looping = "    y = 1\n    y = 1\n    y = 1\n    return y\n"
    assert get_scorer("not_degenerate:4").score(TASK, [_candidate(0, looping, -0.5)]) == [-0.5]
    with pytest.raises(RrrError, match="REPEATS must be a whole number"):
        get_scorer("not_degenerate:x")
