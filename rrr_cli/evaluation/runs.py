"""An evaluation run on disk, and the pipeline that fills it: sample → execute → score → report.

A run lives in `runs/eval-<hash of the sampling settings>/`. The task selection is not part of the
hash, so `--limit 20` after `--limit 5` reuses the first five tasks' work. Every stage appends one
task's records at a time to its JSONL log and fsyncs, and skips what the log already holds: the same
command again does no sampling or execution at all, and an interrupted run picks up at the first
task it had not finished, never writing a record twice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from rrr_cli import config
from rrr_cli.atomic import atomic_write_text, exclusive_lock
from rrr_cli.errors import RrrError
from rrr_cli import metrics
from rrr_cli.execution.cache import harness_key
from rrr_cli.ranking.base import Scorer, score_many
from rrr_cli.ranking.scorers import PublicExamplesScorer
from rrr_cli.records import (Candidate, Record, RecordError, Task, Verdict, check_value, decode_line,
                             loads, read_json_file)

RUN_FORMAT = 1


@dataclass(frozen=True)
class EvalSettings:
    """What decides the samples: the same settings give the same candidates (so they are reused)."""

    model: str
    backend: str = "auto"
    n: int = 10
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512
    seed: int = 0
    prompt_style: str = "auto"

    def key(self) -> str:
        text = json.dumps({"format": RUN_FORMAT, **dataclasses.asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def greedy(self) -> "EvalSettings":
        return dataclasses.replace(self, n=1, temperature=0.0)


def completion_sha(candidate: Candidate) -> str:
    """Ties a verdict or score to the exact program text it was computed for."""
    return hashlib.sha256((candidate.prompt + "\0" + candidate.completion).encode()).hexdigest()[:16]


class _DamagedRecord(RecordError):
    """Whole JSON that is not what the log holds: damage, not an interrupted append."""


def _check_logged(record: Any, schema: type[Record] | dict[str, Any] | None, where: str) -> None:
    try:
        if isinstance(schema, type):
            schema.from_dict(record, where)
        elif schema is not None:
            if not isinstance(record, dict):
                raise RecordError(f"{where}expected a JSON object")
            for name, hint in schema.items():
                if name not in record:
                    raise RecordError(f"{where}missing field {name!r}")
                check_value(record[name], hint, f"{where}field {name!r}")
    except RecordError as exc:
        raise _DamagedRecord(str(exc)) from None


# What a score log holds per candidate (a score of null: the scorer had nothing to go on, it ranks last).
SCORE_FIELDS: dict[str, Any] = {"task_id": str, "sample_id": int, "completion_sha": str, "score": float | None}


class JsonlLog:
    """An append-only JSONL file written one task's records at a time.

    Each append is one write, fsynced before the next task starts. A crash mid-write can only leave a
    torn last line; `load` drops it (rewriting the file atomically) so the next append starts clean.
    """

    def __init__(self, path: Path):
        self.path = path

    def load(self, schema: type[Record] | dict[str, Any] | None = None, repair: bool = True) -> list[dict[str, Any]]:
        """The logged records, read as strictly as any input (UTF-8, strict JSON); each is checked
        against `schema` (a record type, or field -> type) so a damaged log is one line, not a crash.
        `repair=False` reads only: a torn last line is skipped, not cut off (another process may be
        appending to the log)."""
        if not self.path.is_file():
            return []
        try:
            text = self.path.read_bytes()
        except OSError as exc:
            raise RrrError(f"{self.path}: cannot read: {exc.strerror}") from None
        records, good = [], []
        lines = text.split(b"\n")
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            where = f"{self.path}:{number}: "
            try:
                record = loads(decode_line(line, where), where)
                _check_logged(record, schema, where)
            except RecordError as exc:
                if number == len(lines) and not isinstance(exc, _DamagedRecord):  # an interrupted append's torn tail
                    break
                raise RrrError(f"{exc} (a damaged run log: delete {self.path.parent} to start the run "
                               "afresh)") from None
            records.append(record)
            good.append(line.decode("utf-8"))
        if repair and text and not text.endswith(b"\n"):
            # An append that did not finish: drop its torn tail (or end a whole last record with its
            # newline), so the next append starts on a line of its own.
            atomic_write_text(self.path, "".join(g + "\n" for g in good))
        return records

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        data = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")
        if not data:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One write call for the whole task (a buffered file would split it at its buffer size, and a
        # kill between the pieces would leave half a task); a write that fails part way (a full disk)
        # is cut back off, so the log always ends on a whole task.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                if isinstance(exc, OSError) and exc.filename is None:
                    raise OSError(exc.errno, exc.strerror, str(self.path)) from None
                raise
        finally:
            os.close(fd)


class RunDir:
    """The files of one run: settings.json, samples.jsonl, verdicts.jsonl, scores-*.jsonl, report.json
    (and greedy-samples.jsonl / greedy-verdicts.jsonl with --greedy)."""

    def __init__(self, settings: EvalSettings, root: Path | None = None):
        self.settings = settings
        self.path = (root or config.data_path("runs")) / f"eval-{settings.key()}"
        self.path.mkdir(parents=True, exist_ok=True)
        settings_file = self.path / "settings.json"
        if not settings_file.is_file():
            atomic_write_text(settings_file, json.dumps(dataclasses.asdict(settings), indent=2) + "\n")

    def log(self, name: str) -> JsonlLog:
        return JsonlLog(self.path / name)

    @contextlib.contextmanager
    def locked(self, busy_ok: bool = False) -> Iterator[bool]:
        """One process at a time per run, so two evals of the same settings never interleave records.
        Yields True once the lock is held; with `busy_ok`, yields False (holding nothing) where another
        process has it, instead of failing."""
        with exclusive_lock(self.path / ".lock") as held:
            if not held and not busy_ok:
                raise RrrError(f"another `rrr eval` is using {self.path}; wait for it to finish")
            yield held


# --- the stages ------------------------------------------------------------------------------------

Progress = Callable[[str, int], Callable[[int], None]]  # (description, total) -> advance(k)


def _no_progress(description: str, total: int) -> Callable[[int], None]:
    return lambda k=1: None


def _candidates_by_task(records: list[dict[str, Any]], tasks: Sequence[Task], n: int) -> dict[str, list[Candidate]]:
    """The logged candidates of each task, keeping only a complete set sampled for its current prompt."""
    prompts = {task.task_id: task.prompt for task in tasks}
    grouped: dict[str, dict[int, Candidate]] = {}
    for record in records:
        if record.get("task_id") in prompts and record.get("prompt") == prompts[record["task_id"]]:
            candidate = Candidate.from_dict(record)
            grouped.setdefault(candidate.task_id, {})[candidate.sample_id] = candidate
    return {task_id: [by_id[i] for i in range(n)] for task_id, by_id in grouped.items()
            if all(i in by_id for i in range(n))}


def logged_candidates(run_dir: Path, log_name: str = "samples.jsonl") -> dict[str, list[Candidate]]:
    """A run directory's sampled candidates per task, sample ids in order; where a task was sampled
    again (its prompt changed), the last logged candidate of each sample id. For scripts that read a
    finished run."""
    by_sample: dict[tuple[str, int], Candidate] = {}
    for record in JsonlLog(Path(run_dir) / log_name).load(Candidate):
        candidate = Candidate.from_dict(record)
        by_sample[candidate.task_id, candidate.sample_id] = candidate
    out: dict[str, list[Candidate]] = {}
    for key in sorted(by_sample, key=lambda k: k[1]):
        out.setdefault(key[0], []).append(by_sample[key])
    return out


def _verdict_key(candidate: Candidate, harness: str) -> tuple:
    """What a logged verdict is found by: the candidate, its exact text, and the harness that judged it
    (`execution.cache.harness_key`), so a verdict of an older harness is never taken for today's."""
    return candidate.task_id, candidate.sample_id, completion_sha(candidate), harness


