"""The self-training loop (DESIGN.md, "The method"), one resumable step at a time.

Before the first iteration: snapshot the training and held-out tasks, sample and execute the held-out
candidates once (base generator). Then for iteration i = 1..K:

  samples.jsonl        N candidates per training task from the current policy (base in iteration 1)
  verdicts.jsonl       their execution verdicts
  scores.jsonl         their scores under the previous iteration's reranker (from iteration 2 on)
  pairs.jsonl          the accumulated pairs: earlier ones + new hard negatives + new standard pairs,
                       de-duplicated, each tagged with its kind and the iteration that mined it
  reranker/            the reward model retrained on the accumulated pairs
  heldout-scores.jsonl the held-out candidates scored by the new reranker
  eval.json            held-out pairwise accuracy and reranked@1
  policy/ + ppo.json   a fresh PPO policy from the base generator against the new reranker
  metrics.json         the iteration's summary (written last: the iteration is finished)

Each step is skipped when its artifact exists, so `--resume` continues from the last finished step.
Every step is seeded from the run seed and the iteration, so a resumed run writes what an
uninterrupted one would have.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Callable

from rrr_cli.errors import RrrError
from rrr_cli.records import Candidate, Pair, ScoredCandidate, Task, Verdict
from rrr_cli.selftrain.settings import SelfTrainConfig
from rrr_cli.selftrain.store import RunStore
from rrr_cli.training.pairs import build_pairs, dedupe_pairs, labelled_tasks, mine_hard_negatives

SEED_STRIDE = 10_000  # candidate j of iteration i is sampled with seed run_seed + i * SEED_STRIDE + j


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

    @property
    def device(self) -> str:
        if self._device is None:
            from rrr_cli.selftrain.policy import pick_device

            self._device = pick_device(self.config.device)
        return self._device

    # -- the run ---------------------------------------------------------------------------------

    def run(self) -> Path:
        """All steps of all iterations that are not done yet; returns the run folder."""
        self.store.clean_staging()
        cfg = self.config
        self.step("setup", "tasks", self.store.path("tasks.jsonl"), self._snapshot_tasks)
        self.step("setup", "held-out tasks", self.store.path("heldout", "tasks.jsonl"), self._snapshot_heldout)
        self.step("held-out", "sample", self.store.path("heldout", "samples.jsonl"), self._sample_heldout)
        self.step("held-out", "execute", self.store.path("heldout", "verdicts.jsonl"),
                  lambda: self._execute(self.store.path("heldout")))
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
        if i > 1:
            self.step(i, "score", d / "scores.jsonl", lambda: self._score(i))
        self.step(i, "mine pairs", d / "pairs.jsonl", lambda: self._mine(i))
        self.step(i, "train reranker", d / "reranker", lambda: self._train_reranker(i))
        self.step(i, "evaluate", d / "eval.json", lambda: self._evaluate(i))
        if self._ppo_enabled():
            self.step(i, "PPO", d / "ppo.json", lambda: self._ppo(i))
        self.step(i, "metrics", d / "metrics.json", lambda: self._metrics(i))

    def _ppo_enabled(self) -> bool:
        return not self.config.no_ppo and self.config.ppo_steps > 0

    # -- tasks -----------------------------------------------------------------------------------

    def _snapshot_tasks(self) -> str:
        from rrr_cli.tasks import load_tasks

        cfg = self.config
        tasks = load_tasks(cfg.tasks, limit=cfg.train_tasks or None, split=cfg.split)
        self.store.write_jsonl(self.store.path("tasks.jsonl"), tasks)
        return f"{len(tasks)} training tasks"

    def _snapshot_heldout(self) -> str:
        from rrr_cli.tasks import load_tasks

        cfg = self.config
        heldout = load_tasks(cfg.heldout, limit=cfg.heldout_tasks or None, split=cfg.heldout_split) if cfg.heldout else []
        train_ids = {t.task_id for t in self.tasks()}
        overlap = [t.task_id for t in heldout if t.task_id in train_ids]
        if overlap:
            raise RrrError(f"held-out tasks overlap the training tasks (e.g. {overlap[0]}); pick another split")
        self.store.write_jsonl(self.store.path("heldout", "tasks.jsonl"), heldout)
        return f"{len(heldout)} held-out tasks"

    def tasks(self) -> list[Task]:
        return self.store.read_jsonl(self.store.path("tasks.jsonl"), Task)

    def heldout_tasks(self) -> list[Task]:
        return self.store.read_jsonl(self.store.path("heldout", "tasks.jsonl"), Task)

    # -- sampling and execution ------------------------------------------------------------------

    def _params(self, iteration: int):
        from rrr_cli.generation.base import SamplingParams

        cfg = self.config
        return SamplingParams(n=cfg.n, temperature=cfg.temperature, top_p=cfg.top_p, max_tokens=cfg.max_tokens,
                              seed=cfg.seed + iteration * SEED_STRIDE)

    def _base(self):
        if self._base_backend is None:
            from rrr_cli.generation.backends import open_backend

            self._base_backend = open_backend(self.config.generator or None, self.config.backend)
        return self._base_backend

    def _close_backend(self) -> None:
        if self._base_backend is not None:
            self._base_backend.close()
            self._base_backend = None

    def _write_samples(self, path: Path, tasks: list[Task], backend, iteration: int) -> str:
        from rrr_cli.generation.sampling import sample_candidates

        with self.bar("sampling", len(tasks)) as advance:
            count = self.store.write_jsonl(path, _without_clock(sample_candidates(
                tasks, backend, self._params(iteration), self.config.prompt_style, progress=advance)))
        return f"{count} candidates for {len(tasks)} tasks from {backend.model_name or backend.name}"

    def _write_base_samples(self, path: Path, tasks: list[Task], iteration: int) -> str:
        """The base generator's candidates: on Ray when there is a cluster, else here."""
        if self.cluster is None:
            return self._write_samples(path, tasks, self._base(), iteration)
        from types import SimpleNamespace

        from rrr_cli import config

        model = self.config.generator or str(config.get("models.default"))
        settings = SimpleNamespace(model=model, backend=self.config.backend, prompt_style=self.config.prompt_style)
        groups: dict[str, list[Candidate]] = {}
        with self.bar("sampling on ray", len(tasks)) as advance:
            for group in self.cluster.sample(tasks, settings, self._params(iteration)):
                if group and group[0].task_id not in groups:  # a retried worker's repeat is dropped
                    groups[group[0].task_id] = group
                    advance(1)
        count = self.store.write_jsonl(path, _without_clock(c for task in tasks for c in groups[task.task_id]))
        return f"{count} candidates for {len(tasks)} tasks from {model} on ray"

    def _sample_heldout(self) -> str:
        tasks = self.heldout_tasks()
        if not tasks:
            self.store.write_jsonl(self.store.path("heldout", "samples.jsonl"), [])
            return "no held-out tasks"
        return self._write_base_samples(self.store.path("heldout", "samples.jsonl"), tasks, 0)

    def _sample(self, i: int) -> str:
        path = self.store.iter_dir(i) / "samples.jsonl"
        if i == 1 or not self._ppo_enabled():
            return self._write_base_samples(path, self.tasks(), i)
        from rrr_cli.selftrain.policy import policy_backend

        self._close_backend()  # free the base generator's memory while the policy samples
        name = f"{Path(self.config.generator).name or 'base'}+ppo-iter{i - 1}"
        backend = policy_backend(self.config.generator or None, self.store.iter_dir(i - 1) / "policy",
                                 self.device, name, self.config.backend)
        try:
            return self._write_samples(path, self.tasks(), backend, i)
        finally:
            backend.close()

    def _execute(self, folder: Path) -> str:
        from rrr_cli.execution import Limits, execute

        tasks = self.store.read_jsonl(folder / "tasks.jsonl", Task) if (folder / "tasks.jsonl").exists() else self.tasks()
        candidates = self.store.read_jsonl(folder / "samples.jsonl", Candidate)
        limits = Limits.from_config(self.config.exec_timeout_s)
        with self.bar("executing", len(candidates)) as advance:
            if self.cluster is not None:
                by_key = {(v.task_id, v.sample_id): v for v in self.cluster.execute(tasks, candidates, advance, limits)}
                verdicts = [by_key[c.key] for c in candidates]  # in candidate order, as locally
            else:
                verdicts = list(execute(tasks, candidates, limits=limits, progress=lambda done, total: advance(1)))
        self.store.write_jsonl(folder / "verdicts.jsonl", verdicts)
        passed = sum(v.passed for v in verdicts)
        return f"{passed}/{len(verdicts)} passed"

    def _labelled(self, folder: Path) -> tuple[list[Candidate], list[Verdict]]:
        return (self.store.read_jsonl(folder / "samples.jsonl", Candidate),
                self.store.read_jsonl(folder / "verdicts.jsonl", Verdict))

    # -- scoring, pairs, reranker ----------------------------------------------------------------

    def _reranker(self, i: int):
        from rrr_cli.selftrain.reranking import load_reranker

        if self._loaded_reranker is None or self._loaded_reranker[0] != i:
            self._loaded_reranker = None  # free the previous one before loading the next
            self._loaded_reranker = (i, load_reranker(self.store.iter_dir(i) / "reranker", self.device))
        return self._loaded_reranker[1]

    def _score_candidates(self, reranker, candidates: list[Candidate]) -> list[ScoredCandidate]:
        scores = reranker.score_texts([c.prompt for c in candidates], [c.completion for c in candidates])
        by_task: dict[str, list[tuple[Candidate, float]]] = defaultdict(list)
        for candidate, score in zip(candidates, scores):
            by_task[candidate.task_id].append((candidate, float(score)))
        scored = []
        for members in by_task.values():
            order = sorted(range(len(members)), key=lambda k: -members[k][1])
            for rank, k in enumerate(order, start=1):
                candidate, score = members[k]
                scored.append(ScoredCandidate.from_dict(
                    {**candidate.to_dict(), "score": score, "scorer": "reranker", "rank": rank}))
        return scored

    def _score(self, i: int) -> str:
        candidates, _ = self._labelled(self.store.iter_dir(i))
        scored = self._score_candidates(self._reranker(i - 1), candidates)
        self.store.write_jsonl(self.store.iter_dir(i) / "scores.jsonl", scored)
        return f"{len(scored)} candidates scored by iteration {i - 1}'s reranker"

    def _mine(self, i: int) -> str:
        cfg = self.config
        d = self.store.iter_dir(i)
        candidates, verdicts = self._labelled(d)
        earlier = self.store.read_jsonl(self.store.iter_dir(i - 1) / "pairs.jsonl", Pair) if i > 1 else []
        hard: list[Pair] = []
        if (d / "scores.jsonl").exists():
            scored = self.store.read_jsonl(d / "scores.jsonl", ScoredCandidate)
            hard = mine_hard_negatives(scored, verdicts, top_k=cfg.hard_negative_top_k, iteration=i, seed=cfg.seed)
        standard = build_pairs(candidates, verdicts, iteration=i, seed=cfg.seed)
        # Earlier pairs first, so a pair mined again keeps its first kind and iteration; a new pair that
        # is both a hard negative and a standard pair is recorded as the hard negative it is.
        pairs = dedupe_pairs([*earlier, *hard, *standard])
        self.store.write_jsonl(d / "pairs.jsonl", pairs)
        new = [p for p in pairs if p.iteration == i]
        n_hard = sum(p.kind_ == "hard_negative" for p in new)
        return f"{len(new) - n_hard} new standard pairs, {n_hard} hard negatives, {len(pairs)} in all"

    def _training_pairs(self, i: int) -> list[Pair]:
        pairs = self.store.read_jsonl(self.store.iter_dir(i) / "pairs.jsonl", Pair)
        cap = self.config.rm_max_pairs
        if cap and len(pairs) > cap:
            # Hard negatives and the newest pairs first: the reranker's current mistakes matter most.
            pairs = sorted(pairs, key=lambda p: (p.kind_ != "hard_negative", -p.iteration))[:cap]
        return pairs

    def _train_reranker(self, i: int) -> str:
        from rrr_cli.selftrain.reranking import train_reranker

        pairs = self._training_pairs(i)
        if not pairs:
            raise RrrError(f"iteration {i}: no preference pairs (no task had both a passing and a failing "
                           "candidate); use more tasks or a larger -n")
        stats = train_reranker(pairs, self.config, self.store.iter_dir(i) / "reranker", self.device,
                               seed=self.config.seed * 1000 + i, log=lambda line: self.say(f"iter {i} ·   {line}"))
        return f"{len(pairs)} pairs, {stats}" if stats else f"{len(pairs)} pairs"

    def _evaluate(self, i: int) -> str:
        from rrr_cli.metrics import reranked_at_1

        held = self.store.path("heldout")
        candidates, verdicts = self._labelled(held)
        result: dict = {"heldout_tasks": len(self.heldout_tasks())}
        if candidates:
            scored = self._score_candidates(self._reranker(i), candidates)
            self.store.write_jsonl(self.store.iter_dir(i) / "heldout-scores.jsonl", scored)
            passed = {(v.task_id, v.sample_id): v.passed for v in verdicts}
            groups: dict[str, list[ScoredCandidate]] = defaultdict(list)
            for c in scored:
                groups[c.task_id].append(c)
            r1, p1, oracle, correct, total = [], [], [], 0, 0
            for members in groups.values():
                flags = [passed.get(c.key, False) for c in members]
                r1.append(reranked_at_1([c.score for c in members], flags))
                p1.append(sum(flags) / len(flags))
                oracle.append(float(any(flags)))
                good = [c.score for c, ok in zip(members, flags) if ok]
                bad = [c.score for c, ok in zip(members, flags) if not ok]
                correct += sum((g > b) + 0.5 * (g == b) for g in good for b in bad)
                total += len(good) * len(bad)
            result.update({
                "reranked_at_1": sum(r1) / len(r1), "pass_at_1": sum(p1) / len(p1), "oracle": sum(oracle) / len(oracle),
                "pairwise_accuracy": correct / total if total else None, "heldout_pairs": total,
            })
        self.store.write_json(self.store.iter_dir(i) / "eval.json", result)
        acc = result.get("pairwise_accuracy")
        return (f"reranked@1 {result.get('reranked_at_1', float('nan')):.3f}, pairwise accuracy "
                f"{'n/a' if acc is None else f'{acc:.3f}'}")

    # -- PPO -------------------------------------------------------------------------------------

    def _ppo(self, i: int) -> str:
        from rrr_cli.selftrain.policy import train_policy
        from rrr_cli.training.ppo import summarize

        cfg = self.config
        reranker = self._reranker(i)

        def score(tasks: list[Task], completions: list[str]) -> list[float]:
            return [float(s) for s in reranker.score_texts([t.prompt for t in tasks], completions)]

        def on_step(stats: dict) -> None:
            self.say(f"iter {i} · PPO step {stats['step']}/{cfg.ppo_steps}: reward {stats['reward_mean']:.3f}, "
                     f"KL {stats['kl']:.3f}")

        history = train_policy(cfg.generator or None, self.tasks(), cfg.prompt_style, score, cfg.ppo_config(i),
                               cfg.ppo_steps, self.store.iter_dir(i) / "policy", self.device, on_step=on_step)
        summary = summarize(history)
        self.store.write_json(self.store.iter_dir(i) / "ppo.json", {"summary": summary, "steps": history})
        return f"reward {summary['reward_first']:.3f} → {summary['reward_last']:.3f}, KL {summary['kl_last']:.3f}"

    # -- the iteration's summary -----------------------------------------------------------------

    def _metrics(self, i: int) -> str:
        d = self.store.iter_dir(i)
        candidates, verdicts = self._labelled(d)
        pairs = self.store.read_jsonl(d / "pairs.jsonl", Pair)
        new = [p for p in pairs if p.iteration == i]
        labelled = labelled_tasks(candidates, verdicts)
        found = 0
        if (d / "scores.jsonl").exists():
            # Hard negatives found this iteration, including pairs already in the set from earlier
            # iterations (those keep their first record, so `hard_negatives` counts only new ones).
            scored = self.store.read_jsonl(d / "scores.jsonl", ScoredCandidate)
            found = len(mine_hard_negatives(scored, verdicts, top_k=self.config.hard_negative_top_k,
                                            iteration=i, seed=self.config.seed))
        metrics = {
            "iteration": i,
            "candidates": len(candidates),
            "train_pass_rate": sum(v.passed for v in verdicts) / len(verdicts) if verdicts else 0.0,
            "mixed_tasks": sum(t.mixed for t in labelled),
            "standard_pairs": sum(p.kind_ == "standard" for p in new),
            "hard_negatives": sum(p.kind_ == "hard_negative" for p in new),
            "hard_negatives_found": found,
            "pairs_total": len(pairs),
            "eval": self.store.read_json(d / "eval.json"),
            "ppo": self.store.read_json(d / "ppo.json")["summary"] if (d / "ppo.json").exists() else None,
        }
        self.store.write_json(d / "metrics.json", metrics)
        return f"{metrics['standard_pairs']} standard pairs, {metrics['hard_negatives']} hard negatives"


def _without_clock(candidates):
    """Candidates without their sampling wall time: a run's artifacts are the same whenever made."""
    for candidate in candidates:
        candidate.extra.pop("task_sampling_s", None)
        yield candidate
