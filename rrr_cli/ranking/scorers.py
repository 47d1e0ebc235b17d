"""The scorers behind `rrr solve`, `rrr rerank` and `rrr eval` (their registry: `ranking.registry`).

- `random`: a seeded random score per candidate (the baseline every reranker must beat).
- `mean_logprob`: the generator's mean token log-probability (its own confidence).
- `public_examples`: CodeT-style; each `>>>` example in the prompt is run against each candidate
  (one program per candidate and example, in the sandbox); the score is the share of examples
  passed, ties broken by mean log-prob. A task with no examples falls back to "the candidate's
  program builds and loads" (one program with the test harness emptied), ties again by log-prob.
  The programs' tails come from `tasks.examples.example_checks`.
- `weighted`: a weighted sum of other scorers' scores, each min-max normalised within the task.

The consensus scorer (`ranking.consensus`) and the learned reranker (`ranking.reward`) build on these.
Every scorer maps (task, candidates) to one float per candidate, higher is better, and `rank()` in
`rrr_cli.ranking` turns that into a choice, so the same scorer picks the same candidate everywhere.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.execution import run_programs
from rrr_cli.execution.runner import assemble
# BatchScorer: re-exported, its old home (every Scorer batches now).
from rrr_cli.ranking.base import BatchScorer, Scorer, score_many
from rrr_cli.records import Candidate, Task
# ExampleChecks, example_checks: re-exported, their old home (they moved to `tasks.examples`).
from rrr_cli.tasks.examples import ExampleChecks, example_checks

# The log-prob tie-break is scaled so it can never outweigh one example: with at most 100 examples
# a task's pass fractions differ by at least 0.01, far above this weight times exp(mean log-prob) <= 1.
TIE_BREAK_WEIGHT = 1e-3

Runner = Callable[[list[tuple[str, str]]], list[Any]]


def _logprob(candidate: Candidate) -> float:
    value = candidate.mean_logprob
    if value is None and candidate.logprob_sum is not None and candidate.n_tokens:
        value = candidate.logprob_sum / candidate.n_tokens
    return float(value) if value is not None and math.isfinite(value) else -math.inf


class RandomScorer(Scorer):
    """A random score per candidate, fixed by (seed, task, sample): the same pick on every run."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    @property
    def cache_key(self) -> str:
        return f"{self.name}-seed{self.seed}"

    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        scores = []
        for candidate in candidates:
            digest = hashlib.sha256(f"{self.seed}\0{task.task_id}\0{candidate.sample_id}".encode()).digest()
            scores.append(int.from_bytes(digest[:8], "big") / 2**64)
        return scores


class MeanLogprobScorer(Scorer):
    """The generator's mean token log-probability; a candidate without one ranks last."""

    name = "mean_logprob"

    @property
    def cache_key(self) -> str:
        return self.name

    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        return [_logprob(candidate) for candidate in candidates]


# --- public examples ------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExampleOutcome:
    """How one candidate did on its task's public examples (or on the build check)."""

    passed: int
    total: int  # 0 in the fallback, where `builds` says whether the program built and loaded
    builds: bool | None = None

    @property
    def fraction(self) -> float:
        if self.total:
            return self.passed / self.total
        return 1.0 if self.builds else 0.0

    def describe(self) -> str:
        if self.total:
            return f"{self.passed}/{self.total} examples"
        return "builds" if self.builds else "does not build"

    def to_dict(self) -> dict[str, Any]:
        return {"examples_passed": self.passed, "examples_total": self.total, "builds": self.builds}


def _default_runner(jobs: list[tuple[str, str]]) -> list[Any]:
    return run_programs(jobs)


def _status(result: Any) -> str:
    return result.status if hasattr(result, "status") else result["status"]