def _logged_verdicts(log: JsonlLog, repair: bool = True) -> dict[tuple, dict[str, Any]]:
    return {(r["task_id"], r["sample_id"], r.get("completion_sha"), r.get("harness")): r
            for r in log.load(Verdict, repair=repair)}


def logged_work(run: RunDir, tasks: Sequence[Task], n: int) -> tuple[dict[str, list[Candidate]], dict[str, list[Verdict]]]:
    """Read only, without the run's lock: the tasks whose complete candidate set (for their current
    prompt) and every verdict for those texts are already logged. For a reader that finds the run in
    use by another process; a torn last line (an append in progress) is skipped, not repaired."""
    candidates = _candidates_by_task(run.log("samples.jsonl").load(Candidate, repair=False), tasks, n)
    logged = _logged_verdicts(run.log("verdicts.jsonl"), repair=False)
    harness = {task.language: harness_key(task.language) for task in tasks}
    verdicts: dict[str, list[Verdict]] = {}
    for task_id, group in candidates.items():
        found = [logged.get(_verdict_key(c, harness[c.language])) for c in group]
        if all(found):
            verdicts[task_id] = [Verdict.from_dict(record) for record in found]
    return {t: candidates[t] for t in verdicts}, verdicts


@dataclass
class ExecutedRun:
    """A finished run's MultiPL-E tasks whose every candidate has a verdict, for scripts that read it."""

    settings: dict[str, Any]
    tasks: list[Task]
    candidates: dict[str, list[Candidate]]
    passed: dict[tuple[str, int], bool]  # (task_id, sample_id) -> passed the hidden tests


