"""The scorers behind `rrr solve`, `rrr rerank` and `rrr eval`, and their registry.

- `random`: a seeded random score per candidate (the baseline every reranker must beat).
- `mean_logprob`: the generator's mean token log-probability (its own confidence).
- `public_examples`: CodeT-style; each `>>>` example in the prompt is run against each candidate
  (one program per candidate and example, in the sandbox); the score is the share of examples
  passed, ties broken by mean log-prob. A task with no examples falls back to "the candidate's
  program builds and loads" (one program with the test harness emptied), ties again by log-prob.
- `weighted`: a weighted sum of other scorers' scores, each min-max normalised within the task.
- `reranker`: the learned reward model (`rrr_cli.ranking.reward`, when it exists).

Every scorer maps (task, candidates) to one float per candidate, higher is better, and `rank()` in
`rrr_cli.ranking` turns that into a choice, so the same scorer picks the same candidate everywhere.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import math
import re
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from rrr_cli import plugins
from rrr_cli.brackets import expression_end
from rrr_cli.errors import RrrError
from rrr_cli.execution.languages import get_language
from rrr_cli.execution.runner import assemble
from rrr_cli.ranking import Scorer
from rrr_cli.records import Candidate, Task
from rrr_cli.tasks.examples import Example, extract_examples, python_example_check

# The log-prob tie-break is scaled so it can never outweigh one example: with at most 100 examples
# a task's pass fractions differ by at least 0.01, far above this weight times exp(mean log-prob) <= 1.
TIE_BREAK_WEIGHT = 1e-3

Runner = Callable[[list[tuple[str, str]]], list[Any]]


def _logprob(candidate: Candidate) -> float:
    value = candidate.mean_logprob
    if value is None and candidate.logprob_sum is not None and candidate.n_tokens:
        value = candidate.logprob_sum / candidate.n_tokens
    return float(value) if value is not None and math.isfinite(value) else -math.inf


class BatchScorer(Scorer):
    """A scorer that can also score many tasks at once (so sandbox runs can go in parallel)."""

    def score_many(self, groups: Sequence[tuple[Task, Sequence[Candidate]]],
                   progress: Callable[[int], None] | None = None) -> list[list[float]]:
        out = []
        for task, candidates in groups:
            out.append(self.score(task, candidates))
            if progress:
                progress(1)
        return out


def score_many(scorer: Scorer, groups: Sequence[tuple[Task, Sequence[Candidate]]],
               progress: Callable[[int], None] | None = None) -> list[list[float]]:
    """Scores for several tasks with any scorer; batches where the scorer can."""
    if isinstance(scorer, BatchScorer):
        return scorer.score_many(groups, progress)
    out = []
    for task, candidates in groups:
        out.append(list(scorer.score(task, candidates)))
        if progress:
            progress(1)
    return out


class RandomScorer(BatchScorer):
    """A random score per candidate, fixed by (seed, task, sample): the same pick on every run."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        scores = []
        for candidate in candidates:
            digest = hashlib.sha256(f"{self.seed}\0{task.task_id}\0{candidate.sample_id}".encode()).digest()
            scores.append(int.from_bytes(digest[:8], "big") / 2**64)
        return scores


class MeanLogprobScorer(BatchScorer):
    """The generator's mean token log-probability; a candidate without one ranks last."""

    name = "mean_logprob"

    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        return [_logprob(candidate) for candidate in candidates]


# --- public examples ------------------------------------------------------------------------------

def _assertion(language: str) -> re.Pattern[str] | None:
    """The line of a MultiPL-E test harness that asserts one case: the language's `assertion_line`."""
    pattern = get_language(language).assertion_line
    return re.compile(pattern) if pattern else None


@dataclass(frozen=True)
class AssertionTemplate:
    """One test line of the task's harness cut around its call and its expected value."""

    head: str  # everything up to the callee's name, e.g. "    assert("
    callee: str  # the name the harness calls: `candidate` or the function's own name
    separator: str  # between the call and the expected value, e.g. " == " or ".equals("
    tail: str  # after the expected value, e.g. ");"

    def render(self, example: Example) -> str:
        call = re.sub(r"^\s*[A-Za-z_$][\w$]*", self.callee, example.call.strip(), count=1)
        expected = " ".join(line.strip() for line in example.expected.splitlines())
        return f"{self.head}{call}{self.separator}{expected}{self.tail}"


