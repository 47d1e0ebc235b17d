"""An example scorer plugin for rrr: `not_degenerate`, the generator's mean log-prob with degenerate
candidates (no code at all, a placeholder body, a line repeated over and over) ranked last.

Registered in this package's pyproject.toml under the `rrr.scorers` entry-point group:

    [project.entry-points."rrr.scorers"]
    not_degenerate = "rrr_scorer_example:not_degenerate"

then `rrr solve task.py --scorer not_degenerate` (or `not_degenerate:5`: five repeats make a loop).
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.ranking import Scorer
from rrr_cli.records import Candidate, Task

PLACEHOLDER = re.compile(r"^(?:pass|\.\.\.|return|return None|return null;?|todo|// todo.*|# todo.*)$", re.IGNORECASE)
COMMENT = re.compile(r"^(?:#|//|/\*|\*)")
BRACES = {"{", "}", "{}"}
PENALTY = 1e6  # far below any mean log-prob, so a degenerate candidate ranks after every other one


def degenerate(completion: str, repeats: int = 3) -> bool:
    """No code but comments and placeholders, or one line `repeats` times in a row (a sampling loop)."""
    lines = [line.strip() for line in completion.splitlines() if line.strip()]
    code = [line for line in lines if not COMMENT.match(line)]
    if all(PLACEHOLDER.match(line) or line in BRACES for line in code):
        return True
    run = 1
    for previous, line in zip(code, code[1:]):
        run = run + 1 if line == previous and line not in BRACES else 1
        if run >= repeats:
            return True
    return False


class NotDegenerateScorer(Scorer):
    """Mean token log-prob, minus a penalty that puts degenerate candidates last."""

    name = "not_degenerate"

    def __init__(self, repeats: int = 3):
        self.repeats = repeats
        # Optional: a key that changes whenever the scores could lets `rrr eval` keep them between runs.
        self.cache_key = f"not_degenerate-r{repeats}-v1"

    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        scores = []
        for candidate in candidates:
            logprob = candidate.mean_logprob
            base = logprob if logprob is not None and math.isfinite(logprob) else -100.0
            scores.append(base - (PENALTY if degenerate(candidate.completion, self.repeats) else 0.0))
        return scores


def not_degenerate(argument: str | None = None, **options: Any) -> Scorer:
    """The factory rrr calls for `--scorer not_degenerate[:REPEATS]`; it has no use for `options`."""
    if argument is None:
        return NotDegenerateScorer()
    if not argument.isdigit() or int(argument) < 2:
        raise RrrError(f"not_degenerate:{argument}: REPEATS must be a whole number of at least 2")
    return NotDegenerateScorer(int(argument))
