"""Scorers: one protocol used by `rrr solve`, `rrr rerank` and `rrr eval`, so a scorer makes the same
choice everywhere. A scorer gives each candidate of one task a float; higher is better.

The modules, bottom to top (an import points only down this list):

- `base`: the `Scorer` protocol, `score_many`, `rank` and `rank_scores` (re-exported here);
- `probe_inputs`, then `probe_cache`: the consensus scorer's probes and the model-written ones on disk;
- `scorers`: random, mean log-prob, public examples, weighted;
- `consensus`, then `evidence`, then `confidence`, `evidence_scorer` and `reward` (the learned reranker);
- `registry`: the scorer factories (the `rrr.scorers` entry points) and `get_scorer`;
- `rerank`: reranking a stream of candidate records with the default scorer or a named one.
"""

from __future__ import annotations

from rrr_cli.ranking.base import BatchScorer, Scorer, rank, rank_scores, score_many

__all__ = ["Scorer", "BatchScorer", "rank", "rank_scores", "score_many"]
