"""Training the reward model on preference pairs with the Bradley-Terry loss.

    loss = -log sigmoid(r(chosen) - r(rejected))

Validation holds out whole tasks (never single pairs of a task seen in training) and reports, each
epoch, the pairwise accuracy on the held-out pairs and reranked@1 on the held-out tasks' candidates.
The best epoch by validation reranked@1 (then pairwise accuracy) is the one kept.

Why it is fast enough on a CPU: the layers below the trainable top are frozen, so their output for a
text never changes; it is computed once per distinct (prompt, completion) text, and pairs share texts
(8 candidates of a task give up to 16 pairs but only 8 texts). Each step then runs only the top layers,
the final norm and the head, under bf16 autocast where that pays off (`bf16_supported`). With no trainable
layers (the default) even that is done once: each text's pooled state is fixed, and the head is fitted
on all pairs at once, 100 full-batch steps an epoch, in well under a second (on MBPP's 1,545 pairs the
whole run is the trunk pass: 4 min on 2 cores).

Under `torchrun --nproc_per_node N` (see `training.distributed`) the processes share the work. With
a frozen trunk, each process runs the trunk over its share of the distinct texts and all of them get
every pooled state, then each fits the same head on all pairs (a few milliseconds; the same result as
one process, up to float rounding). With LoRA layers, each process caches every text and takes its
share of each global batch of `per_device_train_batch_size * N` pairs, and the gradients are summed
before each step: the same steps as one process with a batch N times as big. Only rank 0 logs and
saves the reranker.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.records import Pair
from rrr_cli.training import distributed
from rrr_cli.training.pairs import LabelledTask, labelled_from_pairs, pair_logprobs, split_by_task
from rrr_cli.reranker import (RewardModel, RewardModelSettings, check_states, confidence_inputs, default_device,
                              examples_column, extra_inputs, fill_confidence, new_reranker_name, rerankers_dir)


@dataclass
class RewardTrainingConfig:
    """Everything one reward-model training run needs (named as in TRL's RewardConfig where it can)."""

    model_name_or_path: str | None = None  # base model: catalog name, .gguf file or HF dir; None = default
    num_train_epochs: int = 3
    learning_rate: float = 2e-4  # LoRA adapters
    head_learning_rate: float = 1e-3  # the freshly initialised scalar head learns faster (with LoRA)
    # Head only (trainable_layers 0): every text's pooled state is computed once and the head is fitted
    # on all pairs at once (a regularised Bradley-Terry logistic regression), this many steps an epoch.
    head_only_steps_per_epoch: int = 100
    head_only_learning_rate: float = 0.03
    head_l2: float = 0.003  # squared-weight penalty on the projected head's component weights
    per_device_train_batch_size: int = 16  # pairs per optimiser step
    per_device_eval_batch_size: int = 16  # texts per forward pass when caching and validating
    weight_decay: float = 0.0
    warmup_ratio: float = 0.05
    max_length: int = 512
    pooling: str = "mean"  # see RewardModelSettings
    # The default recipe (chosen by cross-validation on MBPP train tasks, issue #5): a frozen trunk,
    # a head on the pooled state's top 16 principal components plus the generator's log-probs.
    trainable_layers: int = 0
    projection: int = 16
    confidence: bool = True
    # Execution evidence (`ranking.evidence`): how many inputs per candidate (0 = text only, the paper's
    # reward model) and over which probes they were computed; the rows come with the training call.
    evidence_inputs: int = 0
    evidence_probes: str = ""
    examples_first: bool = False  # the examples' share orders the tiers, the head orders within them (RewardModelSettings)
    states: str = "trunk"  # where the pooled states come from: the torch trunk or llama.cpp (RewardModelSettings)
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    validation_fraction: float = 0.1  # of tasks, held out whole; 0 = no validation
    load_best_model_at_end: bool = True
    seed: int = 0
    device: str | None = None  # default: cuda when available, else cpu
    bf16: bool | None = None  # autocast to bf16; default: where it pays off (`bf16_supported`)

    def __post_init__(self) -> None:
        if self.states == "none":
            self.projection = 0  # no pooled state to project

    def settings(self) -> RewardModelSettings:
        return RewardModelSettings(trainable_layers=self.trainable_layers, lora_r=self.lora_r,
                                   lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                                   max_length=self.max_length, pooling=self.pooling,
                                   projection=self.projection, confidence=self.confidence,
                                   evidence_inputs=self.evidence_inputs, evidence_probes=self.evidence_probes,
                                   states=self.states, examples_first=self.examples_first)

    def check(self) -> None:
        for name in ("num_train_epochs", "per_device_train_batch_size", "per_device_eval_batch_size",
                     "max_length", "lora_r"):
            if getattr(self, name) < 1:
                raise RrrError(f"{name.replace('_', '-')} must be at least 1 (got {getattr(self, name)})")
        if not self.learning_rate > 0 or not self.head_learning_rate > 0:
            raise RrrError("learning rates must be positive")
        if self.trainable_layers < 0:
            raise RrrError(f"trainable-layers must be >= 0 (got {self.trainable_layers})")
        check_states(self.states)
        if self.states != "trunk" and (self.trainable_layers or self.pooling != "mean"):
            raise RrrError("llama.cpp states train the head alone on mean-pooled states "
                           "(use --states trunk for --trainable-layers)")
        if self.states == "none":
            if self.projection or not (self.confidence or self.evidence_inputs):
                raise RrrError("a head without states reads log-probs or execution evidence, with no projection")
        elif self.projection < 0 or ((self.confidence or self.evidence_inputs) and self.projection < 1):
            raise RrrError("projection must be >= 1 with confidence or evidence inputs, >= 0 without "
                           f"(got {self.projection})")
        if self.head_l2 < 0 or self.head_only_steps_per_epoch < 1 or not self.head_only_learning_rate > 0:
            raise RrrError("head-l2 must be >= 0, head-only steps >= 1 and their learning rate positive")


def resolve_states(states: str, base_model: str | None, trainable_layers: int = 0,
                   device: str | None = None) -> str:
    """`--states auto` made concrete: llama.cpp where the base is a GGUF model, the head alone trains and
    the training runs on the CPU (the model `rrr solve` samples with then gives the states: no second
    load), else trunk (on a GPU the torch trunk is far faster than CPU llama.cpp)."""
    if states != "auto":
        return states
    if trainable_layers:
        return "trunk"
    from rrr_cli.models import CATALOG

    # Judged from the name, without pulling: a catalog model or a .gguf file is GGUF; a folder is not.
    gguf = not base_model or base_model in CATALOG or not Path(base_model).expanduser().is_dir()
    if not gguf or (device or default_device()).startswith("cuda"):
        return "trunk"
    return "llama.cpp"


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_pairwise_accuracy: float
    val_pairwise_accuracy: float | None
    val_reranked_at_1: float | None
    seconds: float

    def describe(self) -> str:
        parts = [f"epoch {self.epoch}", f"loss {self.train_loss:.4f}", f"train acc {self.train_pairwise_accuracy:.3f}"]
        if self.val_pairwise_accuracy is not None:
            parts.append(f"val acc {self.val_pairwise_accuracy:.3f}")
        if self.val_reranked_at_1 is not None:
            parts.append(f"val reranked@1 {self.val_reranked_at_1:.3f}")
        parts.append(f"{self.seconds:.0f}s")
        return ", ".join(parts)


@dataclass
class TrainingResult:
    model: RewardModel
    epochs: list[EpochMetrics]
    best_epoch: int | None
    train_tasks: int
    train_pairs: int
    val_tasks: int
    val_pairs: int
    distinct_texts: int
    cache_seconds: float
    train_seconds: float
    tokens_cached: int
    extra: dict[str, Any] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """What goes into the reranker's manifest."""
        return {
            "epochs": [asdict(e) for e in self.epochs],
            "best_epoch": self.best_epoch,
            "train_tasks": self.train_tasks, "train_pairs": self.train_pairs,
            "val_tasks": self.val_tasks, "val_pairs": self.val_pairs,
            "distinct_texts": self.distinct_texts, "tokens_cached": self.tokens_cached,
            "cache_seconds": round(self.cache_seconds, 1), "train_seconds": round(self.train_seconds, 1),
            **self.extra,
        }


def bradley_terry_loss(chosen, rejected):
    """Mean of -log sigmoid(r_chosen - r_rejected) (logsigmoid is stable for large margins)."""
    import torch.nn.functional as F

    return -F.logsigmoid(chosen - rejected).mean()


def reranked_at_1_mean(tasks: Sequence[LabelledTask], scores: Sequence[Sequence[float]]) -> float | None:
    """Mean reranked@1 over tasks (ties at the top count as a random pick among them); None without
    tasks (a manifest is JSON, which has no NaN)."""
    from rrr_cli.metrics import reranked_at_1

    if not tasks:
        return None
    return sum(reranked_at_1(list(s), t.passed) for t, s in zip(tasks, scores)) / len(tasks)


class _StateCache:
    """Frozen-trunk states per distinct (prompt, completion), computed in length-sorted batches."""

    def __init__(self, model: RewardModel, batch_size: int):
        self.model = model
        self.batch_size = batch_size
        self.states: dict[tuple[str, str], Any] = {}
        self.tokens = 0

    def fill(self, texts: Sequence[tuple[str, str]], progress: Callable[[int], None] | None = None) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in self.states]
        encoded = {t: self.model.encode(*t) for t in todo}
        todo.sort(key=lambda t: len(encoded[t]))
        for start in range(0, len(todo), self.batch_size):
            chunk = todo[start:start + self.batch_size]
            for text, states in zip(chunk, self.model.trunk_states([encoded[t] for t in chunk])):
                self.states[text] = states
                self.tokens += states.hidden.shape[0]
            if progress:
                progress(len(chunk))

    def __getitem__(self, text: tuple[str, str]):
        return self.states[text]