def _template(language: str, line: str) -> AssertionTemplate | None:
    if get_language(language).call_style == "command":
        match = re.match(r"^(\s*\[\[\s+\$\()(\w+)(.*)\)\s+=\s+(.*?)(\s*\]\])\s*$", line)
        if not match:
            return None
        head, callee = match.group(1)[:-2], match.group(2)
        # The example's call is the whole `$(name args)`; rename inside it.
        return _CommandTemplate(head=head, callee=callee, separator=" = ", tail=match.group(5))
    pattern = _assertion(language)
    match = pattern.match(line) if pattern else None
    call = re.compile(r"[A-Za-z_$][\w$]*\s*\(").search(line, match.end()) if match else None
    if not call:
        return None
    callee = call.group(0).rstrip("(").strip()
    call_end = expression_end(line, call.end())
    if call_end is None or call_end >= len(line):
        return None
    rest_start = call_end + 1
    separator = re.match(r"\s*(?:===|!==|==|!=|,|\.(?:equals|Equals|SequenceEqual)\()\s*", line[rest_start:])
    if not separator:
        return None
    expected_start = rest_start + separator.end()
    expected_end = expression_end(line, expected_start)
    if expected_end is None or expected_end == expected_start:
        return None
    return AssertionTemplate(head=line[: call.start()], callee=callee, separator=separator.group(0),
                             tail=line[expected_end:])


class _CommandTemplate(AssertionTemplate):
    """A harness line whose call is a command substitution, `[[ $(name args) = expected ]]` (bash)."""

    def render(self, example: Example) -> str:
        call = example.call.strip()
        call = re.sub(r"^\$\(\s*[\w-]+", f"$({self.callee}", call, count=1)
        expected = " ".join(line.strip() for line in example.expected.splitlines())
        return f"{self.head}{call}{self.separator}{expected}{self.tail}"


_ARROW = re.compile(r"\s*(?:==>|==|➞|=>|->|#\s*=>|#\s*returns?|should return|returns?)\s*")
_LEAD = re.compile(r"^\s*(?:[*-]\s+|for\s+|assert\s+|>>>\s*)?")


def _python_literal_prefix(text: str) -> str | None:
    """The longest leading part of `text` that parses as a Python expression (drops trailing prose)."""
    text = text.strip().rstrip(".")
    for end in sorted({len(text), *[m.start() for m in re.finditer(r"\s[#(]|\s{2,}", text)]}, reverse=True):
        candidate = text[:end].strip().rstrip(".")
        try:
            ast.parse(candidate, mode="eval")
        except SyntaxError:
            continue
        # A trailing `# comment` parses too, but would swallow the bracket the check wraps it in.
        for comment in re.finditer(r"\s#", candidate):
            with contextlib.suppress(SyntaxError):
                ast.parse(candidate[: comment.start()], mode="eval")
                return candidate[: comment.start()].strip()
        return candidate
    return None


def _without_comment(example: Example) -> Example:
    """`f(x)  # prose` as `f(x)`: a comment in the call would swallow the rest of the check's line."""
    call = _python_literal_prefix(example.call)
    return Example(call=call, expected=example.expected) if call else example


def python_inline_examples(task: Task) -> list[Example]:
    """Examples written on one line in the many other styles HumanEval's prompts use:
    `f(x) == y`, `f(x) ➞ y`, `f(x) => y`, `f(x) # returns y`, `>>> f(x) == y`, `* f(x) -> y`, ...
    Only calls of the task's own function count; the expected part must parse as Python."""
    if not task.entry_point:
        return []
    examples = []
    for line in task.prompt.splitlines():
        lead = _LEAD.match(line)
        start = lead.end() if lead else 0
        if not line.startswith(f"{task.entry_point}(", start):
            continue
        end = expression_end(line, start + len(task.entry_point) + 1)
        if end is None or end >= len(line):
            continue
        arrow = _ARROW.match(line, end + 1)
        if not arrow:
            continue
        expected = _python_literal_prefix(line[arrow.end():])
        call = line[start:end + 1]
        if expected:
            try:
                ast.parse(call, mode="eval")
            except SyntaxError:
                continue
            examples.append(Example(call=call, expected=expected))
    return examples


