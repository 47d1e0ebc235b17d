"""The consensus scorer: pick the candidate whose behaviour the others share and the examples confirm.

Every candidate runs once on the task's probes (`ranking.probe_inputs`: the examples' inputs,
type-preserving mutations of them and, given a backend, calls the model writes; one program per
candidate, `execution.probes.run_probes_many`), and candidates with the same outputs on every probe
form a behaviour group. How each candidate does on the prompt's examples comes from the
`public_examples` scorer (its runs are cached, so nothing runs twice).

Two ways to combine the evidence, after the published baselines:

- `consensus-dual` (CodeT's dual agreement): group size × examples the group passes; a big group that
  passes some examples can beat a small one that passes all. With no examples, the group size alone.
- `consensus-mbr` (MBR-exec's agreement, under the examples): examples passed first; among candidates
  that pass as many, the one with the most others sharing its outputs.

`consensus` is `consensus-mbr` (`DEFAULT_VARIANT`). On the quick check (the first 10 HumanEval-Python
and 5 humaneval-cpp tasks, 8 candidates from the default model) both variants picked as
`public_examples` did on every task, so nothing was measured between them; mbr is the default because
agreement there never outvotes the examples. In both, a candidate that does not build, or errors or
times out on most of the probes some candidate can run, ranks last, and ties go to the higher mean
log-prob.

Groups compare outputs with every failure of a kind alike (`<error>`, `<timeout>`, not which
exception): two correct candidates that reject an input outside the task's domain with different
exceptions still agree. A probe no candidate can run says nothing and is dropped (from the grouping
and from `Consensus.probes`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import languages
from rrr_cli.execution.probes import ProbeOutput, entry_point, run_probes_many
from rrr_cli.generation.base import Backend
from rrr_cli.ranking.base import Scorer
from rrr_cli.ranking.probe_cache import GeneratedProbes
from rrr_cli.ranking.probe_inputs import MAX_PROBES, Probe, probe_inputs
from rrr_cli.ranking.scorers import ExampleOutcome, PublicExamplesScorer, Runner, _logprob
from rrr_cli.records import Candidate, Task

VARIANTS = ("dual", "mbr")
DEFAULT_VARIANT = "mbr"
TIE_BREAK_WEIGHT = 1e-3
# Part of the scores' cache key (`rrr eval` keeps scores per scorer): bump it when probes or scores change.
VERSION = 5
BROKEN_SCORE = -1.0

ProbeRunner = Callable[[list[tuple[Task, Candidate, Sequence[str]]]], list[list[ProbeOutput]]]


@dataclass
class Group:
    """Candidates with the same outputs on the probes (`outputs`: the first member's, with error kinds)."""

    members: list[int]  # sample ids, in the order they were scored
    outputs: list[str]
    examples_passed: int
    broken: bool
    key: tuple[str, ...] = field(default=(), repr=False)  # what the grouping compared, per probe

    @property
    def size(self) -> int:
        return len(self.members)

    def to_dict(self) -> dict[str, Any]:
        return {"members": self.members, "size": self.size, "outputs": self.outputs,
                "examples_passed": self.examples_passed, "broken": self.broken}


@dataclass
class Split:
    """The first probe on which the two biggest groups differ, and what each returns there."""

    probe: Probe
    call: str  # the call as a user would write it, e.g. `f([3, 1])`
    sides: list[tuple[int, str]]  # (candidates, output) for the bigger group, then the other

    def describe(self) -> str:
        (big, first), (small, second) = self.sides
        return f"on `{self.call}`: {_says(big, first, True)}, {_says(small, second, False)}"

    def to_dict(self) -> dict[str, Any]:
        return {"probe": self.probe.to_dict(), "call": self.call,
                "sides": [{"candidates": count, "output": output} for count, output in self.sides]}


@dataclass
class Consensus:
    """What the consensus scorer saw on one task: its probes and the behaviour groups, biggest first."""

    task_id: str
    call_name: str
    language: str
    probes: list[Probe]
    groups: list[Group] = field(default_factory=list)
    examples_total: int = 0

    def split(self) -> Split | None:
        """Where the two biggest groups (the working ones, if two work) part; None with one group."""
        working = [group for group in self.groups if not group.broken]
        pair = (working if len(working) >= 2 else self.groups)[:2]
        if len(pair) < 2:
            return None
        first, second = pair
        for index, probe in enumerate(self.probes):
            if (first.key or first.outputs)[index] != (second.key or second.outputs)[index]:
                return Split(probe, _call(self.language, self.call_name, probe.input),
                             [(first.size, first.outputs[index]), (second.size, second.outputs[index])])
        return None

    def to_dict(self) -> dict[str, Any]:
        split = self.split()
        return {"probes": [probe.to_dict() for probe in self.probes],
                "groups": [group.to_dict() for group in self.groups],
                "split": split.to_dict() if split else None}


def _says(count: int, output: str, first: bool) -> str:
    """`5 candidates return `[1, 3]``; the noun only on the first side, as a person would say it."""
    noun = (" candidate" if count == 1 else " candidates") if first else ""
    verb = "return" if not output.startswith("<") else "fail with"
    if count == 1:
        verb = "returns" if verb == "return" else "fails with"
    return f"{count}{noun} {verb} `{output}`"


def _call(language: str, name: str, arguments: str) -> str:
    """The call as a person is shown it: the language's `call_shown` (`f(x)`; bash's `f x`), or
    `f(x)` for a language not installed here."""
    spec = languages().get(language)
    return spec.write_call(name, arguments, shown=True) if spec else f"{name}({arguments})"


def _credit(outcome: ExampleOutcome) -> int:
    """Examples passed; for a task without examples, 1 when the program builds (so a task with no
    examples still finds the probes that build on a candidate that does)."""
    return outcome.passed if outcome.total else int(bool(outcome.builds))


def _key(output: ProbeOutput) -> str:
    return output.value if output.status == "ok" else f"<{output.status}>"


def _default_probe_runner(jobs: list[tuple[Task, Candidate, Sequence[str]]]) -> list[list[ProbeOutput]]:
    return run_probes_many(jobs)


class ConsensusScorer(Scorer):
    """Behavioural consensus over probes, combined with the prompt's examples (see the module docstring).

    `last` is the `Consensus` of the last task scored and `results` every task's, so `rrr solve` can
    show where the candidates part. With a `generator` (`GeneratedProbes`, or a `backend` to ask), each
    task also gets probes the model writes (one short generation per task, kept on disk per model);
    without one, examples and mutations only.
    """

    def __init__(self, variant: str = DEFAULT_VARIANT, runner: Runner | None = None,
                 probe_runner: ProbeRunner | None = None, limit: int = MAX_PROBES, name: str | None = None,
                 backend: Backend | None = None, generator: GeneratedProbes | None = None):
        if variant not in VARIANTS:
            raise ValueError(f"unknown consensus variant {variant!r} (known: {', '.join(VARIANTS)})")
        self.variant = variant
        self.name = name or f"consensus-{variant}"
        self.examples = PublicExamplesScorer(runner=runner)
        self.probe_runner = probe_runner or _default_probe_runner
        self.limit = limit
        if generator is None and backend is not None:
            generator = GeneratedProbes(getattr(backend, "model_name", "") or "model", backend=backend)
        self.generator = generator
        self.results: dict[str, Consensus] = {}
        self.last: Consensus | None = None

    @property
    def cache_key(self) -> str:
        """Everything its scores depend on besides the candidates: `rrr eval` resumes from scores kept
        under this name."""
        model = f"-generated-by-{self.generator.model}" if self.generator else ""
        return f"consensus-{self.variant}-v{VERSION}-probes{self.limit}{model}"

    def score_many(self, groups: Sequence[tuple[Task, Sequence[Candidate]]],
                   progress: Callable[[int], None] | None = None) -> list[list[float]]:
        self.examples.score_many(groups)
        outcomes = [[self.examples.outcomes[(task.task_id, c.sample_id)] for c in candidates]
                    for task, candidates in groups]
        if self.generator:
            self.generator.prefetch([task for task, _ in groups])
        probes = [probe_inputs(task, self._generated(task), limit=self.limit) for task, _ in groups]
        rows = self._run(groups, probes)
        # In a compiled language one ill-typed probe stops the whole program from building, for every
        # candidate. Where no candidate ran any probe, find the probes that build on the candidate that
        # passes the most examples (or, without examples, one that builds; one program per probe) and
        # run everyone again on those alone. (The model's calls for C++'s HumanEval/41 include
        # `long n`, its signature's parameter, which took every probe down.)
        retry = [i for i, task_rows in enumerate(rows) if len(probes[i]) > 1
                 and not any(output.status == "ok" for row in task_rows for output in row)
                 and max((_credit(o) for o in outcomes[i]), default=0) > 0]
        if retry:
            best = {i: max(range(len(outcomes[i])), key=lambda j: _credit(outcomes[i][j])) for i in retry}
            alone = self.probe_runner([(groups[i][0], groups[i][1][best[i]], [probe.input]) for i in retry
                                       for probe in probes[i]])
            alone_rows = iter(alone)
            for i in retry:
                works = [probe for probe in probes[i] if next(alone_rows)[0].status == "ok"]
                if works:
                    probes[i] = works
            again = self._run([groups[i] for i in retry], [probes[i] for i in retry])
            for i, task_rows in zip(retry, again):
                rows[i] = task_rows
        out = []
        for (task, candidates), task_probes, task_rows, task_outcomes in zip(groups, probes, rows, outcomes):
            scores, consensus = self._score_task(task, candidates, task_probes, task_rows, task_outcomes)
            self.results[task.task_id] = self.last = consensus
            out.append(scores)
            if progress:
                progress(1)
        return out

    def _run(self, groups: Sequence[tuple[Task, Sequence[Candidate]]],
             probes: list[list[Probe]]) -> list[list[list[ProbeOutput]]]:
        """Every candidate on its task's probes, one program each: per task, per candidate, per probe."""
        jobs = [(task, candidate, [probe.input for probe in task_probes])
                for (task, candidates), task_probes in zip(groups, probes) if task_probes
                for candidate in candidates]
        outputs = iter(self.probe_runner(jobs) if jobs else [])
        return [[next(outputs) for _ in candidates] if task_probes else [[] for _ in candidates]
                for (_, candidates), task_probes in zip(groups, probes)]

    def _generated(self, task: Task) -> list[str]:
        return self.generator.inputs(task) if self.generator else []

    def _score_task(self, task: Task, candidates: Sequence[Candidate], probes: list[Probe],
                    rows: list[list[ProbeOutput]], outcomes: list[ExampleOutcome]) -> tuple[list[float], Consensus]:
        # Only probes some candidate can run say anything about behaviour.
        valid = [i for i in range(len(probes)) if any(row[i].status == "ok" for row in rows)]
        keys = [tuple(_key(row[i]) for i in valid) for row in rows]
        broken = []
        for row, outcome in zip(rows, outcomes):
            works = sum(row[i].status == "ok" for i in valid)
            broken.append((outcome.total == 0 and not outcome.builds) or (bool(valid) and 2 * works < len(valid)))
        passed = [outcome.passed if outcome.total else int(bool(outcome.builds)) for outcome in outcomes]
        members: dict[tuple[str, ...], list[int]] = {}
        for index, key in enumerate(keys):
            members.setdefault(key, []).append(index)
        size = {key: len(indices) for key, indices in members.items()}
        group_passed = {key: max(passed[i] for i in indices) for key, indices in members.items()}
        n = len(candidates)
        scores = []
        for index, candidate in enumerate(candidates):
            logprob = _logprob(candidate)
            tie = TIE_BREAK_WEIGHT * (math.exp(logprob) if logprob > -math.inf else 0.0) / (n + 1)
            key = keys[index]
            if broken[index]:
                primary = BROKEN_SCORE
            elif self.variant == "dual":
                primary = float(size[key] * group_passed[key])
            else:
                primary = passed[index] + size[key] / (n + 1)
            scores.append(primary + tie)
        ordered = sorted(members.items(), key=lambda item: (all(broken[i] for i in item[1]), -len(item[1]),
                                                           item[1][0]))
        consensus = Consensus(
            task.task_id, _entry(task), task.language, [probes[p] for p in valid],
            [Group([candidates[i].sample_id for i in indices], [rows[indices[0]][p].signature for p in valid],
                   group_passed[key], all(broken[i] for i in indices), key) for key, indices in ordered],
            examples_total=max((o.total for o in outcomes), default=0))
        return scores, consensus


def _entry(task: Task) -> str:
    try:
        return entry_point(task)
    except RrrError:  # only the split's wording needs the name
        return "f"


def consensus_scorer(variant: str | None = None, runner: Runner | None = None) -> ConsensusScorer:
    """What the registry's factories build (`ranking.registry`): `consensus` (the default variant),
    `consensus-dual`, `consensus-mbr`."""
    return ConsensusScorer(variant or DEFAULT_VARIANT, runner=runner,
                           name=None if variant else "consensus")


__all__ = ["ConsensusScorer", "Consensus", "Group", "Split", "consensus_scorer", "VARIANTS", "DEFAULT_VARIANT"]
