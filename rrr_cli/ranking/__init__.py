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


def rank(task: Task, candidates: Sequence[Candidate], scorer: Scorer) -> list[ScoredCandidate]:
    """The candidates of one task as scored records, best first (rank 1). Ties keep input order."""
    scores = scorer.score(task, candidates)
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    ranked = []
    for position, index in enumerate(order, start=1):
        candidate = candidates[index]
        scored = ScoredCandidate.from_dict(
            {**candidate.to_dict(), "score": float(scores[index]), "scorer": scorer.name, "rank": position})
        ranked.append(scored)
    return ranked