def _score_tasks(model: RewardModel, cache: _StateCache, tasks: Sequence[LabelledTask],
                 batch_size: int, confidence: dict[tuple[str, str], list[float]]) -> list[list[float]]:
    import torch

    texts = [(t.prompt, c) for t in tasks for c in t.completions]
    values: dict[tuple[str, str], float] = {}
    order = sorted(dict.fromkeys(texts), key=lambda t: cache[t].hidden.shape[0])
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            rows = [confidence[t] for t in chunk] if confidence else None
            for text, value in zip(chunk, model.score_from_states([cache[t] for t in chunk], rows).float().tolist()):
                values[text] = value
    return [[values[(t.prompt, c)] for c in t.completions] for t in tasks]


def _score_tasks_pooled(model: RewardModel, pooled_of: dict[tuple[str, str], Any], tasks: Sequence[LabelledTask],
                        confidence: dict[tuple[str, str], list[float]]) -> list[list[float]]:
    """`_score_tasks` for a frozen trunk: the head on each text's pooled state, all at once."""
    import torch

    texts = list(dict.fromkeys((t.prompt, c) for t in tasks for c in t.completions))
    if not texts:
        return [[] for _ in tasks]
    with torch.inference_mode():
        pooled = torch.stack([pooled_of[t] for t in texts]).to(model.device)
        rows = [confidence[t] for t in texts] if confidence else None
        values = dict(zip(texts, model.head_scores(pooled, rows).float().tolist()))
    return [[values[(t.prompt, c)] for c in t.completions] for t in tasks]