def executed_run(run_dir: Path, benchmark: str = "multipl-e") -> ExecutedRun:
    """`run_dir`'s settings, executed tasks (in the benchmark's order), candidates and verdicts; an
    unreadable log or a run with no executed task is an RrrError."""
    from rrr_cli.tasks import load_tasks
    from rrr_cli.tasks.benchmarks import ALIASES

    run_dir = Path(run_dir)
    settings = read_json_file(run_dir / "settings.json", "settings")
    candidates = logged_candidates(run_dir)
    passed = {(v["task_id"], v["sample_id"]): v["status"] == "passed"
              for v in JsonlLog(run_dir / "verdicts.jsonl").load(Verdict)}
    tasks = [task for task in load_tasks(ALIASES.get(benchmark, [benchmark])) if task.task_id in candidates
             and all((task.task_id, c.sample_id) in passed for c in candidates[task.task_id])]
    if not tasks:
        raise RrrError(f"{run_dir}: no executed {benchmark} tasks")
    return ExecutedRun(settings, tasks, candidates, passed)


def _default_backend(settings: EvalSettings):
    from rrr_cli.generation.backends import open_backend

    return open_backend(settings.model, backend=settings.backend)


Sampler = Callable[..., Iterable[list[Candidate]]]  # (tasks, settings, params) -> each task's N candidates


def sample_groups(tasks: Sequence[Task], backend: Any, params: Any, prompt_style: str) -> Iterator[list[Candidate]]:
    """Each task's `params.n` candidates as one list, in task order, each stamped with its task's
    share of the sampling wall time (`task_sampling_s`, see `sample_candidates`), so the report can
    say what each language costs."""
    from rrr_cli.generation.sampling import sample_candidates

    buffer: list[Candidate] = []
    for candidate in sample_candidates(tasks, backend, params, prompt_style):
        buffer.append(candidate)
        if len(buffer) == params.n:
            yield sorted(buffer, key=lambda c: c.sample_id)
            buffer = []


def _local_sampler(backend_factory: Callable[[EvalSettings], Any] | None) -> Sampler:
    def sample(tasks: Sequence[Task], settings: EvalSettings, params: Any) -> Iterator[list[Candidate]]:
        backend = (backend_factory or _default_backend)(settings)
        try:
            yield from sample_groups(tasks, backend, params, settings.prompt_style)
        finally:
            close = getattr(backend, "close", None)
            if close:
                close()

    return sample


def sample_stage(run: RunDir, tasks: Sequence[Task], settings: EvalSettings, log_name: str,
                 backend_factory: Callable[[EvalSettings], Any] | None, progress: Progress,
                 sampler: Sampler | None = None) -> dict[str, list[Candidate]]:
    """Every task's N candidates, sampling only the tasks the log lacks (the model loads only then).

    `sampler(tasks, settings, params)` yields each task's complete set of candidates, in any task
    order (default: `backend_factory`'s backend, in this process). A set for a task already logged
    (a retried remote worker's repeat) is dropped, so the log holds each (task, sample) once.
    """
    log = run.log(log_name)
    have = _candidates_by_task(log.load(Candidate), tasks, settings.n)
    missing = [task for task in tasks if task.task_id not in have]
    if not missing:
        return have
    from rrr_cli.generation.base import SamplingParams

    params = SamplingParams(n=settings.n, temperature=settings.temperature, top_p=settings.top_p,
                            max_tokens=settings.max_tokens, seed=settings.seed)
    advance = progress(f"sampling {'greedy ' if settings.temperature == 0 else ''}({len(missing)} tasks)",
                       len(missing))
    prompts = {task.task_id: task.prompt for task in missing}
    groups = (sampler or _local_sampler(backend_factory))(missing, settings, params)
    try:
        for group in groups:
            task_id = group[0].task_id if group else None
            if task_id not in prompts or task_id in have:
                continue
            if ([c.sample_id for c in group] != list(range(settings.n))
                    or any(c.task_id != task_id or c.prompt != prompts[task_id] for c in group)):
                raise RrrError(f"the sampler returned an incomplete candidate set for {task_id}")
            log.append(c.to_dict() for c in group)
            have[task_id] = group
            advance(1)
    finally:
        close = getattr(groups, "close", None)  # a generator: let it free its backend or workers now
        if close:
            close()
    return have


