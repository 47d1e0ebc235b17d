"""PPO on a tiny randomly initialised causal LM: the reward rises, the KL penalty holds the policy near
the reference, GAE is right, and a saved policy loads back to the same function."""

from __future__ import annotations

import pytest
import torch

from rrr_cli.errors import RrrError
from rrr_cli.training.ppo import PPOConfig, PPOTrainer, gae, load_policy_model, summarize
from tiny_lm import tiny_model, tiny_tokenizer

PROMPTS = ["def f(x):"] * 8 + ["hello "] * 8
LETTERS = set("abcdefghijklmnopqrstuvwxyz")


def letters_reward(prompts, completions):
    """Toy reward: how many generated characters are lowercase letters (about 1 in 10 at random)."""
    return [float(sum(c in LETTERS for c in text)) for text in completions]


def make_trainer(kl_coef: float, seed: int = 0) -> PPOTrainer:
    torch.set_num_threads(1)
    config = PPOConfig(learning_rate=1e-2, batch_size=16, mini_batch_size=8, ppo_epochs=2, max_new_tokens=16,
                       kl_coef=kl_coef, target_kl=0.0, seed=seed)
    return PPOTrainer(tiny_model(), tiny_tokenizer(), letters_reward, config)


def run(trainer: PPOTrainer, steps: int) -> list[dict]:
    return [trainer.step(PROMPTS) for _ in range(steps)]


def mean(values):
    values = list(values)
    return sum(values) / len(values)


def test_reward_rises_and_kl_stays_bounded():
    history = run(make_trainer(kl_coef=0.05), 30)
    # Step 1 samples from the reference itself: LoRA's B matrices start at zero.
    assert history[0]["kl"] == pytest.approx(0.0, abs=1e-4)
    head = mean(h["reward_mean"] for h in history[:5])
    tail = mean(h["reward_mean"] for h in history[-5:])
    assert tail > head + 2.0, (head, tail)
    assert all(h["kl"] < 80 for h in history)  # 16 tokens: < 5 nats a token from the reference
    summary = summarize(history)
    assert summary["steps"] == 30 and summary["reward_last"] == history[-1]["reward_mean"]


def test_kl_penalty_holds_policy_near_reference():
    free = run(make_trainer(kl_coef=0.0), 20)
    held = run(make_trainer(kl_coef=1.0), 20)
    free_kl = mean(h["kl"] for h in free[-5:])
    held_kl = mean(h["kl"] for h in held[-5:])
    assert held_kl < 0.5 * free_kl, (held_kl, free_kl)


def test_same_seed_same_run():
    first = run(make_trainer(kl_coef=0.05, seed=3), 3)
    second = run(make_trainer(kl_coef=0.05, seed=3), 3)
    untimed = [[{k: v for k, v in h.items() if not k.startswith("seconds_")} for h in r] for r in (first, second)]
    assert untimed[0] == untimed[1]


def test_gae_matches_hand_computation():
    rewards = torch.tensor([[0.0, 0.0, 1.0], [0.5, 2.0, 0.0]])
    values = torch.tensor([[0.1, 0.2, 0.3], [0.4, 0.5, 9.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])  # second sequence ends after 2 tokens
    gamma, lam = 0.9, 0.8
    advantages, returns = gae(rewards, values, mask, gamma, lam)
    d2 = 1.0 - 0.3
    d1 = 0.0 + gamma * 0.3 - 0.2
    d0 = 0.0 + gamma * 0.2 - 0.1
    a2, a1 = d2, d1 + gamma * lam * d2
    a0 = d0 + gamma * lam * a1
    e1 = 2.0 - 0.5  # the value past the end (9.0) must not leak in
    e0 = 0.5 + gamma * 0.5 - 0.4 + gamma * lam * e1
    expected = torch.tensor([[a0, a1, a2], [e0, e1, 0.0]])
    assert torch.allclose(advantages, expected, atol=1e-6)
    assert torch.allclose(returns, (expected + values) * mask, atol=1e-6)


def test_save_and_load_round_trip(tmp_path):
    trainer = make_trainer(kl_coef=0.05)
    run(trainer, 3)
    path = trainer.save(tmp_path / "policy")
    assert (path / "adapter_config.json").is_file() and (path / "value_head.pt").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left behind

    batch = trainer.tokenizer(["def f(x): return x"], return_tensors="pt")
    with torch.no_grad():
        want = trainer.policy(**batch).logits
    loaded = PPOTrainer.load(tiny_model(), tiny_tokenizer(), path)
    with torch.no_grad():
        got = loaded.policy(**batch).logits
    assert torch.allclose(want, got, atol=1e-5)
    assert torch.equal(loaded.value_head.weight, trainer.value_head.weight)
    merged = load_policy_model(tiny_model(), path)
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, want, atol=1e-4)
        assert not torch.allclose(tiny_model()(**batch).logits, want, atol=1e-4)  # it did learn something


def test_bad_config_and_reward_are_one_line_errors():
    with pytest.raises(RrrError, match="mini_batch_size"):
        PPOConfig(batch_size=4, mini_batch_size=8)
    with pytest.raises(RrrError, match="unknown setting"):
        PPOConfig.from_dict({"learning_rat": 1.0})
    trainer = PPOTrainer(tiny_model(), tiny_tokenizer(), lambda p, c: [float("nan")] * len(p),
                         PPOConfig(batch_size=2, mini_batch_size=2, max_new_tokens=4))
    with pytest.raises(RrrError, match="finite"):
        trainer.step(["a", "b"])