@dataclass(frozen=True)
class ExampleChecks:
    """What the public-examples scorer runs for one task: the programs' tails, to go after
    `prompt + completion`. `examples` is empty when it falls back to a build check."""

    examples: tuple[Example, ...]
    tails: tuple[str, ...]  # one per example, or one build-check tail in the fallback
    fallback: bool


def example_checks(task: Task) -> ExampleChecks:
    """The per-example test tails for a task in any of the eight languages.

    Python runs each example through `python_example_check`. The MultiPL-E languages reuse the
    task's own harness (its `main`, `candidate` wrapper, imports) with the hidden assertions taken
    out and one assertion per example put in, shaped like the harness's first assertion line. With
    no examples (or a harness we cannot read) the tail is the harness with no assertions: the
    program then only has to build and load.
    """
    examples = list(task.extra.get("examples") or []) if isinstance(task.extra, dict) else []
    parsed = [Example(**e) if isinstance(e, dict) else e for e in examples] or extract_examples(task.prompt)
    if get_language(task.language).task_parser == "python":
        parsed = [_without_comment(e) for e in parsed] or python_inline_examples(task)
        if parsed:
            return ExampleChecks(tuple(parsed), tuple(python_example_check(e) for e in parsed), False)
        return ExampleChecks((), ("\n",), True)
    lines = task.tests.splitlines(keepends=True)
    pattern = _assertion(task.language)
    assertion_rows = [i for i, line in enumerate(lines) if pattern and pattern.match(line)]
    if not assertion_rows:
        # No harness we recognise: the program is prompt + completion alone.
        return ExampleChecks((), ("\n",), True)
    template = _template(task.language, lines[assertion_rows[0]].rstrip("\n"))
    keep_before = "".join(lines[: assertion_rows[0]])
    keep_after = "".join(line for i, line in enumerate(lines)
                         if i > assertion_rows[0] and i not in set(assertion_rows))
    if template is None or not parsed:
        empty, first = get_language(task.language).empty_statement, lines[assertion_rows[0]]
        indent = first[: len(first) - len(first.lstrip())]
        return ExampleChecks((), (keep_before + (f"{indent}{empty}\n" if empty else "") + keep_after,), True)
    tails = tuple(keep_before + template.render(e) + "\n" + keep_after for e in parsed)
    return ExampleChecks(tuple(parsed), tails, False)


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
    from rrr_cli.execution import run_programs

    return run_programs(jobs)


def _status(result: Any) -> str:
    return result.status if hasattr(result, "status") else result["status"]


class PublicExamplesScorer(BatchScorer):
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

    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        return self.score_many([(task, candidates)])[0]

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


class WeightedScorer(BatchScorer):
    """sum_i w_i * normalise(scorer_i): each part min-max normalised within the task first, so the
    weights compare like with like."""

    def __init__(self, parts: Sequence[tuple[Scorer, float]]):
        if not parts:
            raise RrrError("a weighted scorer needs at least one part, e.g. weighted:public_examples=1,mean_logprob=0.5")
        self.parts = list(parts)
        self.name = "weighted(" + ",".join(f"{s.name}={w:g}" for s, w in self.parts) + ")"

    def score(self, task: Task, candidates: Sequence[Candidate]) -> list[float]:
        return self.score_many([(task, candidates)])[0]

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


# --- rrr's own scorers, registered in pyproject.toml under `rrr.scorers` ----------------------------
# A factory takes `argument` (the text after `NAME:`) and the options a command offers; it ignores
# the options it has no use for.