def _default_executor(tasks: Sequence[Task], candidates: Sequence[Candidate],
                      advance: Callable[[int], None]) -> Iterable[Verdict]:
    from rrr_cli.execution import execute

    done_before = 0

    def report(done: int, total: int) -> None:  # execute counts (done, total); our bars advance by k
        nonlocal done_before
        advance(done - done_before)
        done_before = done

    return execute(tasks, candidates, progress=report)


def execute_stage(run: RunDir, tasks: Sequence[Task], candidates: dict[str, list[Candidate]], log_name: str,
                  executor: Callable[..., Iterable[Verdict]] | None, progress: Progress) -> dict[str, list[Verdict]]:
    """A verdict for every candidate, running only those without a logged verdict for their text under
    today's harness (a verdict logged before the harness changed is run again)."""
    log = run.log(log_name)
    logged = _logged_verdicts(log)
    have: dict[str, list[Verdict]] = {}
    pending_tasks, pending = [], []
    harness = {task.language: harness_key(task.language) for task in tasks}
    for task in tasks:
        group = candidates[task.task_id]
        found = [logged.get(_verdict_key(c, harness[task.language])) for c in group]
        if all(found):
            have[task.task_id] = [Verdict.from_dict(record) for record in found]
        else:
            pending_tasks.append(task)
            pending.extend(group)
    if not pending:
        return have
    advance = progress(f"executing ({len(pending)} programs)", len(pending))
    expected = {c.key: c for c in pending}
    buffer: dict[str, dict[int, Verdict]] = {}
    for verdict in (executor or _default_executor)(pending_tasks, pending, advance):
        candidate = expected.get((verdict.task_id, verdict.sample_id))
        if candidate is None or verdict.task_id in have:  # not asked for, or a retried worker's repeat
            continue
        verdict.extra = {**verdict.extra, "completion_sha": completion_sha(candidate),
                         "harness": harness[candidate.language]}
        group = buffer.setdefault(verdict.task_id, {})
        group[verdict.sample_id] = verdict
        if len(group) == len(candidates[verdict.task_id]):
            ordered = [group[c.sample_id] for c in candidates[verdict.task_id]]
            log.append(v.to_dict() for v in ordered)
            have[verdict.task_id] = ordered
    lost = [t.task_id for t in pending_tasks if t.task_id not in have]
    if lost:
        raise RrrError(f"the sandbox returned no verdict for some candidates of {len(lost)} task(s), "
                       f"e.g. {lost[0]}")
    return have


def scorer_cache_name(scorer: Scorer) -> str | None:
    """The score log of a scorer that opts in by its `cache_key` (`Scorer.cache_key`: a key that changes
    whenever its scores could); None for the others (a learned reranker keeps its name when retrained),
    which are scored afresh on every run."""
    name = scorer.cache_key
    if name is None:
        return None
    slug = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in name)
    if len(slug) > 80:
        slug = slug[:60] + "-" + hashlib.sha256(name.encode()).hexdigest()[:12]
    return f"scores-{slug}.jsonl"


def score_stage(run: RunDir, tasks: Sequence[Task], candidates: dict[str, list[Candidate]], scorer: Scorer,
                progress: Progress, batch: int = 8) -> dict[str, list[dict[str, Any]]]:
    """Each candidate's score (and, for public examples, its example counts), cached per task."""
    cache_name = scorer_cache_name(scorer)
    log = run.log(cache_name) if cache_name else None
    logged = {(r["task_id"], r["sample_id"], r["completion_sha"]): r for r in log.load(SCORE_FIELDS)} if log else {}
    have: dict[str, list[dict[str, Any]]] = {}
    pending = []
    for task in tasks:
        found = [logged.get((c.task_id, c.sample_id, completion_sha(c))) for c in candidates[task.task_id]]
        if all(found):
            have[task.task_id] = found  # type: ignore[assignment]
        else:
            pending.append(task)
    if not pending:
        return have
    advance = progress(f"scoring: {scorer.name} ({len(pending)} tasks)", len(pending))
    # A few tasks per batch: sandbox runs go in parallel, and an interruption loses little.
    for start in range(0, len(pending), batch):
        chunk = pending[start:start + batch]
        groups = [(task, candidates[task.task_id]) for task in chunk]
        for (task, group), scores in zip(groups, score_many(scorer, groups)):
            rows = []
            for candidate, value in zip(group, scores):
                row = {"task_id": task.task_id, "sample_id": candidate.sample_id,
                       "completion_sha": completion_sha(candidate),
                       "score": float(value) if math.isfinite(value) else None}
                if isinstance(scorer, PublicExamplesScorer):
                    outcome = scorer.outcomes.get((task.task_id, candidate.sample_id))
                    if outcome:
                        row.update(outcome.to_dict())
                rows.append(row)
            if log:
                log.append(rows)
            have[task.task_id] = rows
            advance(1)
    return have


