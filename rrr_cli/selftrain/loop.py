"""The self-training loop (DESIGN.md, "The method"), one resumable step at a time.

Before the first iteration: snapshot the training tasks (MBPP train+validation, HumanEval fold A in
every language) and the held-out tasks (HumanEval fold B in every language, never trained on); take
the base generator's held-out candidates and verdicts from the eval run store (`rrr eval` with the
same settings samples exactly these; what it lacks is sampled there), and score them once with the
fallback scorer. Then for iteration i = 1..K:

  samples.jsonl        N candidates per training task from the current policy (base in iteration 1,
                       and in every iteration with --no-ppo)
  verdicts.jsonl       their execution verdicts (hidden tests)
  evidence.jsonl       what running them on the prompts' examples and probes showed (ranking.evidence)
  scores.jsonl         their scores under the previous iteration's reranker (from iteration 2 on)
  pairs.jsonl          the accumulated pairs: earlier ones + new hard negatives + new standard pairs,
                       de-duplicated, each tagged with its kind and the iteration that mined it
  reranker/            `rrr train-reranker`'s recipe trained on the accumulated pairs (train_and_save)
  heldout-scores.jsonl the base generator's held-out candidates scored by the new reranker
  eval.json            held-out figures (evaluation.runs.build_report, as `rrr eval`) with paired 95%
                       intervals against the previous iteration's reranker and the fallback
  policy/ + ppo.json   a fresh PPO policy from the base generator against the new reranker
  policy-heldout/      the policy's fresh held-out candidates, their verdicts and reranker scores
  metrics.json         the iteration's summary (written last: the iteration is finished)

Each step is skipped when its artifact exists, so `--resume` continues from the last finished step.
Every step is seeded from the run seed and the iteration, so a resumed run writes what an
uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.records import Candidate, Pair, ScoredCandidate, Task, Verdict
from rrr_cli.selftrain.settings import SelfTrainConfig
from rrr_cli.selftrain.store import RunStore
from rrr_cli.training.pairs import build_pairs, dedupe_pairs, labelled_tasks, mine_hard_negatives, split_by_task

SEED_STRIDE = 10_000  # candidate j of iteration i is sampled with seed run_seed + i * SEED_STRIDE + j
POLICY_HELDOUT_OFFSET = 5_000  # ... and held-out candidate j of iteration i's policy with + 5,000 + j
VALIDATION_FRACTION = 0.1  # of each iteration's tasks, held out of the reranker's training (as train-reranker)


class Interrupted(RrrError):
    """Ctrl-C: the loop stopped at a step boundary; finished steps are kept."""

    exit_code = 130


class StopFlag:
    """The first Ctrl-C asks the loop to stop after the current step; a second one stops at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> "StopFlag":
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: no handler, Ctrl-C behaves as usual
            self._previous = None
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        from rrr_cli.ui import notice

        notice("stopping after this step (Ctrl-C again to stop now; finished steps are kept)")

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


Say = Callable[[str], None]


