"""Preference pairs for the reward model, mined from executed candidates.

- `build_pairs`: within a task, each passing candidate is preferred over each failing one
  (`kind` "standard"), capped per task.
- `mine_hard_negatives`: failing candidates the current reranker still scores at or above the task's
  best passing one, or in its top k (`kind` "hard_negative"), each paired with the task's passing ones.
- `labelled_tasks`: candidates grouped per task with pass flags, what validation and reranked@1 need.

Pairs compare texts, so duplicate completions (common at low temperature) give one pair, not many.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.records import Candidate, Pair, ScoredCandidate, Verdict

DEFAULT_MAX_PAIRS_PER_TASK = 16

# A sandbox failure says nothing about the candidate, so it is neither chosen nor rejected.
UNINFORMATIVE = ("sandbox_error",)


@dataclass
class LabelledTask:
    """One task's distinct completions with whether each passed its tests."""

    task_id: str
    language: str
    prompt: str
    completions: list[str]
    passed: list[bool]
    # Per completion: the generator's (log-prob sum, tokens), or None where unknown.
    logprobs: list[Optional[tuple[float, int]]] = field(default_factory=list)

    def logprobs_of(self, completion: str) -> tuple[float, int] | None:
        if len(self.logprobs) != len(self.completions):
            return None
        return self.logprobs[self.completions.index(completion)]

    @property
    def mixed(self) -> bool:
        """Some pass and some fail: the only tasks where a reranker's choice matters."""
        return any(self.passed) and not all(self.passed)


def verdict_index(verdicts: Iterable[Verdict]) -> dict[tuple[str, int], Verdict]:
    """Verdicts keyed by (task_id, sample_id)."""
    return {(v.task_id, v.sample_id): v for v in verdicts}