# --- the report -------------------------------------------------------------------------------------

def group_label(task: Task) -> str:
    """The column a task counts in: its language, or the benchmark for MBPP."""
    return "mbpp" if task.source == "mbpp" else task.language


@dataclass
class EvalResult:
    report: dict[str, Any]
    run_dir: Path
    per_task: list[dict[str, Any]] = field(default_factory=list)
    # What the report was built from, per task id: candidates, their verdicts, each scorer's score rows.
    candidates: dict[str, list[Candidate]] = field(default_factory=dict)
    verdicts: dict[str, list[Verdict]] = field(default_factory=dict)
    scores: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)


def score_values(rows: list[dict[str, Any]]) -> list[float]:
    """The scores of a task's logged score rows, in order; a missing score (None) ranks last."""
    return [-math.inf if r["score"] is None else r["score"] for r in rows]


def build_report(tasks: Sequence[Task], settings: EvalSettings, verdicts: dict[str, list[Verdict]],
                 scores: dict[str, dict[str, list[dict[str, Any]]]], greedy: dict[str, list[Verdict]] | None = None,
                 ks: Sequence[int] | None = None,
                 candidates: dict[str, list[Candidate]] | None = None) -> dict[str, Any]:
    """Per-task values, then per-group means and an average over the groups (as the paper averages
    its languages). Values are fractions in [0, 1]."""
    n = settings.n
    ks = list(ks or metrics.default_ks(n))
    per_task = []
    for task in tasks:
        passed = [v.passed for v in verdicts[task.task_id]]
        c = sum(passed)
        sampled = candidates[task.task_id][0].extra.get("task_sampling_s") if candidates else None
        row: dict[str, Any] = {"task_id": task.task_id, "group": group_label(task), "n": n, "correct": c,
                               "sampling_s": sampled,
                               "execution_s": sum(v.duration_s or 0.0 for v in verdicts[task.task_id]),
                               "oracle": metrics.oracle(passed),
                               "statuses": [v.status for v in verdicts[task.task_id]]}
        for k in ks:
            row[f"pass@{k}"] = metrics.pass_at_k(n, c, k)
        if greedy is not None:
            row["greedy"] = 1.0 if greedy[task.task_id][0].passed else 0.0
        row["reranked@1"] = {}
        row["curve"] = {}
        for name, by_task in scores.items():
            values = score_values(by_task[task.task_id])
            row["reranked@1"][name] = metrics.reranked_at_1(values, passed)
            row["curve"][name] = [metrics.reranked_at_1_subsampled(values, passed, m) for m in range(1, n + 1)]
        per_task.append(row)

    groups: dict[str, list[dict[str, Any]]] = {}
    for row in per_task:
        groups.setdefault(row["group"], []).append(row)
    columns: dict[str, dict[str, Any]] = {}
    for label, rows in groups.items():
        columns[label] = _summarise(rows, ks, list(scores), n, greedy is not None)
    average = _average(list(columns.values()), ks, list(scores), n, greedy is not None)
    return {"settings": dataclasses.asdict(settings), "ks": ks, "scorers": list(scores),
            "groups": list(columns), "columns": columns, "average": average, "tasks": per_task}


