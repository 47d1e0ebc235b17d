"""Reranking a stream of candidate records: group by task, score, emit best first.

Candidates of one task arrive together (as `rrr sample` writes them), so a task is complete when the
next task starts; complete tasks are scored in batches of about `batch_candidates` candidates, which
lets a reward model fill its batches while output still streams task by task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Iterator

from rrr_cli.errors import RrrError
from rrr_cli.ranking.base import Scorer, rank_scores, score_many
from rrr_cli.ranking.confidence import pick_confidences
from rrr_cli.ranking.registry import get_scorer
from rrr_cli.ranking.reward import RewardModelScorer
from rrr_cli.records import Candidate, ScoredCandidate, Task
from rrr_cli.reranker import list_rerankers
from rrr_cli.tasks.benchmarks import shipped_task

FALLBACK_SCORER = "weighted"  # public examples + mean log-prob (see rrr_cli.ranking.registry)
FALLBACK_NOTICE = ("no trained reranker: ranking by public examples + mean log-prob "
                   "(train one with `rrr train-reranker`)")
# The manifest field a reranker earns its place as the default with: its held-out comparison with the
# fallback, written by training (`beats` true only when it won).
VERSUS_FALLBACK = "versus_fallback"


def beats_fallback(manifest: dict) -> bool:
    """Whether a reranker's manifest records a held-out win over the fallback scorer."""
    record = manifest.get(VERSUS_FALLBACK)
    return isinstance(record, dict) and record.get("beats") is True


def versus_fallback_text(manifest: dict) -> str:
    """A reranker's held-out comparison with the fallback in a few words ("" when it has none)."""
    record = manifest.get(VERSUS_FALLBACK)
    if not isinstance(record, dict) or not isinstance(record.get("interval"), list):
        return ""
    low, high = record["interval"]
    return (f"{record.get('reranker', 0):.3f} vs {record.get('fallback', 0):.3f} on {record.get('tasks')} held-out "
            f"tasks, difference {record.get('difference', 0):+.3f} [{low:+.3f}, {high:+.3f}]")


def default_reranker() -> tuple[tuple[str, Path] | None, str]:
    """The reranker `rrr rerank` and `rrr solve` use unless told otherwise, (name, directory) or None
    for the fallback, and why: the newest trained one whose manifest records a held-out win over the
    fallback (the paired 95% interval above 0), else such a shipped one, else none."""
    found = list_rerankers(shipped=True)
    for name, path, manifest in found:
        if beats_fallback(manifest):
            return (name, path), f"it beat public examples + mean log-prob ({versus_fallback_text(manifest)})"
    if found:
        name = found[0][0]
        return None, (f"no trained reranker beat them on held-out tasks (the newest, {name}, did not or was not compared; use it "
                      f"with --scorer reranker:{name})")
    return None, "no trained reranker"


def default_scorer(reranker: str | None = None, notice: Callable[[str], None] | None = None) -> Scorer:
    """The scorer `rrr rerank` and `rrr solve` use: the named reranker; else `default_reranker`; else the
    fallback, public examples + mean log-prob, with a one-line notice (naming a trained reranker that
    was passed over, and why).

    A reranker that did not win is kept and can still be chosen by name: training it never makes the
    default pick worse."""
    if reranker is not None:
        return RewardModelScorer.load(reranker)
    chosen, reason = default_reranker()
    if chosen is not None:
        return RewardModelScorer.load(str(chosen[1]))
    if notice:
        notice(FALLBACK_NOTICE if reason == "no trained reranker" else f"ranking by public examples + mean log-prob: {reason}")
    return get_scorer(FALLBACK_SCORER)


def task_of(candidate: Candidate) -> Task:
    """The task a candidate record stands for: its prompt, and tests only if the record carries them;
    a shipped benchmark's task (same id, language and prompt) comes whole, harness included, so its
    examples run in every language (`tasks.benchmarks.shipped_task`)."""
    tests = str(candidate.extra.get("tests", ""))
    if not tests:
        known = shipped_task(candidate.task_id, candidate.language, candidate.prompt)
        if known is not None:
            return known
    return Task(task_id=candidate.task_id, language=candidate.language, prompt=candidate.prompt, tests=tests)


def rerank_stream(candidates: Iterable[Candidate], scorer: Scorer, top_k: int | None = None,
                  batch_candidates: int = 64,
                  progress: Callable[[int], None] | None = None,
                  confidence: bool = False) -> Iterator[ScoredCandidate]:
    """Scored candidates, best first within each task, keeping the top `top_k` of each task; with
    `confidence`, each task's best carries the probability that it passes the hidden tests
    (`ranking.confidence`).

    A task whose candidates are split across the stream (it reappears after another task) is an
    error: its ranking would be wrong.
    """
    if top_k is not None and top_k < 1:
        raise RrrError(f"--top-k must be at least 1 (got {top_k})")
    finished: set[str] = set()
    ready: list[tuple[Task, list[Candidate]]] = []
    current: list[Candidate] = []

    def flush() -> Iterator[ScoredCandidate]:
        groups = list(ready)
        ready.clear()
        rankings = [rank_scores(members, list(scores), scorer.name)
                    for (_, members), scores in zip(groups, score_many(scorer, groups))]
        if confidence and groups:
            picks = pick_confidences([(task, members, ranked[0]) for (task, members), ranked in zip(groups, rankings)])
            for ranked, pick in zip(rankings, picks):
                ranked[0].confidence = round(pick.probability, 4)
        for (_, members), ranked in zip(groups, rankings):
            yield from ranked[:top_k] if top_k else ranked
            if progress:
                progress(len(members))

    for candidate in candidates:
        if current and candidate.task_id != current[0].task_id:
            finished.add(current[0].task_id)
            ready.append((task_of(current[0]), current))
            current = []
            if sum(len(m) for _, m in ready) >= batch_candidates:
                yield from flush()
        if candidate.task_id in finished:
            raise RrrError(f"candidates of task {candidate.task_id} are not together in the input "
                           "(sort it by task first)")
        current.append(candidate)
    if current:
        ready.append((task_of(current[0]), current))
    yield from flush()