def _pooled_of(model: RewardModel, texts: Sequence[tuple[str, str]], batch_size: int,
               place: distributed.World, progress: Callable[[int], None] | None = None) -> dict[tuple[str, str], Any]:
    """Each text's pooled final state of the frozen trunk (on the CPU; `RewardModel.pooled_texts`, a
    prompt evaluated once for all its completions); under torchrun `texts` is this process's share and
    the result holds every process's."""
    rows = model.pooled_texts([model.encode(*t) for t in texts], batch_size, progress) if texts else None
    pooled_of: dict[tuple[str, str], Any] = {}
    # One tensor per process travels (a row of it alone would pickle the whole matrix).
    for share, matrix in distributed.all_gather((list(texts), rows)):
        pooled_of.update(zip(share, matrix if matrix is not None else []))
    return pooled_of


def _extra_table(settings: RewardModelSettings, train_pairs: Sequence[Pair], val_tasks: Sequence[LabelledTask],
                 evidence: dict[tuple[str, str], list[float]] | None) -> dict[tuple[str, str], list[float]]:
    """The head's extra inputs per (prompt, completion): confidence (`_confidence_table`), then the
    execution evidence, which every training and validation text must have."""
    if not extra_inputs(settings):
        return {}
    texts = list(dict.fromkeys([(p.prompt, t) for p in train_pairs for t in (p.chosen, p.rejected)]
                               + [(t.prompt, c) for t in val_tasks for c in t.completions]))
    table = _confidence_table(train_pairs, val_tasks) if settings.confidence else {t: [] for t in texts}
    if settings.evidence_inputs:
        lacking = [t for t in texts if t not in (evidence or {})]
        if lacking:
            raise RrrError(f"{len(lacking)} of {len(texts)} completions have no execution evidence, which this "
                           "reranker reads (train on CANDIDATES VERDICTS, or with --features text)")
        table = {t: list(table[t]) + list(evidence[t]) for t in texts}  # type: ignore[index]
    return table