class PublicExamplesScorer(Scorer):
    """CodeT-style: the share of the prompt's `>>>` examples a candidate passes, ties by log-prob.

    `outcomes` keeps the last `ExampleOutcome` of every (task_id, sample_id) scored, so `rrr solve`
    can show how each candidate did.
    """

    name = "public_examples"
    # `rrr eval` keeps scores under this name: bump the version when the checks change
    # (2: a Bash build check runs `:` where the harness's assertions were, and a newline goes between a
    # completion cut at a stop string and the check, as before the hidden tests; 3: an expected result
    # ends where its brackets close, not at the next blank comment line; 4: a check passes only with the
    # proof that it ran to its end, see `Language.tests_done`).
    cache_key = "public_examples-v4"

    def __init__(self, runner: Runner | None = None):
        self.runner = runner or _default_runner
        self.outcomes: dict[tuple[str, int], ExampleOutcome] = {}

    def examples_passed(self, task: Task, candidates: Sequence[Candidate]) -> list[ExampleOutcome]:
        """Run the examples and return each candidate's outcome (in order)."""
        self.score(task, candidates)
        return [self.outcomes[(task.task_id, c.sample_id)] for c in candidates]

    def score_many(self, groups: Sequence[tuple[Task, Sequence[Candidate]]],
                   progress: Callable[[int], None] | None = None) -> list[list[float]]:
        # Identical programs (duplicate samples are common) run once.
        programs: dict[tuple[str, str], int] = {}
        plan: list[tuple[ExampleChecks, list[list[int]]]] = []
        for task, candidates in groups:
            checks = example_checks(task)
            rows = []
            for candidate in candidates:
                row = []
                for tail in checks.tails:
                    key = (task.language, assemble(task, candidate.completion, tail))
                    row.append(programs.setdefault(key, len(programs)))
                rows.append(row)
            plan.append((checks, rows))
        jobs = list(programs)
        results = self.runner(jobs) if jobs else []
        if len(results) != len(jobs):
            raise RrrError(f"the sandbox returned {len(results)} results for {len(jobs)} programs")
        ok = [_status(result) == "passed" for result in results]
        out = []
        for (task, candidates), (checks, rows) in zip(groups, plan):
            scores = []
            for candidate, row in zip(candidates, rows):
                passed = sum(ok[index] for index in row)
                if checks.fallback:
                    outcome = ExampleOutcome(0, 0, builds=bool(passed))
                else:
                    outcome = ExampleOutcome(passed, len(row))
                self.outcomes[(task.task_id, candidate.sample_id)] = outcome
                logprob = _logprob(candidate)
                tie = math.exp(logprob) if logprob > -math.inf else 0.0
                scores.append(outcome.fraction + TIE_BREAK_WEIGHT * tie)
            out.append(scores)
            if progress:
                progress(1)
        return out


# --- weighted combination -------------------------------------------------------------------------

def _normalised(scores: list[float]) -> list[float]:
    """Min-max to [0, 1] within a task; all-equal scores (or none finite) become 0.5."""
    finite = [s for s in scores if math.isfinite(s)]
    if not finite or max(finite) == min(finite):
        return [0.5 if math.isfinite(s) or not finite else 0.0 for s in scores]
    low, high = min(finite), max(finite)
    return [(s - low) / (high - low) if math.isfinite(s) else 0.0 for s in scores]


class WeightedScorer(Scorer):
    """sum_i w_i * normalise(scorer_i): each part min-max normalised within the task first, so the
    weights compare like with like."""

    def __init__(self, parts: Sequence[tuple[Scorer, float]]):
        if not parts:
            raise RrrError("a weighted scorer needs at least one part, e.g. weighted:public_examples=1,mean_logprob=0.5")
        self.parts = list(parts)
        self.name = "weighted(" + ",".join(f"{s.name}={w:g}" for s, w in self.parts) + ")"

    @property
    def cache_key(self) -> str | None:
        """Its name, which names every part and weight, when every part's scores are kept (else None)."""
        return self.name if all(part.cache_key is not None for part, _ in self.parts) else None

    def score_many(self, groups: Sequence[tuple[Task, Sequence[Candidate]]],
                   progress: Callable[[int], None] | None = None) -> list[list[float]]:
        totals = [[0.0] * len(candidates) for _, candidates in groups]
        for scorer, weight in self.parts:
            for total, scores in zip(totals, score_many(scorer, groups)):
                for i, value in enumerate(_normalised(list(scores))):
                    total[i] += weight * value
        if progress:
            progress(len(groups))
        return totals


__all__ = ["RandomScorer", "MeanLogprobScorer", "PublicExamplesScorer", "WeightedScorer", "ExampleOutcome",
           "Runner", "TIE_BREAK_WEIGHT", "Scorer", "BatchScorer", "score_many", "ExampleChecks", "example_checks"]
