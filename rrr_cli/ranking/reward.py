"""The learned reranker as a scorer: a trained reward model scores each (prompt, completion).

It implements the same `Scorer` protocol as random, mean log-prob and public examples, so `rrr rerank`,
`rrr solve` and `rrr eval` use it the same way; `score_many` scores the candidates of many tasks in
one length-sorted, batched pass.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.generation.backends import open_backend
from rrr_cli.ranking.base import Scorer
from rrr_cli.ranking.evidence import Evidence
from rrr_cli.ranking.probe_cache import GeneratedProbes
from rrr_cli.records import Candidate, Task
from rrr_cli.reranker import RewardModel, find_reranker, read_manifest
from rrr_cli.tasks.folds import fold_of
from rrr_cli.ui import notice

DEFAULT_BATCH_SIZE = 16


class RewardModelScorer(Scorer):
    """Scores candidates with a trained reward model (higher is better)."""

    name = "reranker"
    reranker: str | None = None  # the reranker's name, when loaded by name

    def __init__(self, model, batch_size: int = DEFAULT_BATCH_SIZE):
        self.model = model
        self.batch_size = batch_size
        self.warned = False
        self.evidence = None
        if model.settings.evidence_inputs:
            self.evidence = evidence_for(model.settings.evidence_probes, model.base.spec)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, batch_size: int = DEFAULT_BATCH_SIZE,
             device: str | None = None, **_: Any) -> "RewardModelScorer":
        """A scorer for the reranker named `path` (a name under the rerankers dir, or a directory);
        None loads the newest trained one. The adapters are merged for a plain forward pass."""
        directory = find_reranker(path)
        manifest = read_manifest(directory)
        if manifest.get("kind") == "folds":
            scorer = OutOfFoldScorer.load(directory, manifest, batch_size=batch_size, device=device)
        else:
            scorer = cls(RewardModel.load(directory, device=device, merge=True), batch_size=batch_size)
        scorer.reranker = directory.name  # which one: `rrr solve` says so
        return scorer

    def score_many(self, groups: Sequence[tuple[Task, Sequence[Candidate]]],
                   progress: Callable[[int], None] | None = None) -> list[list[float]]:
        texts = [(candidate.prompt or task.prompt, candidate.completion)
                 for task, candidates in groups for candidate in candidates]
        logprobs = [candidate.logprobs for _, candidates in groups for candidate in candidates]
        if self.model.settings.confidence and not self.warned and any(v is None for v in logprobs):
            self.warned = True
            notice(f"{sum(v is None for v in logprobs)} candidate(s) have no log-probs, which this reranker "
                   "reads; each counts as the least confident")
        evidence = None
        if self.evidence is not None:
            evidence = [row for rows in self.evidence.rows(groups) for row in rows]
        flat = self.model.score_texts(texts, batch_size=self.batch_size, logprobs=logprobs,
                                      evidence=evidence) if texts else []
        out, at = [], 0
        for _, candidates in groups:
            out.append(flat[at:at + len(candidates)])
            at += len(candidates)
        if progress:
            progress(len(groups))
        return out


class OutOfFoldScorer(Scorer):
    """Rerankers trained with `rrr train-reranker --folds K`: each task is scored by the one that never
    saw its fold (`training.pairs.fold_of`), so `rrr eval --reranker NAME` reports held-out figures on
    every task. For evaluation: a task outside the training data still gets a fold and its reranker."""

    name = "reranker"
    reranker: str | None = None

    def __init__(self, members: Sequence[RewardModelScorer], folds: int):
        self.members = list(members)
        self.folds = folds

    @classmethod
    def load(cls, directory, manifest: dict, batch_size: int = DEFAULT_BATCH_SIZE,
             device: str | None = None) -> "OutOfFoldScorer":
        folds, members = manifest.get("folds"), manifest.get("members")
        if not isinstance(folds, int) or folds < 2 or not isinstance(members, list) or len(members) != folds:
            raise RrrError(f"{directory}: a folds manifest needs `folds` >= 2 and one member per fold")
        return cls([RewardModelScorer(RewardModel.load(find_reranker(str(m)), device=device, merge=True),
                                      batch_size=batch_size) for m in members], folds)

    def score_many(self, groups: Sequence[tuple[Task, Sequence[Candidate]]],
                   progress: Callable[[int], None] | None = None) -> list[list[float]]:
        out: list[list[float] | None] = [None] * len(groups)
        for fold, member in enumerate(self.members):
            mine = [i for i, (task, _) in enumerate(groups) if fold_of(task.task_id, self.folds) == fold]
            for i, scores in zip(mine, member.score_many([groups[i] for i in mine]) if mine else []):
                out[i] = scores
        if progress:
            progress(len(groups))
        return out  # type: ignore[return-value]


def evidence_for(probes: str, generator_model: str):
    """The execution evidence a reranker was trained on, computed the same way: over the examples and
    their mutations, plus (when its manifest says so) the calls the generator wrote, read from the
    probe cache or asked of that model."""
    if "generated" not in probes:
        return Evidence()

    def open_generator():
        return open_backend(generator_model)

    return Evidence(GeneratedProbes(generator_model, open_backend=open_generator))

