"""Scorers: one protocol used by `rrr solve`, `rrr rerank` and `rrr eval`, so a scorer makes the same
choice everywhere. A scorer gives each candidate of one task a float; higher is better."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

from rrr_cli.records import Candidate, ScoredCandidate, Task


class Scorer(ABC):
    name: str = "scorer"

    @abstractmethod
    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        """One score per candidate, in the given order; higher is better."""


def rank_scores(candidates: Sequence[Candidate], scores: Sequence[float], scorer_name: str) -> list[ScoredCandidate]:
    """Candidates of one task as scored records, best first (rank 1); ties keep input order."""
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    return [ScoredCandidate.from_dict({**candidates[i].to_dict(), "score": float(scores[i]),
                                       "scorer": scorer_name, "rank": position})
            for position, i in enumerate(order, start=1)]


def rank(task: Task, candidates: Sequence[Candidate], scorer: Scorer) -> list[ScoredCandidate]:
    """Score one task's candidates with `scorer` and return them best first."""
    return rank_scores(candidates, scorer.score(task, candidates), scorer.name)