def _summarise(rows: list[dict[str, Any]], ks: list[int], scorer_names: list[str], n: int,
               with_greedy: bool) -> dict[str, Any]:
    column: dict[str, Any] = {"tasks": len(rows)}
    # Seconds per task: sampling (wall clock, where the log recorded it) and running the programs.
    column["sampling_s_per_task"] = metrics.mean([r.get("sampling_s") for r in rows])
    column["execution_s_per_task"] = metrics.mean([r["execution_s"] for r in rows])
    for k in ks:
        column[f"pass@{k}"] = metrics.mean([r[f"pass@{k}"] for r in rows])
    column["oracle"] = metrics.mean([r["oracle"] for r in rows])
    if with_greedy:
        column["greedy"] = metrics.mean([r["greedy"] for r in rows])
    pass1 = metrics.mean([metrics.pass_at_k(n, r["correct"], 1) for r in rows])
    column["pass@1"] = pass1
    column["reranked@1"] = {name: metrics.mean([r["reranked@1"][name] for r in rows]) for name in scorer_names}
    column["gap_recovered"] = {name: metrics.gap_recovered(column["reranked@1"][name], pass1, column["oracle"])
                               for name in scorer_names}
    column["curve"] = {name: [metrics.mean([r["curve"][name][m] for r in rows]) for m in range(n)]
                       for name in scorer_names}
    return column


def _average(columns: list[dict[str, Any]], ks: list[int], scorer_names: list[str], n: int,
             with_greedy: bool) -> dict[str, Any]:
    keys = [f"pass@{k}" for k in ks] + ["pass@1", "oracle"] + (["greedy"] if with_greedy else [])
    average: dict[str, Any] = {"tasks": sum(c["tasks"] for c in columns)}
    for key in ("sampling_s_per_task", "execution_s_per_task"):
        average[key] = metrics.mean([c[key] for c in columns])
    for key in keys:
        average[key] = metrics.mean([c[key] for c in columns])
    average["reranked@1"] = {name: metrics.mean([c["reranked@1"][name] for c in columns]) for name in scorer_names}
    average["gap_recovered"] = {name: metrics.gap_recovered(average["reranked@1"][name], average["pass@1"],
                                                             average["oracle"]) for name in scorer_names}
    average["curve"] = {name: [metrics.mean([c["curve"][name][m] for c in columns]) for m in range(n)]
                        for name in scorer_names}
    return average


# --- the whole pipeline -----------------------------------------------------------------------------

def run_eval(tasks: Sequence[Task], settings: EvalSettings, scorers: Sequence[Scorer], *, greedy: bool = False,
             root: Path | None = None, progress: Progress | None = None,
             backend_factory: Callable[[EvalSettings], Any] | None = None,
             executor: Callable[..., Iterable[Verdict]] | None = None,
             sampler: Sampler | None = None) -> EvalResult:
    """Sample, execute, score and report `tasks` under `settings`, reusing whatever the run already has.

    `backend_factory(settings)` opens the generator (default: `open_backend`), `executor(tasks,
    candidates, advance)` yields verdicts (default: the sandbox's `execute`); both are only called
    for work the run does not have yet. `sampler(tasks, settings, params)` replaces the backend
    altogether: it yields each task's candidates (the Ray executor's, see `evaluation.executors`).
    """
    if not tasks:
        raise RrrError("no tasks to evaluate")
    progress = progress or _no_progress
    run = RunDir(settings, root)
    started = time.monotonic()
    timings: dict[str, float] = {}
    with run.locked():
        mark = time.monotonic()
        candidates = sample_stage(run, tasks, settings, "samples.jsonl", backend_factory, progress, sampler)
        timings["sampling_s"] = time.monotonic() - mark
        mark = time.monotonic()
        verdicts = execute_stage(run, tasks, candidates, "verdicts.jsonl", executor, progress)
        greedy_verdicts = None
        if greedy:
            greedy_settings = settings.greedy()
            greedy_candidates = sample_stage(run, tasks, greedy_settings, "greedy-samples.jsonl",
                                             backend_factory, progress, sampler)
            greedy_verdicts = execute_stage(run, tasks, greedy_candidates, "greedy-verdicts.jsonl",
                                            executor, progress)
        timings["execution_s"] = time.monotonic() - mark
        mark = time.monotonic()
        scores = {}
        for scorer in scorers:
            if scorer.name in scores:
                raise RrrError(f"scorer {scorer.name!r} given twice")
            scores[scorer.name] = score_stage(run, tasks, candidates, scorer, progress)
        timings["scoring_s"] = time.monotonic() - mark
        report = build_report(tasks, settings, verdicts, scores, greedy_verdicts, candidates=candidates)
        timings["total_s"] = time.monotonic() - started
        report["run_dir"] = str(run.path)
        report["timings"] = timings
        atomic_write_text(run.path / "report.json", json.dumps(report, indent=1) + "\n")
    return EvalResult(report=report, run_dir=run.path, per_task=report["tasks"], candidates=candidates,
                      verdicts=verdicts, scores=scores)