def _confidence_table(train_pairs: Sequence[Pair], val_tasks: Sequence[LabelledTask]) -> dict[tuple[str, str], list[float]]:
    """Generator-confidence inputs per (prompt, completion): from the pairs and the validation tasks.

    Every training text must have them; a validation text without them gets its set's lowest."""
    table: dict[tuple[str, str], list[float] | None] = {}
    for pair in train_pairs:
        for side, text in (("chosen", pair.chosen), ("rejected", pair.rejected)):
            table.setdefault((pair.prompt, text), confidence_inputs(pair_logprobs(pair, side)))
    lacking = sum(value is None for value in table.values())
    if lacking:
        raise RrrError(f"{lacking} of {len(table)} training completions have no generator log-probs, which this "
                       "reranker reads (make pairs from `rrr sample` output, or train with --no-confidence)")
    val = {(t.prompt, c): confidence_inputs(t.logprobs_of(c)) for t in val_tasks for c in t.completions}
    val = {k: v for k, v in val.items() if k not in table}
    table.update(zip(val, fill_confidence(list(val.values()))))
    return table  # type: ignore[return-value]


def _pooled_all(model: RewardModel, cache: _StateCache, texts: Sequence[tuple[str, str]], batch_size: int):
    """Pooled final states of `texts` (rows in order), without a graph."""
    import torch

    order = sorted(range(len(texts)), key=lambda i: cache[texts[i]].hidden.shape[0])
    rows: list = [None] * len(texts)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            for i, vector in zip(chunk, model.pooled_from_states([cache[texts[i]] for i in chunk])):
                rows[i] = vector
    return torch.stack(rows)


def _pairwise_accuracy(pairs: Sequence[Pair], scores: dict[tuple[str, str], float]) -> float | None:
    """The share of pairs scored the right way round; None without pairs (validation tasks that all
    pass or all fail give none, and a manifest is JSON, which has no NaN)."""
    if not pairs:
        return None
    wins = sum(scores[(p.prompt, p.chosen)] > scores[(p.prompt, p.rejected)] for p in pairs)
    return wins / len(pairs)


