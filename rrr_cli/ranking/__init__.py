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


def default_scorer(announce: bool = True) -> Scorer:
    """What `rrr solve` and `rrr rerank` use when no scorer is named: the newest trained reranker,
    else the public examples with mean log-prob breaking ties (said once on stderr)."""
    from rrr_cli.ranking.scorers import get_scorer

    try:
        from rrr_cli.ranking.reward import newest_reranker
    except ImportError:
        newest_reranker = None
    path = newest_reranker() if newest_reranker else None
    if path is not None:
        return get_scorer("reranker", path=str(path))
    if announce:
        from rrr_cli.ui import notice

        notice("no trained reranker yet: ranking by public examples, ties by mean log-prob")
    return get_scorer("public_examples")
