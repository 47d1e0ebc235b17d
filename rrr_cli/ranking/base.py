"""The scorer protocol, the bottom of `rrr_cli.ranking`: every scorer, built-in or a plugin's, is a `Scorer`.

A scorer gives each candidate of one task a float; higher is better. It defines `score` (one task) or
`score_many` (many tasks at once, so sandbox runs or a reward model's batches can go together), or
both: each defaults to the other. `rank()` turns the scores into a choice, so a scorer makes the same
choice in `rrr solve`, `rrr rerank` and `rrr eval`.

This module imports nothing else of `rrr_cli.ranking`; the scorers build on it and the registry
(`ranking.registry`) sits on top of them all.
"""

from __future__ import annotations

from typing import Callable, Sequence

from rrr_cli.records import Candidate, ScoredCandidate, Task

Groups = Sequence[tuple[Task, Sequence[Candidate]]]
Progress = Callable[[int], None]


class Scorer:
    """One float per candidate, higher is better. Define `score` or `score_many` (or both).

    - `name`: what the scored records and the reports call it;
    - `cache_key`: `rrr eval` keeps a scorer's scores between runs only under this key, which must change
      whenever its scores could; None (the default) means it is scored afresh on every run (a learned
      reranker keeps its name when retrained);
    - `batch_size`: candidates per forward pass, for a scorer that batches a model (`rrr rerank
      --batch-size` sets it); None for the others;
    - `close()`: free what the scorer holds (a backend, workers); the default holds nothing.
    """

    name: str = "scorer"
    cache_key: str | None = None
    batch_size: int | None = None

    def __new__(cls, *args, **kwargs):
        if cls.score is Scorer.score and cls.score_many is Scorer.score_many:
            raise TypeError(f"Can't instantiate {cls.__name__}: a Scorer defines score or score_many")
        return super().__new__(cls)

    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        """One score per candidate, in the given order; higher is better."""
        return self.score_many([(task, candidates)])[0]

    def score_many(self, groups: Groups, progress: Progress | None = None) -> list[list[float]]:
        """Per (task, candidates) group, in order, `score`'s list; `progress(k)` after each k groups."""
        out = []
        for task, candidates in groups:
            out.append(list(self.score(task, candidates)))
            if progress:
                progress(1)
        return out

    def close(self) -> None:
        """Free what the scorer holds; nothing by default."""


# The old name of a scorer that can score many tasks at once: every Scorer can now.
BatchScorer = Scorer


def score_many(scorer: Scorer, groups: Groups, progress: Progress | None = None) -> list[list[float]]:
    """Scores for several tasks with any scorer (`scorer.score_many`)."""
    return scorer.score_many(groups, progress)


def rank_scores(candidates: Sequence[Candidate], scores: Sequence[float], scorer_name: str) -> list[ScoredCandidate]:
    """Candidates of one task as scored records, best first (rank 1); ties keep input order."""
    order = sorted(range(len(candidates)), key=lambda i: -scores[i])
    return [ScoredCandidate.from_dict({**candidates[i].to_dict(), "score": float(scores[i]),
                                       "scorer": scorer_name, "rank": position})
            for position, i in enumerate(order, start=1)]


def rank(task: Task, candidates: Sequence[Candidate], scorer: Scorer) -> list[ScoredCandidate]:
    """Score one task's candidates with `scorer` and return them best first."""
    return rank_scores(candidates, scorer.score(task, candidates), scorer.name)


__all__ = ["Scorer", "BatchScorer", "score_many", "rank_scores", "rank"]