class SelfTrainLoop:
    """Runs (or resumes) the steps of one run."""

    def __init__(self, store: RunStore, say: Say | None = None, stop: StopFlag | None = None, cluster=None):
        self.store = store
        # A RayExecutor (evaluation.executors): the base generator samples and every candidate runs on
        # Ray; a PPO policy samples here, where it was trained. None: all in this process.
        self.cluster = cluster
        self.config: SelfTrainConfig = store.config()
        self.say = say or (lambda message: None)
        self.stop = stop or StopFlag()
        self._device: str | None = None
        self._base_backend = None
        self._loaded_reranker: tuple[int, object] | None = None  # the last one loaded, reused by later steps

    # -- the step machinery ----------------------------------------------------------------------

    def step(self, iteration: int | str, name: str, artifact: Path, work: Callable[[], str | None]) -> bool:
        """Run `work` unless `artifact` exists; returns whether it ran. `work` returns a short summary."""
        label = f"iter {iteration}" if isinstance(iteration, int) else iteration
        if self.store.done(artifact):
            self.say(f"{label} · {name}: done earlier, kept")
            return False
        if self.stop.requested:
            raise Interrupted(f"stopped before {label} · {name}; continue with "
                              f"`rrr selftrain --resume {self.store.run_id}`")
        self.say(f"{label} · {name}…")
        started = time.perf_counter()
        summary = work()
        elapsed = time.perf_counter() - started
        self.store.record_timing(iteration, name, elapsed)
        self.say(f"{label} · {name}: {summary + ', ' if summary else ''}{elapsed:.1f} s")
        return True

    @staticmethod
    @contextlib.contextmanager
    def bar(description: str, total: int | None):
        """A progress bar on stderr (shown on a terminal only); yields `advance(n)`."""
        from rrr_cli.ui import progress

        with progress() as bars:
            task = bars.add_task(description, total=total)
            yield lambda n=1: bars.advance(task, n)

    @staticmethod
    @contextlib.contextmanager
    def bars():
        """Progress bars on stderr as the eval stages want them: `(description, total) -> advance(k)`."""
        from rrr_cli.ui import progress

        with progress() as shown:
            def make(description: str, total: int):
                job = shown.add_task(description, total=total)
                return lambda k=1: shown.advance(job, k)

            yield make

    @property
    def device(self) -> str:
        if self._device is None:
            from rrr_cli.selftrain.policy import pick_device

            self._device = pick_device(self.config.device)
        return self._device

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> Path:
        """All steps of all iterations that are not done yet; returns the run folder. One process at a
        time per run: another that holds it is one line (RrrError), before anything is touched."""
        with self.store.locked():
            return self._run()

    def _run(self) -> Path:
        self.store.clean_staging()
        cfg = self.config
        held = self.store.path("heldout")
        self.step("setup", "tasks", self.store.path("tasks.jsonl"), self._snapshot_tasks)
        self.step("setup", "held-out tasks", held / "tasks.jsonl", self._snapshot_heldout)
        self.step("held-out", "sample", held / "samples.jsonl", self._sample_heldout)
        self.step("held-out", "execute", held / "verdicts.jsonl", self._execute_heldout)
        self.step("held-out", "fallback", held / "fallback-scores.jsonl", self._fallback_heldout)
        for iteration in range(1, cfg.iterations + 1):
            self.iteration(iteration)
        self._close_backend()
        return self.store.root

    def iteration(self, i: int) -> None:
        d = self.store.iter_dir(i)
        if self.store.done(d / "metrics.json"):
            self.say(f"iter {i}: finished earlier, kept")
            return
        self.step(i, "sample", d / "samples.jsonl", lambda: self._sample(i))
        self.step(i, "execute", d / "verdicts.jsonl", lambda: self._execute(d))
        self.step(i, "evidence", d / "evidence.jsonl", lambda: self._evidence(i))
        if i > 1:
            self.step(i, "score", d / "scores.jsonl", lambda: self._score(i))
        self.step(i, "mine pairs", d / "pairs.jsonl", lambda: self._mine(i))
        self.step(i, "train reranker", d / "reranker", lambda: self._train_reranker(i))
        self.step(i, "score held-out", d / "heldout-scores.jsonl", lambda: self._score_heldout(i))
        self.step(i, "evaluate", d / "eval.json", lambda: self._evaluate(i))
        if self._ppo_enabled():
            self.step(i, "PPO", d / "ppo.json", lambda: self._ppo(i))
            p = d / "policy-heldout"
            if self.heldout_tasks():
                self.step(i, "policy: sample held-out", p / "samples.jsonl", lambda: self._sample_policy_heldout(i))
                self.step(i, "policy: execute held-out", p / "verdicts.jsonl", lambda: self._execute(p))
                self.step(i, "policy: score held-out", p / "scores.jsonl", lambda: self._score_policy_heldout(i))
        self.step(i, "metrics", d / "metrics.json", lambda: self._metrics(i))

    def _ppo_enabled(self) -> bool:
        return not self.config.no_ppo and self.config.ppo_steps > 0

    # -- tasks -----------------------------------------------------------------------------------

    def _snapshot_tasks(self) -> str:
        from rrr_cli.tasks import load_source

        cfg = self.config
        tasks: list[Task] = []
        for source in cfg.tasks:
            loaded = load_source(source, split=cfg.split)
            if _is_mbpp(source):
                tasks += loaded[:cfg.mbpp_tasks or None]
            else:
                # Outside MBPP, a task in the held-out fold (any language's version of a held-out
                # problem) is never trained on.
                kept = [t for t in loaded if cfg.folds < 2 or _fold(t.task_id, cfg.folds) != cfg.heldout_fold]
                tasks += _per_language(kept, cfg.train_per_language)
        _check_unique(tasks)
        self.store.write_jsonl(self.store.path("tasks.jsonl"), tasks)
        languages = len({t.language for t in tasks})
        return f"{len(tasks)} training tasks in {languages} language{'s' if languages != 1 else ''}"

    def _snapshot_heldout(self) -> str:
        from rrr_cli.tasks import load_source

        cfg = self.config
        heldout: list[Task] = []
        for source in cfg.heldout:
            loaded = load_source(source, split="test")
            if cfg.folds >= 2:
                loaded = [t for t in loaded if _fold(t.task_id, cfg.folds) == cfg.heldout_fold]
            heldout += _per_language(loaded, cfg.heldout_per_language)
        _check_unique(heldout)
        trained = {_problem(t.task_id) for t in self.tasks()}
        overlap = [t.task_id for t in heldout if _problem(t.task_id) in trained]
        if overlap:
            raise RrrError(f"held-out task {overlap[0]} is a training task's problem; pick other sources or folds")
        self.store.write_jsonl(self.store.path("heldout", "tasks.jsonl"), heldout)
        return f"{len(heldout)} held-out tasks in {len({t.language for t in heldout})} languages"

    def tasks(self) -> list[Task]:
        return self.store.read_jsonl(self.store.path("tasks.jsonl"), Task)

    def heldout_tasks(self) -> list[Task]:
        return self.store.read_jsonl(self.store.path("heldout", "tasks.jsonl"), Task)

    def _tasks_of(self, folder: Path) -> list[Task]:
        held = folder == self.store.path("heldout") or folder.name == "policy-heldout"
        return self.heldout_tasks() if held else self.tasks()

    # -- sampling and execution ------------------------------------------------------------------

    def _params(self, iteration: int, n: int | None = None, offset: int = 0):
        from rrr_cli.generation.base import SamplingParams

        cfg = self.config
        return SamplingParams(n=n or cfg.n, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
                              seed=cfg.seed + iteration * SEED_STRIDE + offset)

    def _base(self):
        if self._base_backend is None:
            from rrr_cli.generation.backends import open_backend

            self._base_backend = open_backend(self.config.generator or None, self.config.backend)
        return self._base_backend

    def _close_backend(self) -> None:
        if self._base_backend is not None:
            self._base_backend.close()
            self._base_backend = None

    def _sampled(self, tasks: list[Task], backend, params) -> list[Candidate]:
        from rrr_cli.generation.sampling import sample_candidates

        with self.bar("sampling", len(tasks)) as advance:
            return list(_without_clock(sample_candidates(tasks, backend, params, self.config.prompt_style,
                                                         progress=advance)))

    def _base_samples(self, tasks: list[Task], params) -> list[Candidate]:
        """The base generator's candidates: on Ray when there is a cluster, else here."""
        if self.cluster is None:
            return self._sampled(tasks, self._base(), params)
        settings = self._eval_settings()
        groups: dict[str, list[Candidate]] = {}
        with self.bar("sampling on ray", len(tasks)) as advance:
            for group in self.cluster.sample(tasks, settings, params):
                if group and group[0].task_id not in groups:  # a retried worker's repeat is dropped
                    groups[group[0].task_id] = group
                    advance(1)
        return list(_without_clock(c for task in tasks for c in groups[task.task_id]))

    def _policy_backend(self, i: int):
        """A sampling backend for iteration i's PPO policy (the base generator's memory freed first)."""
        from rrr_cli.selftrain.policy import policy_backend

        self._close_backend()
        name = f"{Path(self.config.generator).name or 'base'}+ppo-iter{i}"
        return policy_backend(self.config.generator or None, self.store.iter_dir(i) / "policy", self.device, name,
                              self.config.backend)

    def _sample(self, i: int) -> str:
        path = self.store.iter_dir(i) / "samples.jsonl"
        tasks = self.tasks()
        if i == 1 or not self._ppo_enabled():
            candidates = self._base_samples(tasks, self._params(i))
            source = "the base generator" + ("" if self.cluster is None else " on ray")
        else:
            backend = self._policy_backend(i - 1)
            try:
                candidates = self._sampled(tasks, backend, self._params(i))
            finally:
                backend.close()
            source = f"iteration {i - 1}'s PPO policy"
        count = self.store.write_jsonl(path, candidates)
        return f"{count} candidates for {len(tasks)} tasks from {source}"

    def _execute(self, folder: Path) -> str:
        from rrr_cli.execution import Limits, execute

        tasks = self._tasks_of(folder)
        candidates = self.store.read_jsonl(folder / "samples.jsonl", Candidate)
        limits = Limits.from_config(self.config.exec_timeout_s)
        with self.bar("executing", len(candidates)) as advance:
            if self.cluster is not None:
                by_key = {(v.task_id, v.sample_id): v for v in self.cluster.execute(tasks, candidates, advance, limits)}
                verdicts = [by_key[c.key] for c in candidates]  # in candidate order, as locally
            else:
                verdicts = list(execute(tasks, candidates, limits=limits, progress=lambda done, total: advance(1)))
        self.store.write_jsonl(folder / "verdicts.jsonl", verdicts)
        return f"{sum(v.passed for v in verdicts)}/{len(verdicts)} passed"

    def _labelled(self, folder: Path) -> tuple[list[Candidate], list[Verdict]]:
        return (self.store.read_jsonl(folder / "samples.jsonl", Candidate),
                self.store.read_jsonl(folder / "verdicts.jsonl", Verdict))

    # -- the base generator's held-out candidates: an eval run's -----------------------------------

    def _eval_settings(self):
        from rrr_cli import config
        from rrr_cli.evaluation.runs import EvalSettings

        cfg = self.config
        return EvalSettings(model=cfg.generator or str(config.get("models.default")), backend=cfg.backend, n=cfg.n,
                            temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens, seed=cfg.seed,
                            prompt_style=cfg.prompt_style)

    def _eval_store_work(self, tasks: list[Task], execute: bool) -> tuple[list[Candidate], list[Verdict], str]:
        """The base generator's candidates for `tasks` (and their verdicts with `execute`) from the eval
        run of the same settings: through its stages (which sample and run only what it lacks, and log
        it there for `rrr eval` too); where another process holds that run, what it has logged is read
        and the rest is done here without touching it."""
        from rrr_cli.evaluation.runs import RunDir, execute_stage, logged_work, sample_stage

        settings = self._eval_settings()
        run = RunDir(settings)
        held = self.store.path("heldout")
        with run.locked(busy_ok=True) as mine:
            if mine:
                where = {} if self.cluster is None else {"sampler": self.cluster.sample}
                with self.bars() as progress:
                    if not execute:
                        by_task = sample_stage(run, tasks, settings, "samples.jsonl", None, progress, **where)
                        return [c for t in tasks for c in by_task[t.task_id]], [], f"eval run {run.path.name}"
                    groups: dict[str, list[Candidate]] = {}
                    for c in self.store.read_jsonl(held / "samples.jsonl", Candidate):
                        groups.setdefault(c.task_id, []).append(c)
                    executor = None if self.cluster is None else self.cluster.execute
                    verdicts = execute_stage(run, tasks, groups, "verdicts.jsonl", executor, progress)
                    return [], [v for t in tasks for v in verdicts[t.task_id]], f"eval run {run.path.name}"
            logged_candidates, logged_verdicts = logged_work(run, tasks, settings.n)
        missing = [t for t in tasks if t.task_id not in logged_verdicts]
        note = f"eval run {run.path.name} in use: {len(tasks) - len(missing)} tasks read from it, {len(missing)} done here"
        if not execute:
            fresh = self._base_samples(missing, self._params(0)) if missing else []
            by_task = {**logged_candidates}
            for c in fresh:
                by_task.setdefault(c.task_id, []).append(c)
            return [c for t in tasks for c in by_task[t.task_id]], [], note
        candidates = self.store.read_jsonl(held / "samples.jsonl", Candidate)
        own = [c for c in candidates if c.task_id not in logged_verdicts]
        ran: dict[tuple[str, int], Verdict] = {}
        if own:
            from rrr_cli.execution import execute as run_programs

            if self.cluster is not None:
                ran = {(v.task_id, v.sample_id): v for v in self.cluster.execute(missing, own, lambda k=1: None)}
            else:
                ran = {(v.task_id, v.sample_id): v for v in run_programs(missing, own)}
        logged = {(v.task_id, v.sample_id): v for group in logged_verdicts.values() for v in group}
        return [], [logged.get(c.key) or ran[c.key] for c in candidates], note

    def _sample_heldout(self) -> str:
        tasks = self.heldout_tasks()
        candidates, _, where = self._eval_store_work(tasks, execute=False) if tasks else ([], [], "")
        count = self.store.write_jsonl(self.store.path("heldout", "samples.jsonl"), _without_clock(candidates))
        return f"{count} base-generator candidates for {len(tasks)} tasks ({where})" if tasks else "no held-out tasks"

    def _execute_heldout(self) -> str:
        tasks = self.heldout_tasks()
        _, verdicts, where = self._eval_store_work(tasks, execute=True) if tasks else ([], [], "")
        for verdict in verdicts:
            for key in ("completion_sha", "harness"):  # the eval log's keys, not part of a verdict
                verdict.extra.pop(key, None)
        self.store.write_jsonl(self.store.path("heldout", "verdicts.jsonl"), verdicts)
        return f"{sum(v.passed for v in verdicts)}/{len(verdicts)} passed ({where})" if tasks else "no held-out tasks"

    def _fallback_heldout(self) -> str:
        from rrr_cli.ranking.rerank import FALLBACK_SCORER
        from rrr_cli.ranking.registry import get_scorer

        held = self.store.path("heldout")
        scored = self._scored(get_scorer(FALLBACK_SCORER), self.heldout_tasks(), self._labelled(held)[0])
        self.store.write_jsonl(held / "fallback-scores.jsonl", scored)
        return f"{len(scored)} candidates scored by the fallback ({FALLBACK_SCORER}: public examples + mean log-prob)"

    # -- evidence, scoring, pairs, reranker ------------------------------------------------------

    def _evidence(self, i: int) -> str:
        from rrr_cli.selftrain.reranking import evidence_rows

        candidates = self._labelled(self.store.iter_dir(i))[0]
        groups = _groups(self.tasks(), candidates)
        with self.bar("examples and probes", len(groups)):
            rows = evidence_rows(groups)
        records = [{"task_id": c.task_id, "sample_id": c.sample_id, "evidence": row}
                   for (_, members), task_rows in zip(groups, rows) for c, row in zip(members, task_rows)]
        self.store.write_jsonl(self.store.iter_dir(i) / "evidence.jsonl", records)
        return f"{len(records)} candidates run on their examples and probes"

    def _evidence_of(self, i: int) -> dict[tuple[str, int], list[float]]:
        from rrr_cli.records import iter_json_lines

        path = self.store.iter_dir(i) / "evidence.jsonl"
        with open(path, "rb") as handle:
            return {(r["task_id"], r["sample_id"]): r["evidence"] for _, r in iter_json_lines(handle, str(path))}

    def _reranker(self, i: int):
        from rrr_cli.selftrain.reranking import load_scorer

        if self._loaded_reranker is None or self._loaded_reranker[0] != i:
            self._loaded_reranker = None  # free the previous one before loading the next
            self._loaded_reranker = (i, load_scorer(self.store.iter_dir(i) / "reranker", self.device))
        return self._loaded_reranker[1]

    def _scored(self, scorer, tasks: list[Task], candidates: list[Candidate]) -> list[ScoredCandidate]:
        """Every task's candidates scored through the Scorer protocol, best first (`ranking.rank_scores`)."""
        from rrr_cli.ranking import rank_scores
        from rrr_cli.ranking.scorers import score_many

        groups = _groups(tasks, candidates)
        with self.bar(f"scoring: {scorer.name}", len(groups)) as advance:
            scores = score_many(scorer, groups, progress=advance)
        return [c for (_, members), row in zip(groups, scores) for c in rank_scores(members, row, scorer.name)]

    def _score(self, i: int) -> str:
        candidates = self._labelled(self.store.iter_dir(i))[0]
        scored = self._scored(self._reranker(i - 1), self.tasks(), candidates)
        self.store.write_jsonl(self.store.iter_dir(i) / "scores.jsonl", scored)
        return f"{len(scored)} candidates scored by iteration {i - 1}'s reranker"

    def _hard_negatives(self, i: int) -> tuple[list[Pair], dict[str, int]]:
        """The iteration's hard-negative pairs (mined with the previous reranker) and counts of the hard
        negatives themselves: every failing candidate ranked at or above its task's best passing one
        (or in the top k), and those of them that pass the prompt's examples (or build, where it has
        none) and sit in the biggest behaviour group, the mistakes execution alone does not catch."""
        d = self.store.iter_dir(i)
        counts = {"hard_negatives_found": 0, "hard_negatives_past_execution": 0}
        if not (d / "scores.jsonl").exists():
            return [], counts
        cfg = self.config
        scored = self.store.read_jsonl(d / "scores.jsonl", ScoredCandidate)
        verdicts = self._labelled(d)[1]
        pairs = mine_hard_negatives(scored, verdicts, top_k=cfg.hard_negative_top_k, iteration=i, seed=cfg.seed)
        every = mine_hard_negatives(scored, verdicts, top_k=cfg.hard_negative_top_k, max_per_task=None, iteration=i)
        found = {(p.task_id, p.rejected) for p in every}
        evidence = self._evidence_of(i)
        past = set()
        for c in scored:
            row = evidence.get(c.key)
            if (c.task_id, c.completion) in found and row is not None and _past_execution(row):
                past.add((c.task_id, c.completion))
        counts.update(hard_negatives_found=len(found), hard_negatives_past_execution=len(past))
        return pairs, counts

    def _mine(self, i: int) -> str:
        cfg = self.config
        d = self.store.iter_dir(i)
        candidates, verdicts = self._labelled(d)
        earlier = self.store.read_jsonl(self.store.iter_dir(i - 1) / "pairs.jsonl", Pair) if i > 1 else []
        hard, counts = self._hard_negatives(i)
        standard = build_pairs(candidates, verdicts, iteration=i, seed=cfg.seed)
        # Earlier pairs first, so a pair mined again keeps its first kind and iteration; a new pair that
        # is both a hard negative and a standard pair is recorded as the hard negative it is.
        pairs = dedupe_pairs([*earlier, *hard, *standard])
        self.store.write_jsonl(d / "pairs.jsonl", pairs)
        new = [p for p in pairs if p.iteration == i]
        n_hard = sum(p.kind_ == "hard_negative" for p in new)
        return (f"{len(new) - n_hard} new standard pairs, {n_hard} hard-negative pairs from "
                f"{counts['hard_negatives_found']} hard negatives ({counts['hard_negatives_past_execution']} past "
                f"examples and consensus), {len(pairs)} pairs in all")

    def _train_reranker(self, i: int) -> str:
        from rrr_cli.selftrain.reranking import train_reranker

        cfg = self.config
        pairs = self.store.read_jsonl(self.store.iter_dir(i) / "pairs.jsonl", Pair)
        if not pairs:
            raise RrrError(f"iteration {i}: no preference pairs (no task had both a passing and a failing "
                           "candidate); use more tasks or a larger -n")
        candidates, verdicts = self._labelled(self.store.iter_dir(i))
        # Validation as `rrr train-reranker` holds it out (whole tasks with every labelled candidate), from
        # the tasks with both outcomes: a held-out task without any pair gives a NaN pair accuracy, which
        # the reranker's manifest cannot hold as JSON.
        mixed = [t for t in labelled_tasks(candidates, verdicts) if t.mixed]
        _, val_tasks = split_by_task(mixed, VALIDATION_FRACTION, cfg.seed)
        evidence = None
        if cfg.features == "exec":
            evidence = {}
            for k in range(i, 0, -1):  # a text keeps the evidence of the newest iteration that sampled it
                rows = self._evidence_of(k)
                for c in self._labelled(self.store.iter_dir(k))[0]:
                    evidence.setdefault((c.prompt, c.completion), rows[c.key])
        data = {"selftrain_run": self.store.run_id, "iteration": i, "features": cfg.features}
        summary = train_reranker(pairs, cfg, self.store.iter_dir(i) / "reranker", self.device,
                                 seed=cfg.seed * 1000 + i, val_tasks=val_tasks, evidence=evidence, data=data,
                                 log=lambda line: self.say(f"iter {i} ·   {line}"))
        return f"{len(pairs)} pairs, {summary}"

    # -- held-out figures ------------------------------------------------------------------------

    def _score_heldout(self, i: int) -> str:
        candidates = self._labelled(self.store.path("heldout"))[0]
        scored = self._scored(self._reranker(i), self.heldout_tasks(), candidates) if candidates else []
        self.store.write_jsonl(self.store.iter_dir(i) / "heldout-scores.jsonl", scored)
        return f"{len(scored)} held-out candidates scored by iteration {i}'s reranker"

    def _evaluate(self, i: int) -> str:
        from rrr_cli.selftrain.report import evaluate_base

        held = self.store.path("heldout")
        candidates, verdicts = self._labelled(held)
        if not candidates:
            self.store.write_json(self.store.iter_dir(i) / "eval.json", {"heldout_tasks": 0})
            return "no held-out tasks"
        scores = {"reranker": self.store.read_jsonl(self.store.iter_dir(i) / "heldout-scores.jsonl", ScoredCandidate),
                  "fallback": self.store.read_jsonl(held / "fallback-scores.jsonl", ScoredCandidate)}
        if i > 1:
            scores["previous"] = self.store.read_jsonl(self.store.iter_dir(i - 1) / "heldout-scores.jsonl",
                                                       ScoredCandidate)
        result = evaluate_base(self.heldout_tasks(), candidates, verdicts, scores, self.config)
        self.store.write_json(self.store.iter_dir(i) / "eval.json", result)
        parts = [f"reranked@1 {result['reranked_at_1']:.3f}"]
        for key, label in (("versus_previous", "vs iteration before"), ("versus_fallback", "vs fallback")):
            if result.get(key):
                low, high = result[key]["ci95"]
                parts.append(f"{label} {result[key]['difference']:+.3f} [{low:+.3f}, {high:+.3f}]")
        return ", ".join(parts)

    # -- PPO -------------------------------------------------------------------------------------

    def _ppo(self, i: int) -> str:
        from rrr_cli.selftrain.policy import train_policy
        from rrr_cli.training.ppo import summarize

        cfg = self.config
        scorer = self._reranker(i)
        # A rollout is judged among its task's candidates of this iteration, as a candidate is when
        # scored: its behaviour group and share come from the same consensus run (the others' programs
        # are in the verdict cache, so only the rollout's run).
        context: dict[str, list[Candidate]] = {}
        for c in self._labelled(self.store.iter_dir(i))[0]:
            context.setdefault(c.task_id, []).append(c)

        def score(tasks: list[Task], completions: list[str], logprobs) -> list[float]:
            groups = []
            for k, (task, completion, known) in enumerate(zip(tasks, completions, logprobs)):
                others = context.get(task.task_id, [])
                rollout = Candidate(task.task_id, task.language, task.prompt, completion,
                                    sample_id=max((c.sample_id for c in others), default=-1) + 1 + k,
                                    model="ppo-rollout", n_tokens=known[1] if known else 0,
                                    logprob_sum=known[0] if known else None)
                groups.append((task, [*others, rollout]))
            return [float(row[-1]) for row in scorer.score_many(groups)]

        def on_step(stats: dict) -> None:
            self.say(f"iter {i} · PPO step {stats['step']}/{cfg.ppo_steps}: reward {stats['reward_mean']:.3f}, "
                     f"KL {stats['kl']:.3f}")

        history = train_policy(cfg.generator or None, self.tasks(), cfg.prompt_style, score, cfg.ppo_config(i),
                               cfg.ppo_steps, self.store.iter_dir(i) / "policy", self.device, on_step=on_step)
        summary = summarize(history)
        self.store.write_json(self.store.iter_dir(i) / "ppo.json", {"summary": summary, "steps": history})
        return f"reward {summary['reward_first']:.3f} → {summary['reward_last']:.3f}, KL {summary['kl_last']:.3f}"

    def _sample_policy_heldout(self, i: int) -> str:
        cfg = self.config
        tasks = self.heldout_tasks()
        backend = self._policy_backend(i)
        try:
            candidates = self._sampled(tasks, backend, self._params(i, cfg.heldout_policy_n, POLICY_HELDOUT_OFFSET))
        finally:
            backend.close()
        count = self.store.write_jsonl(self.store.iter_dir(i) / "policy-heldout" / "samples.jsonl", candidates)
        return f"{count} candidates for {len(tasks)} held-out tasks from iteration {i}'s policy"

    def _score_policy_heldout(self, i: int) -> str:
        folder = self.store.iter_dir(i) / "policy-heldout"
        scored = self._scored(self._reranker(i), self.heldout_tasks(), self._labelled(folder)[0])
        self.store.write_jsonl(folder / "scores.jsonl", scored)
        return f"{len(scored)} of the policy's held-out candidates scored by iteration {i}'s reranker"

    # -- the iteration's summary -----------------------------------------------------------------

    def _metrics(self, i: int) -> str:
        from rrr_cli.selftrain.report import evaluate_policy

        d = self.store.iter_dir(i)
        candidates, verdicts = self._labelled(d)
        pairs = self.store.read_jsonl(d / "pairs.jsonl", Pair)
        new = [p for p in pairs if p.iteration == i]
        labelled = labelled_tasks(candidates, verdicts)
        policy = None
        folder = d / "policy-heldout"
        if (folder / "scores.jsonl").exists():
            held = self.store.path("heldout")
            policy = evaluate_policy(self.heldout_tasks(), self._labelled(held), self._labelled(folder),
                                     self.store.read_jsonl(d / "heldout-scores.jsonl", ScoredCandidate),
                                     self.store.read_jsonl(folder / "scores.jsonl", ScoredCandidate), self.config)
        metrics = {
            "iteration": i,
            "sampled_by": "base" if i == 1 or not self._ppo_enabled() else f"ppo-iter{i - 1}",
            "candidates": len(candidates),
            "train_pass_rate": sum(v.passed for v in verdicts) / len(verdicts) if verdicts else 0.0,
            "mixed_tasks": sum(t.mixed for t in labelled),
            "standard_pairs": sum(p.kind_ == "standard" for p in new),
            "hard_negatives": sum(p.kind_ == "hard_negative" for p in new),
            **self._hard_negatives(i)[1],
            "pairs_total": len(pairs),
            "pairs_by_kind": {kind: sum(p.kind_ == kind for p in pairs) for kind in ("standard", "hard_negative")},
            "eval": self.store.read_json(d / "eval.json"),
            "policy_eval": policy,
            "ppo": self.store.read_json(d / "ppo.json")["summary"] if (d / "ppo.json").exists() else None,
        }
        self.store.write_json(d / "metrics.json", metrics)
        return f"{metrics['standard_pairs']} standard pairs, {metrics['hard_negatives']} hard-negative pairs"