def no_argument(name: str, argument: str | None) -> None:
    """For a scorer factory that takes no `NAME:ARGUMENT`: a one-line RrrError when it got one."""
    if argument:
        raise RrrError(f"scorer {name!r} takes no argument (got {name}:{argument})")


def random_scorer(argument: str | None = None, *, seed: int = 0, **options: Any) -> Scorer:
    no_argument("random", argument)
    return RandomScorer(seed=seed)


def mean_logprob_scorer(argument: str | None = None, **options: Any) -> Scorer:
    no_argument("mean_logprob", argument)
    return MeanLogprobScorer()


def public_examples_scorer(argument: str | None = None, *, runner: Runner | None = None, **options: Any) -> Scorer:
    no_argument("public_examples", argument)
    return PublicExamplesScorer(runner=runner)


def _consensus(name: str, variant: str | None, argument: str | None, runner: Runner | None) -> Scorer:
    no_argument(name, argument)
    from rrr_cli.ranking.consensus import consensus_scorer as build  # it builds on this module

    return build(variant, runner=runner)


def consensus_scorer(argument: str | None = None, *, runner: Runner | None = None, **options: Any) -> Scorer:
    return _consensus("consensus", None, argument, runner)


def consensus_dual_scorer(argument: str | None = None, *, runner: Runner | None = None, **options: Any) -> Scorer:
    return _consensus("consensus-dual", "dual", argument, runner)


def consensus_mbr_scorer(argument: str | None = None, *, runner: Runner | None = None, **options: Any) -> Scorer:
    return _consensus("consensus-mbr", "mbr", argument, runner)


def weighted_scorer(argument: str | None = None, *, weights: dict[str, float] | str | None = None,
                    **options: Any) -> Scorer:
    """`weighted:a=1,b=0.5`: each part built by name with the same options."""
    weights = argument or weights
    if isinstance(weights, str):
        weights = parse_weights(weights)
    if not weights:
        weights = {"public_examples": 1.0, "mean_logprob": 0.1}
    return WeightedScorer([(get_scorer(name, **options), weight) for name, weight in weights.items()])


def reranker_scorer(argument: str | None = None, *, path: str | None = None, **options: Any) -> Scorer:
    """`reranker:PATH`: a trained reward model (by default the newest one)."""
    try:
        from rrr_cli.ranking.reward import RewardModelScorer
    except ImportError:
        raise RrrError("no trained reranker: this rrr has no learned reward model yet "
                       "(train one with `rrr selftrain`)") from None
    options = {k: v for k, v in options.items() if k not in ("seed", "runner")}
    path = argument or path
    loader = getattr(RewardModelScorer, "load", None)
    return loader(path, **options) if loader else RewardModelScorer(path, **options)


def scorer_names() -> list[str]:
    """Every installed scorer (entry points of `rrr.scorers`)."""
    return plugins.names("scorer")


def parse_weights(text: str) -> dict[str, float]:
    """`public_examples=1,mean_logprob=0.5` → {name: weight}."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        try:
            weights[name.strip()] = float(value) if value else 1.0
        except ValueError:
            raise RrrError(f"weighted scorer: {part!r} is not NAME=WEIGHT") from None
    return weights


def get_scorer(name: str, **options: Any) -> Scorer:
    """A scorer by name, looked up among the `rrr.scorers` entry points. `NAME:ARGUMENT` passes the
    argument to the scorer's factory (`weighted:a=1,b=0.5`, `reranker:PATH`).

    Keyword options go to the factory (seed for random, runner for the ones that run programs, ...);
    each factory ignores the ones it does not use.
    """
    base, _, argument = name.partition(":")
    if base not in scorer_names():
        raise RrrError(f"unknown scorer {name!r} (known: {', '.join(scorer_names())})")
    factory = plugins.callable_or_report("scorer", base)
    if factory is None:
        raise RrrError(f"scorer {base!r} is installed but broken (see the warning above)")
    scorer = factory(argument or None, **options)
    if not isinstance(scorer, Scorer):
        raise RrrError(f"scorer plugin {base!r} returned {type(scorer).__name__}, not a Scorer")
    return scorer
