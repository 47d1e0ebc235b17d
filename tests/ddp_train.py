"""Train on toy data, in one process or as one of several under torchrun, and write what the training
produced: tests/test_distributed_training.py runs it both ways and compares.

    python tests/ddp_train.py head|lora BASE_DIR OUT.pt PER_DEVICE_BATCH    (the reward model)
    python tests/ddp_train.py ppo - OUT.pt PER_DEVICE_BATCH                  (PPO on tiny_lm's model)
    python tests/ddp_train.py leave - OUT.pt 0                               (join the group and leave it)
    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/ddp_train.py ...
"""

from __future__ import annotations

import random
import sys
from pathlib import Path


def toy_pairs(tasks: int = 16, seed: int = 0):
    """The chosen completion adds, the rejected one subtracts; the generator log-probs are noise."""
    from rrr_cli.records import Pair

    rng = random.Random(seed)
    pairs = []
    for t in range(tasks):
        for _ in range(2):
            a = rng.randint(1, 9)
            pairs.append(Pair(f"t{t}", "python", f"def f{t}(x):\n", f"    return x + {a}\n", f"    return x - {a}\n",
                              chosen_logprob_sum=rng.uniform(-9, -1), chosen_n_tokens=10,
                              rejected_logprob_sum=rng.uniform(-9, -1), rejected_n_tokens=10))
    return pairs


def train_reward(mode: str, base: str, out: str, batch: int) -> None:
    import torch

    from rrr_cli.training import distributed
    from rrr_cli.training.train_reward import RewardTrainingConfig, train_and_save

    torch.set_num_threads(1)
    if mode == "head":  # the default recipe: a frozen trunk, a projected head reading the log-probs
        config = RewardTrainingConfig(model_name_or_path=base, num_train_epochs=2, projection=4, bf16=False,
                                      validation_fraction=0.25, seed=0, per_device_eval_batch_size=4)
    else:  # LoRA on the top layer, trained in mini-batches of pairs
        config = RewardTrainingConfig(model_name_or_path=base, num_train_epochs=2, trainable_layers=1,
                                      projection=0, confidence=False, learning_rate=3e-3, head_learning_rate=1e-2,
                                      per_device_train_batch_size=batch, validation_fraction=0.25, bf16=False,
                                      seed=0)
    pairs = toy_pairs()
    result, directory = train_and_save(pairs, config, name="ddp")
    texts = [(p.prompt, c) for p in pairs for c in (p.chosen, p.rejected)]
    logprobs = [(p.chosen_logprob_sum, 10) if c == p.chosen else (p.rejected_logprob_sum, 10)
                for p in pairs for c in (p.chosen, p.rejected)]
    scores = result.model.score_texts(texts, logprobs=logprobs)
    place = distributed.world()
    everyone = distributed.all_gather(scores)
    if place.main:
        torch.save({"world_size": place.size, "directory": str(directory), "scores": scores,
                    "scores_by_rank": everyone, "state": result.model.trainable_state(),
                    "epochs": [(e.train_loss, e.train_pairwise_accuracy, e.val_pairwise_accuracy, e.val_reranked_at_1)
                               for e in result.epochs]}, out)


# Eight prompts of the same length (no padding, so a batch of 8 and two of 4 run the same numbers).
PPO_PROMPTS = [f"def {name}(x):" for name in "abcdefgh"]


def letters_reward(prompts, completions):
    return [float(sum(c.isalpha() and c.islower() for c in text)) for text in completions]


def train_ppo(out: str, batch: int) -> None:
    """Three PPO steps on the global batch of all eight prompts. top_p this small keeps only the most
    likely token, so the rollouts do not depend on how the batch is split: the updates can be compared."""
    import torch

    from rrr_cli.training import distributed
    from rrr_cli.training.ppo import PPOConfig, PPOTrainer
    from tiny_lm import tiny_model, tiny_tokenizer

    torch.set_num_threads(1)
    config = PPOConfig(learning_rate=1e-2, batch_size=batch, mini_batch_size=batch, ppo_epochs=2,
                       max_new_tokens=8, kl_coef=0.05, target_kl=0.0, top_p=1e-6, seed=0)
    trainer = PPOTrainer(tiny_model(), tiny_tokenizer(), letters_reward, config)
    history = trainer.train(PPO_PROMPTS, steps=3)
    directory = trainer.save(Path(out).with_name("policy"))
    place = distributed.world()
    state = {name: p.detach().clone() for name, p in trainer.policy.named_parameters() if p.requires_grad}
    state.update({f"value_head.{k}": v.clone() for k, v in trainer.value_head.state_dict().items()})
    everyone = distributed.all_gather(state)
    if place.main:
        torch.save({"world_size": place.size, "directory": str(directory), "state": state,
                    "state_by_rank": everyone,
                    "history": [{k: v for k, v in h.items() if not k.startswith("seconds")} for h in history]}, out)


def leave(out: str) -> None:
    """Join the group, import torch.distributed.nn.functional after joining (as transformers does when it
    loads a model), run a collective and leave: every process writes its thread counts, and the group's
    threads must be gone once it has left."""
    import os

    import torch

    from rrr_cli.training import distributed

    def threads() -> int:
        return len(os.listdir("/proc/self/task"))

    alone = threads()
    place = distributed.setup()
    import torch.distributed.nn.functional  # noqa: F401

    distributed.all_gather(torch.ones(2))
    joined = threads()
    distributed.teardown()
    torch.save({"world_size": place.size, "alone": alone, "joined": joined, "left": threads()},
               out if place.main else f"{out}.{place.rank}")


if __name__ == "__main__":
    if sys.argv[1] == "leave":
        leave(sys.argv[3])
    elif sys.argv[1] == "ppo":
        train_ppo(sys.argv[3], int(sys.argv[4]))
    else:
        train_reward(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
