"""The reranker inside the loop: train one on the accumulated pairs, load one to score candidates.

Thin glue over `rrr_cli.training` (the reward model and its trainer), so the loop reads in the
field's words and the reward model's API stays in one place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Sequence

from rrr_cli.records import Pair
from rrr_cli.selftrain.settings import SelfTrainConfig


class LoadedReranker:
    """A trained reward model with the adapters merged in, scoring (prompt, completion) texts."""

    def __init__(self, model):
        self.model = model

    def score_texts(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return self.model.score_texts(list(zip(prompts, completions)))


def load_reranker(path: Path, device: str) -> LoadedReranker:
    from rrr_cli.reranker import RewardModel

    return LoadedReranker(RewardModel.load(path, device=device, merge=True))


def train_reranker(pairs: list[Pair], config: SelfTrainConfig, out_dir: Path, device: str, seed: int,
                   log: Callable[[str], None] | None = None) -> str:
    """A reward model from `config.reranker_base` (or the generator) trained on `pairs`, saved to
    `out_dir` atomically; returns a one-line summary of how training went.

    Each iteration trains a fresh reward model from the base weights on all pairs so far (the
    accumulated set is the memory, not the weights), seeded per iteration so a rerun is identical."""
    from rrr_cli.training.train_reward import RewardTrainingConfig, train_reward_model

    rm_config = RewardTrainingConfig(
        model_name_or_path=config.reranker_base or config.generator or None, num_train_epochs=config.rm_epochs,
        learning_rate=config.rm_learning_rate, per_device_train_batch_size=config.rm_batch_size,
        max_length=config.rm_max_length, seed=seed, device=device,
        # LoRA on the top layers and a plain head: PPO scores the policy's own samples, which carry no
        # log-probs of the generator, so this reranker must not read them.
        trainable_layers=2, projection=0, confidence=False)
    result = train_reward_model(pairs, rm_config, log=log)
    result.model.save(out_dir, manifest={"metrics": result.metrics(), "pairs": len(pairs)})
    last = result.epochs[-1]
    return last.describe()