def train_reward_model(pairs: Sequence[Pair], config: RewardTrainingConfig | None = None,
                       val_tasks: Sequence[LabelledTask] | None = None,
                       model: RewardModel | None = None,
                       log: Callable[[str], None] | None = None,
                       progress: Callable[[str, int, int], None] | None = None,
                       evidence: dict[tuple[str, str], list[float]] | None = None) -> TrainingResult:
    """Train a reward model on `pairs` with the Bradley-Terry loss.

    Validation: `val_tasks` (whole tasks with all their labelled candidates) when given; otherwise
    `config.validation_fraction` of the pairs' tasks are held out and their tasks rebuilt from the
    pairs. Pairs of validation tasks never reach training. `model` continues training an existing
    reward model (selftrain's next iteration); by default a fresh one is built on the base model.
    `log` gets one line per epoch; `progress(stage, done, total)` is called as work advances.
    `evidence` holds each (prompt, completion)'s execution-evidence row, for a head that reads it.
    """
    import torch

    config = config or RewardTrainingConfig()
    config.check()
    pairs = list(pairs)
    if not pairs:
        raise RrrError("no training pairs (need tasks with both passing and failing candidates)")
    place = distributed.setup()
    log = log if log and place.main else (lambda line: None)
    progress = progress if place.main else None
    if val_tasks is None:
        train_pairs, held_pairs = split_by_task(pairs, config.validation_fraction, config.seed)
        val_tasks = labelled_from_pairs(held_pairs)
    else:
        held = {t.task_id for t in val_tasks}
        train_pairs = [p for p in pairs if p.task_id not in held]
        held_pairs = [p for p in pairs if p.task_id in held]
    val_tasks = [t for t in val_tasks if t.completions]
    if not train_pairs:
        raise RrrError("no training pairs left after holding out the validation tasks")
    val_pairs = [Pair(t.task_id, t.language, t.prompt, c, r)
                 for t in val_tasks for c, ok_c in zip(t.completions, t.passed) if ok_c
                 for r, ok_r in zip(t.completions, t.passed) if not ok_r] or held_pairs

    torch.manual_seed(config.seed)
    fresh = model is None
    model = model or RewardModel.from_base(config.model_name_or_path, config.settings(), seed=config.seed,
                                           device=distributed.device(place, config.device))
    if config.bf16 is not None:
        model.use_bf16 = config.bf16
    confidence = _extra_table(model.settings, train_pairs, val_tasks, evidence)
    column = examples_column(model.settings)
    if column is not None:  # the examples order the tiers; the head learns within one
        train_pairs = [p for p in train_pairs
                       if confidence[(p.prompt, p.chosen)][column] == confidence[(p.prompt, p.rejected)][column]]
        log(f"examples first: the head trains on the {len(train_pairs)} pairs that pass as many examples")
        if not train_pairs:
            raise RrrError("no training pairs pass as many examples on both sides (the head would learn nothing)")
    cache = _StateCache(model, config.per_device_eval_batch_size)
    train_texts = list(dict.fromkeys((p.prompt, t) for p in train_pairs for t in (p.chosen, p.rejected)))
    texts = list(dict.fromkeys(train_texts + [(t.prompt, c) for t in val_tasks for c in t.completions]))
    distinct = len(texts)
    lora_params = [p for p in model.trunk.parameters() if p.requires_grad]
    head_only = not lora_params
    # A frozen trunk's pass is shared out (texts dealt by length, so the shares cost alike); with
    # LoRA every process needs every text's states.
    mine = texts
    if head_only and place.distributed:
        mine = distributed.shard(sorted(texts, key=lambda t: len(t[0]) + len(t[1])), place)
    started = time.perf_counter()
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        if progress:
            progress("caching trunk states", done, len(mine))

    pooled_of = None
    if head_only:
        pooled_of = _pooled_of(model, mine, config.per_device_eval_batch_size, place, advance)
        tokens = int(distributed.sum_floats([sum(len(model.encode(*t)) for t in mine)])[0])
    else:
        cache.fill(mine, advance)
        tokens = int(distributed.sum_floats([cache.tokens])[0])
    cache_seconds = time.perf_counter() - started
    source = {"llama.cpp": "llama.cpp", "none": "no (none read)"}.get(model.settings.states, "frozen-trunk")
    log(f"{'pooled' if head_only else 'cached'} {source} states for {distinct} distinct texts ({tokens} tokens"
        f"{', each prompt evaluated once' if head_only else ''}) "
        f"in {cache_seconds:.0f}s ({tokens / max(cache_seconds, 1e-9):.0f} tokens/s)"
        + (f" over {place.size} processes" if place.distributed else ""))

    pooled = None
    if head_only:
        pooled = torch.stack([pooled_of[t] for t in train_texts]).to(model.device)
    elif fresh and model.settings.projection:
        pooled = _pooled_all(model, cache, train_texts, config.per_device_eval_batch_size)
    if fresh and model.settings.projection:
        model.head.fit_projection(pooled)
        log(f"head reads the top {model.settings.projection} principal components of {len(train_texts)} "
            f"training completions' pooled states" + (" and the generator's log-probs" if model.settings.confidence else "")
            + (" and the execution evidence" if model.settings.evidence_inputs else ""))
    # Every process starts from rank 0's weights (they agree already: same seed, same data).
    distributed.broadcast_parameters([*model.trainable_parameters(), *model.head.buffers()])
    penalty = getattr(model.head, "penalty", None)

    def regularised(loss, share: float = 1.0):
        """The loss plus the head's weight penalty (`share` of it: each process adds its part)."""
        return loss + share * config.head_l2 * penalty() if penalty is not None and config.head_l2 else loss

    if head_only:
        optimizer = torch.optim.Adam(model.head.parameters(), lr=config.head_only_learning_rate)
        where = {t: i for i, t in enumerate(train_texts)}
        chosen_rows = torch.tensor([where[(p.prompt, p.chosen)] for p in train_pairs])
        rejected_rows = torch.tensor([where[(p.prompt, p.rejected)] for p in train_pairs])
        rows = torch.tensor([confidence[t] for t in train_texts]) if confidence else None  # built once
    else:
        groups = [{"params": list(model.head.parameters()), "lr": config.head_learning_rate},
                  {"params": lora_params, "lr": config.learning_rate}]
        optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
        global_batch = config.per_device_train_batch_size * place.size
        steps_per_epoch = math.ceil(len(train_pairs) / global_batch)
        total_steps = steps_per_epoch * config.num_train_epochs
        warmup = max(1, int(config.warmup_ratio * total_steps))
        # Linear warmup then linear decay, as TRL/transformers' default schedule.
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps - warmup))))

    rng = random.Random(config.seed)
    epochs: list[EpochMetrics] = []
    best_key, best_state, best_epoch = None, None, None
    train_started = time.perf_counter()
    for epoch in range(1, config.num_train_epochs + 1):
        epoch_started = time.perf_counter()
        if head_only:
            # All pairs at once: the pooled states are fixed, so a step is one small matrix product.
            for step in range(config.head_only_steps_per_epoch):
                scores = model.head_scores(pooled, rows)
                chosen, rejected = scores[chosen_rows], scores[rejected_rows]
                loss = bradley_terry_loss(chosen, rejected)
                optimizer.zero_grad(set_to_none=True)
                regularised(loss).backward()
                optimizer.step()
                if progress:
                    progress(f"epoch {epoch}/{config.num_train_epochs}", step + 1, config.head_only_steps_per_epoch)
            with torch.no_grad():
                scores = model.head_scores(pooled, rows)
                chosen, rejected = scores[chosen_rows], scores[rejected_rows]
                train_loss = float(bradley_terry_loss(chosen, rejected))
                wins = int((chosen > rejected).sum())
        else:
            model.trunk.train()
            order = list(train_pairs)
            rng.shuffle(order)
            losses, wins = [], 0
            for step in range(steps_per_epoch):
                batch = order[step * global_batch:(step + 1) * global_batch]
                local = distributed.shard(batch, place)  # this process's share of the global batch
                optimizer.zero_grad(set_to_none=True)
                if local:
                    # A text shared by several pairs in the batch runs once.
                    batch_texts = list(dict.fromkeys((p.prompt, t) for p in local for t in (p.chosen, p.rejected)))
                    where = {t: i for i, t in enumerate(batch_texts)}
                    scores = model.score_from_states([cache[t] for t in batch_texts],
                                                     [confidence[t] for t in batch_texts] if confidence else None)
                    chosen = scores[[where[(p.prompt, p.chosen)] for p in local]]
                    rejected = scores[[where[(p.prompt, p.rejected)] for p in local]]
                    loss = bradley_terry_loss(chosen, rejected)
                    # Scaled by this share of the global batch: the summed gradients are the global mean's.
                    regularised(loss * (len(local) / len(batch)), share=1 / place.size).backward()
                    losses.append(float(loss.detach()) * len(local))
                    wins += int((chosen > rejected).sum())
                elif penalty is not None and config.head_l2:
                    regularised(0.0, share=1 / place.size).backward()
                distributed.sum_gradients(model.trainable_parameters())
                torch.nn.utils.clip_grad_norm_(model.trainable_parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                if progress:
                    progress(f"epoch {epoch}/{config.num_train_epochs}", step + 1, steps_per_epoch)
            loss_sum, wins = distributed.sum_floats([sum(losses), wins])
            train_loss, wins = loss_sum / len(train_pairs), int(wins)
        model.trunk.eval()
        val_acc = val_r1 = None
        if val_tasks:
            if pooled_of is not None:
                task_scores = _score_tasks_pooled(model, pooled_of, val_tasks, confidence)
            else:
                task_scores = _score_tasks(model, cache, val_tasks, config.per_device_eval_batch_size, confidence)
            by_text = {(t.prompt, c): s for t, row in zip(val_tasks, task_scores) for c, s in zip(t.completions, row)}
            val_acc = _pairwise_accuracy(val_pairs, by_text)
            val_r1 = reranked_at_1_mean(val_tasks, task_scores)
        metrics = EpochMetrics(epoch, train_loss, wins / len(train_pairs), val_acc, val_r1,
                               time.perf_counter() - epoch_started)
        epochs.append(metrics)
        log(metrics.describe())
        if config.load_best_model_at_end and val_tasks:
            key = (_nan_low(val_r1), _nan_low(val_acc))
            if best_key is None or key > best_key:
                best_key, best_state, best_epoch = key, model.trainable_state(), epoch
    if best_state is not None and best_epoch != len(epochs):
        model.load_trainable_state(best_state)
        log(f"kept epoch {best_epoch} (best validation reranked@1)")
    model.trunk.eval()
    return TrainingResult(
        model=model, epochs=epochs, best_epoch=best_epoch if best_state is not None else len(epochs),
        train_tasks=len({p.task_id for p in train_pairs}), train_pairs=len(train_pairs),
        val_tasks=len(val_tasks), val_pairs=len(val_pairs), distinct_texts=distinct,
        cache_seconds=cache_seconds, train_seconds=time.perf_counter() - train_started,
        tokens_cached=tokens, extra={"processes": place.size} if place.distributed else {})


def _nan_low(value: float | None) -> float:
    return -1.0 if value is None or math.isnan(value) else value


def train_and_save(pairs: Sequence[Pair], config: RewardTrainingConfig, name: str | None = None,
                   val_tasks: Sequence[LabelledTask] | None = None,
                   training_data: dict[str, Any] | None = None,
                   log: Callable[[str], None] | None = None,
                   progress: Callable[[str, int, int], None] | None = None,
                   evidence: dict[tuple[str, str], list[float]] | None = None,
                   directory: Any = None) -> tuple[TrainingResult, Any]:
    """Train on `pairs` and save the reranker under the rerankers dir as `name` (default: a dated
    name), or at `directory` when given (selftrain keeps each iteration's reranker in its run).
    Returns (result, directory). This is the entry point `rrr train-reranker` and selftrain call."""
    place = distributed.setup()
    name = distributed.broadcast(name or new_reranker_name())  # rank 0's dated name, on every process
    if not name or "/" in name or name.startswith("."):
        raise RrrError(f"invalid reranker name {name!r}")
    result = train_reward_model(pairs, config, val_tasks=val_tasks, log=log, progress=progress, evidence=evidence)
    kinds: dict[str, int] = {}
    for pair in pairs:
        kinds[pair.kind_] = kinds.get(pair.kind_, 0) + 1
    manifest = {
        "training_data": {**(training_data or {}), "pairs": len(pairs), "pair_kinds": kinds,
                          "tasks": len({p.task_id for p in pairs})},
        "training_config": {k: v for k, v in asdict(config).items() if k != "device"},
        "metrics": result.metrics(),
    }
    directory = Path(directory) if directory is not None else rerankers_dir() / name
    if place.main:  # one writer; the others wait until the reranker is in place
        directory = result.model.save(directory, manifest)
    distributed.barrier()
    return result, directory