def _task_rng(task_id: str, seed: int) -> random.Random:
    # Seeded per task so a task's pairs do not change when other tasks are added or removed.
    digest = hashlib.sha256(f"{seed}\0{task_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def labelled_tasks(candidates: Iterable[Candidate], verdicts: Iterable[Verdict] | dict) -> list[LabelledTask]:
    """Group candidates by task (in first-seen order) with pass flags from their verdicts.

    Candidates without a verdict, or with an uninformative one, are left out; a completion that
    occurs twice is kept once (with the first verdict seen for it).
    """
    index = verdicts if isinstance(verdicts, dict) else verdict_index(verdicts)
    groups: dict[str, LabelledTask] = {}
    seen: set[tuple[str, str]] = set()
    for candidate in candidates:
        verdict = index.get(candidate.key)
        if verdict is None or verdict.status in UNINFORMATIVE:
            continue
        if (candidate.task_id, candidate.completion) in seen:
            continue
        seen.add((candidate.task_id, candidate.completion))
        group = groups.setdefault(candidate.task_id, LabelledTask(
            candidate.task_id, candidate.language, candidate.prompt, [], []))
        group.completions.append(candidate.completion)
        group.passed.append(verdict.passed)
        group.logprobs.append(candidate.logprobs)
    return list(groups.values())


def labelled_from_pairs(pairs: Iterable[Pair]) -> list[LabelledTask]:
    """Rebuild per-task labelled completions from pairs (chosen passed, rejected failed)."""
    groups: dict[str, LabelledTask] = {}
    for pair in pairs:
        group = groups.setdefault(pair.task_id, LabelledTask(pair.task_id, pair.language, pair.prompt, [], []))
        for text, ok, logprobs in ((pair.chosen, True, pair_logprobs(pair, "chosen")),
                                   (pair.rejected, False, pair_logprobs(pair, "rejected"))):
            if text not in group.completions:
                group.completions.append(text)
                group.passed.append(ok)
                group.logprobs.append(logprobs)
    return list(groups.values())


def pair_logprobs(pair: Pair, side: str) -> tuple[float, int] | None:
    """The generator's (log-prob sum, tokens) of one side ("chosen" or "rejected") of a pair."""
    total, tokens = getattr(pair, f"{side}_logprob_sum"), getattr(pair, f"{side}_n_tokens")
    return (float(total), int(tokens)) if total is not None and tokens else None


def make_pair(task_id: str, language: str, prompt: str, chosen: str, rejected: str, kind: str, iteration: int,
              logprobs: dict[str, tuple[float, int] | None]) -> Pair:
    """A pair carrying both sides' generator log-probs from `logprobs` (completion -> (sum, tokens))."""
    sides = {}
    for side, text in (("chosen", chosen), ("rejected", rejected)):
        known = logprobs.get(text)
        sides[f"{side}_logprob_sum"], sides[f"{side}_n_tokens"] = known if known else (None, None)
    return Pair(task_id, language, prompt, chosen, rejected, kind_=kind, iteration=iteration, **sides)


def _capped(pairs: list[tuple[str, str]], cap: int | None, rng: random.Random) -> list[tuple[str, str]]:
    if cap is None or len(pairs) <= cap:
        return pairs
    # Round-robin over chosen texts after a shuffle, so a cap keeps every passing text represented
    # rather than all pairs of the first one.
    rng.shuffle(pairs)
    by_chosen: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        by_chosen.setdefault(pair[0], []).append(pair)
    out: list[tuple[str, str]] = []
    while len(out) < cap:
        for queue in by_chosen.values():
            if queue and len(out) < cap:
                out.append(queue.pop())
    return out


def pairs_for_task(task: LabelledTask, max_per_task: int | None = DEFAULT_MAX_PAIRS_PER_TASK,
                   iteration: int = 0, seed: int = 0) -> list[Pair]:
    """Each passing completion over each failing one, at most `max_per_task` of them."""
    chosen = [text for text, ok in zip(task.completions, task.passed) if ok]
    rejected = [text for text, ok in zip(task.completions, task.passed) if not ok]
    combos = [(c, r) for c in chosen for r in rejected if c != r]
    combos = _capped(combos, max_per_task, _task_rng(task.task_id, seed))
    logprobs = dict(zip(task.completions, task.logprobs))
    return [make_pair(task.task_id, task.language, task.prompt, c, r, "standard", iteration, logprobs)
            for c, r in combos]


def build_pairs(candidates: Iterable[Candidate], verdicts: Iterable[Verdict],
                max_per_task: int | None = DEFAULT_MAX_PAIRS_PER_TASK, iteration: int = 0,
                seed: int = 0) -> list[Pair]:
    """Standard pairs from executed candidates: within each task, passing over failing, capped."""
    if max_per_task is not None and max_per_task < 1:
        raise RrrError(f"max pairs per task must be at least 1 (got {max_per_task})")
    out: list[Pair] = []
    for task in labelled_tasks(candidates, verdicts):
        out.extend(pairs_for_task(task, max_per_task, iteration, seed))
    return out


def mine_hard_negatives(scored: Iterable[ScoredCandidate], verdicts: Iterable[Verdict], top_k: int = 1,
                        max_per_task: int | None = DEFAULT_MAX_PAIRS_PER_TASK, iteration: int = 0,
                        seed: int = 0) -> list[Pair]:
    """Failing candidates the reranker likes: scored at or above the task's best passing candidate,
    or ranked in the task's top `top_k`. Each is paired with the task's passing completions
    (`kind` "hard_negative"); a task with no passing candidate gives no pairs.

    Ranks are recomputed from scores within each task, so the input need not carry `rank`.
    """
    if top_k < 0:
        raise RrrError(f"top-k must be >= 0 (got {top_k})")
    index = verdict_index(verdicts)
    groups: dict[str, list[tuple[ScoredCandidate, bool]]] = {}
    for candidate in scored:
        verdict = index.get(candidate.key)
        if verdict is None or verdict.status in UNINFORMATIVE:
            continue
        groups.setdefault(candidate.task_id, []).append((candidate, verdict.passed))
    out: list[Pair] = []
    for task_id, members in groups.items():
        members.sort(key=lambda item: -item[0].score)
        passing = list(dict.fromkeys(c.completion for c, ok in members if ok))
        if not passing:
            continue
        best_passing = max(c.score for c, ok in members if ok)
        hard = []
        for position, (candidate, ok) in enumerate(members, start=1):
            if not ok and (candidate.score >= best_passing or position <= top_k):
                hard.append(candidate.completion)
        hard = [text for text in dict.fromkeys(hard) if text not in passing]
        first = members[0][0]
        combos = _capped([(c, r) for r in hard for c in passing], max_per_task, _task_rng(task_id, seed))
        logprobs = {}
        for candidate, _ in members:
            logprobs.setdefault(candidate.completion, candidate.logprobs)
        out.extend(make_pair(task_id, first.language, first.prompt, c, r, "hard_negative", iteration, logprobs)
                   for c, r in combos)
    return out


def dedupe_pairs(pairs: Iterable[Pair]) -> list[Pair]:
    """Pairs with the same (task, chosen, rejected) kept once: the first one seen wins, so merging
    an older pair set with newly mined pairs keeps the older records."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Pair] = []
    for pair in pairs:
        key = (pair.task_id, pair.chosen, pair.rejected)
        if key not in seen:
            seen.add(key)
            out.append(pair)
    return out


def split_by_task(items: Sequence, fraction: float, seed: int = 0, task_of=lambda item: item.task_id):
    """(train, held-out) split of whole tasks: a task's items all land on the same side.

    The held-out side gets round(fraction * tasks) tasks (at least one when fraction > 0 and there are
    two or more tasks), picked by a seeded hash of the task id, so the split is stable across runs.
    """
    if not 0 <= fraction < 1:
        raise RrrError(f"validation fraction must be in [0, 1) (got {fraction})")
    task_ids = list(dict.fromkeys(task_of(item) for item in items))
    held = round(fraction * len(task_ids))
    if fraction > 0 and held == 0 and len(task_ids) >= 2:
        held = 1
    order = sorted(task_ids, key=lambda t: hashlib.sha256(f"{seed}\0{t}".encode()).hexdigest())
    held_out = set(order[:held])
    return ([item for item in items if task_of(item) not in held_out],
            [item for item in items if task_of(item) in held_out])
