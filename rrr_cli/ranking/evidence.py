"""What running a candidate showed, as numbers a learned reranker can read next to its text.

For each candidate of a task, from the prompt's examples and the consensus probes (both run in the
sandbox, never the hidden tests; the verdict cache keeps every run, so scoring again costs nothing):

| input | value |
| --- | --- |
| `examples_passed` | share of the prompt's examples it passes (0 when the prompt has none) |
| `no_examples` | 1 when the prompt has no examples (the two inputs above then say nothing) |
| `builds` | 1 when the program builds and loads |
| `group_share` | the share of the task's candidates that behave as it does on the probes |
| `biggest_group` | 1 when its behaviour group is the biggest working one (ties: every such group) |
| `probe_failures` | share of the probes it errors or times out on |

Computed by one `consensus` run per task (which runs the examples too), so `rrr train-reranker`,
`rrr rerank`, `rrr solve` and `rrr eval` read the same inputs for the same candidates. Probes come
from the examples and their mutations, and also from the generator's calls when a `GeneratedProbes`
is given (training and scoring must agree on that: the reranker's manifest says which).
"""

from __future__ import annotations

from typing import Sequence

from rrr_cli.ranking.consensus import ConsensusScorer
from rrr_cli.ranking.probe_cache import GeneratedProbes
from rrr_cli.records import Candidate, Task

EVIDENCE_NAMES = ("examples_passed", "no_examples", "builds", "group_share", "biggest_group", "probe_failures")
EVIDENCE_INPUTS = len(EVIDENCE_NAMES)


class Evidence:
    """Evidence rows for groups of candidates, one consensus run per task (see the module docstring)."""

    def __init__(self, generator: GeneratedProbes | None = None, consensus: ConsensusScorer | None = None):
        self.consensus = consensus or ConsensusScorer(generator=generator)

    @property
    def probes(self) -> str:
        return "examples+mutations+generated" if self.consensus.generator else "examples+mutations"

    def rows(self, groups: Sequence[tuple[Task, Sequence[Candidate]]]) -> list[list[list[float]]]:
        """Per group, per candidate (in order), the `EVIDENCE_NAMES` values."""
        self.consensus.score_many(groups)
        return [self._task_rows(task, candidates) for task, candidates in groups]

    def _task_rows(self, task: Task, candidates: Sequence[Candidate]) -> list[list[float]]:
        seen = self.consensus.results[task.task_id]
        of = {member: group for group in seen.groups for member in group.members}
        working = [group.size for group in seen.groups if not group.broken]
        biggest = max(working, default=0)
        n = max(len(candidates), 1)
        rows = []
        for candidate in candidates:
            outcome = self.consensus.examples.outcomes[(task.task_id, candidate.sample_id)]
            group = of[candidate.sample_id]
            failures = sum(key.startswith("<") for key in group.key) / len(group.key) if group.key else 0.0
            rows.append([
                outcome.passed / outcome.total if outcome.total else 0.0,
                0.0 if outcome.total else 1.0,
                1.0 if outcome.builds or (outcome.total and outcome.passed) else 0.0,
                0.0 if group.broken else group.size / n,
                1.0 if not group.broken and group.size == biggest else 0.0,
                failures,
            ])
        return rows


def evidence_rows(groups: Sequence[tuple[Task, Sequence[Candidate]]],
                  generator: GeneratedProbes | None = None) -> list[list[list[float]]]:
    """`Evidence(generator).rows(groups)`."""
    return Evidence(generator).rows(groups)


__all__ = ["Evidence", "evidence_rows", "EVIDENCE_NAMES", "EVIDENCE_INPUTS"]
