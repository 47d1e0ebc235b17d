"""The `evidence` scorer: a learned ranking over what running each candidate showed, with no text model.

Each candidate is read as `rrr solve`'s confidence reads its pick (`ranking.confidence.feature_row`:
examples passed and shown, builds, its behaviour group's share over the examples and their mutations,
whether that group is the biggest, probe failures, how many candidates do as well on the examples,
its mean token probability, the language), and a logistic regression fitted on executed eval runs
gives each the probability that it passes the hidden tests; candidates rank by it.

It learns how much each kind of evidence is worth per language instead of fixing an order (examples
first, then agreement, then log-prob), and needs no reward-model forward: scoring costs the sandbox
runs of the examples and one probe program per candidate. The shipped weights
(`rrr_cli/data/evidence_scorer.json`) come from `benchmarks/evidence_scorer.py RUN_DIR --save`, which
also measures it out of fold against `public_examples` and `consensus` on the same candidates.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable, Sequence

from rrr_cli.ranking.confidence import ConfidenceModel, feature_row, load_model as read_model
from rrr_cli.ranking.evidence import Evidence
from rrr_cli.ranking.base import Scorer
from rrr_cli.records import Candidate, Task

SHIPPED = "evidence_scorer.json"


def candidate_rows(evidence: Evidence, groups: Sequence[tuple[Task, Sequence[Candidate]]]) -> list[list[list[float]]]:
    """Per task, per candidate: the model's inputs (`feature_row`), from one evidence run for all."""
    out = []
    for (task, candidates), rows in zip(groups, evidence.rows(groups)):
        totals = [evidence.consensus.examples.outcomes[(task.task_id, c.sample_id)].total for c in candidates]
        out.append([feature_row(rows, i, c.mean_logprob, totals[i], task.language)
                    for i, c in enumerate(candidates)])
    return out


def load_model(path: str | Path | None = None) -> ConfidenceModel:
    """The model at `path`, or the shipped one (`rrr_cli/data/evidence_scorer.json`)."""
    return read_model(path, packaged=SHIPPED)


class EvidenceScorer(Scorer):
    """Ranks candidates by a fitted model's P(passes the hidden tests) from their execution evidence."""

    name = "evidence"

    def __init__(self, model: ConfidenceModel | None = None, evidence: Evidence | None = None):
        self.model = model or load_model()
        self.evidence = evidence or Evidence()

    @property
    def cache_key(self) -> str:
        weights = json.dumps([self.model.weights, self.model.bias])
        return f"evidence-{hashlib.sha256(weights.encode()).hexdigest()[:12]}"

    def score_many(self, groups: Sequence[tuple[Task, Sequence[Candidate]]],
                   progress: Callable[[int], None] | None = None) -> list[list[float]]:
        out = []
        for rows in candidate_rows(self.evidence, groups):
            out.append([self.model.probability(row) for row in rows])
            if progress:
                progress(1)
        return out


__all__ = ["EvidenceScorer", "candidate_rows", "load_model"]