def _without_clock(candidates: Iterable[Candidate]):
    """Candidates without their sampling wall time: a run's artifacts are the same whenever made."""
    for candidate in candidates:
        candidate.extra.pop("task_sampling_s", None)
        yield candidate


def _groups(tasks: Sequence[Task], candidates: Sequence[Candidate]) -> list[tuple[Task, list[Candidate]]]:
    """(task, its candidates in order) for every task that has candidates, in task order."""
    by_task: dict[str, list[Candidate]] = {}
    for candidate in candidates:
        by_task.setdefault(candidate.task_id, []).append(candidate)
    return [(task, by_task[task.task_id]) for task in tasks if task.task_id in by_task]


def _past_execution(row: Sequence[float]) -> bool:
    """An evidence row (`ranking.evidence.EVIDENCE_NAMES`) of a candidate that passes every example of
    its prompt (or builds, where the prompt has none) and sits in the biggest working behaviour group."""
    examples_passed, no_examples, builds, _, biggest_group, _ = row
    return (builds == 1.0 if no_examples else examples_passed == 1.0) and biggest_group == 1.0


def _is_mbpp(source: str) -> bool:
    return source == "mbpp"


def _fold(task_id: str, folds: int) -> int:
    from rrr_cli.tasks.folds import fold_of

    return fold_of(task_id, folds)


PROBLEM = re.compile(r"(HumanEval|Mbpp|mbpp)[/_](\d+)")


def _problem(task_id: str) -> tuple[str, str]:
    """What a task poses: (benchmark, problem number) for HumanEval's translations and MBPP, so every
    language's version of a problem is one problem; the task id otherwise."""
    match = PROBLEM.search(task_id)
    return (match.group(1).lower(), match.group(2)) if match else ("", task_id)


def _per_language(tasks: Sequence[Task], limit: int) -> list[Task]:
    """The first `limit` tasks of each language, in the given order (0: all)."""
    if not limit:
        return list(tasks)
    seen: dict[str, int] = {}
    out = []
    for task in tasks:
        if seen.get(task.language, 0) < limit:
            seen[task.language] = seen.get(task.language, 0) + 1
            out.append(task)
    return out


def _check_unique(tasks: Sequence[Task]) -> None:
    seen: set[str] = set()
    for task in tasks:
        if task.task_id in seen:
            raise RrrError(f"task id {task.task_id!r} appears twice; task ids must be unique")
        seen.add(task.task_id)
