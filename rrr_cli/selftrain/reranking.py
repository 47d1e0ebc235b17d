"""The reranker inside the loop: `rrr train-reranker`'s recipe, trained through its entry point
(`training.train_reward.train_and_save`) and scored through the `Scorer` protocol (`RewardModelScorer`),
so a self-trained reranker is the same kind of object `rrr eval --reranker` and `rrr solve` use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from rrr_cli.records import Candidate, Pair, Task
from rrr_cli.selftrain.settings import SelfTrainConfig
from rrr_cli.training.pairs import LabelledTask

Groups = Sequence[tuple[Task, Sequence[Candidate]]]


def evidence_rows(groups: Groups) -> list[list[list[float]]]:
    """Per task, per candidate, the execution evidence the exec reranker reads (`ranking.evidence`),
    over the probes it is trained and scored with; eight tasks per sandbox batch."""
    from rrr_cli.ranking.evidence import Evidence

    provider = Evidence()
    out: list[list[list[float]]] = []
    for start in range(0, len(groups), 8):
        out.extend(provider.rows(groups[start:start + 8]))
    return out


def probes() -> str:
    from rrr_cli.ranking.evidence import Evidence

    return Evidence().probes


def recipe(config: SelfTrainConfig, seed: int, device: str):
    """`rrr train-reranker`'s training settings (its option defaults are RewardTrainingConfig's: a head on
    16 principal components of the pooled state and the generator's log-probs; the states from where
    `--states` says, auto as train-reranker resolves it), plus the execution evidence with `features`
    exec, as `rrr train-reranker CANDIDATES VERDICTS` trains by default."""
    from rrr_cli.ranking.evidence import EVIDENCE_INPUTS
    from rrr_cli.training.train_reward import RewardTrainingConfig, resolve_states

    base = config.reranker_base or config.generator or None
    rm = RewardTrainingConfig(model_name_or_path=base, seed=seed, device=device,
                              states=resolve_states(config.states, base, device=device))
    if config.features == "exec":
        rm.evidence_inputs, rm.evidence_probes = EVIDENCE_INPUTS, probes()
    return rm


def train_reranker(pairs: list[Pair], config: SelfTrainConfig, out_dir: Path, device: str, seed: int,
                   val_tasks: Sequence[LabelledTask], evidence: dict[tuple[str, str], list[float]] | None,
                   data: dict, log: Callable[[str], None] | None = None) -> str:
    """A fresh reward model from the base weights trained on all pairs so far (the accumulated set is the
    memory, not the weights), validated on `val_tasks`, saved atomically to `out_dir`; a one-line summary."""
    from rrr_cli.training.train_reward import train_and_save

    result, _ = train_and_save(pairs, recipe(config, seed, device), val_tasks=val_tasks, training_data=data,
                               log=log, evidence=evidence, directory=out_dir)
    return result.epochs[result.best_epoch - 1 if result.best_epoch else -1].describe()


def load_scorer(path: Path, device: str):
    """The reranker at `path` as a Scorer (adapters merged; the evidence it reads computed as it was)."""
    from rrr_cli.ranking.reward import RewardModelScorer

    return RewardModelScorer.load(str(path), device=device)
