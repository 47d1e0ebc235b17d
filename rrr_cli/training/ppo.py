"""PPO for a causal LM against a scalar reward: LoRA policy, value head, GAE, clipped surrogate, KL penalty.

Compact by design (TRL 1.x no longer ships a PPO trainer). The policy is the base model with LoRA
adapters (peft); the frozen reference policy is the same model with the adapters disabled, so there
is no second copy of the weights. A linear value head reads the policy's last hidden state. Each
`PPOTrainer.step(prompts)`:

1. samples one completion per prompt from the policy (rollout);
2. scores it with `reward_fn(prompts, completions)` (in self-training: the reranker's score);
3. builds per-token rewards: `-kl_coef * (log pi - log pi_ref)` on every token, plus the score on
   the last one;
4. estimates advantages with GAE(gamma, lam) against the value head;
5. runs `ppo_epochs` passes of minibatch updates of the clipped surrogate objective plus the
   clipped value loss, stopping early when the approximate KL to the rollout policy passes
   `1.5 * target_kl`.

Names follow TRL's PPOConfig so its users recognise them.

Under `torchrun --nproc_per_node N` (see `training.distributed`) each process rolls out its share of a
global batch of `batch_size * N` prompts (`batch_size` is per process, as TRL's per-device sizes);
advantages (and rewards, when whitened) are normalised with the global batch's statistics, gradients are
summed across processes before each step, early stopping looks at the global approximate KL, and the
step's statistics are the global batch's. Sampling draws differ from one process's (each process has
its own seed), so a run agrees with a single-process run in expectation; with the rollouts fixed, the
updates are the same. Only rank 0 saves.
"""

from __future__ import annotations

import json
import math
import os
import time
import typing
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F

from rrr_cli.atomic import atomic_dir
from rrr_cli.errors import RrrError
from rrr_cli.records import check_value, read_json_file
from rrr_cli.training import distributed

RewardFn = Callable[[list[str], list[str]], Sequence[float]]

VALUE_HEAD_FILE = "value_head.pt"
CONFIG_FILE = "ppo_config.json"


@dataclass
class PPOConfig:
    """Every knob of a PPO run (names as in TRL's PPOConfig, plus the LoRA shape)."""

    learning_rate: float = 1e-4
    batch_size: int = 8  # rollouts (prompts) per step
    mini_batch_size: int = 4  # rollouts per gradient step
    ppo_epochs: int = 2  # passes over each batch
    cliprange: float = 0.2  # policy ratio clip
    cliprange_value: float = 0.2  # value prediction clip
    vf_coef: float = 0.1  # weight of the value loss
    gamma: float = 1.0  # discount
    lam: float = 0.95  # GAE lambda
    kl_coef: float = 0.05  # weight of the per-token KL penalty to the reference policy
    target_kl: float = 1.0  # stop a step's epochs once approx KL > 1.5 * target_kl; 0 disables
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int = 0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    max_grad_norm: float = 1.0
    whiten_rewards: bool = False  # normalise scores within a batch (helps when the scale is unknown)

    def __post_init__(self) -> None:
        checks = [
            (self.learning_rate > 0, "learning_rate must be positive"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (1 <= self.mini_batch_size <= self.batch_size, "mini_batch_size must be in 1..batch_size"),
            (self.ppo_epochs >= 1, "ppo_epochs must be at least 1"),
            (self.cliprange > 0 and self.cliprange_value > 0, "cliprange and cliprange_value must be positive"),
            (0 <= self.gamma <= 1 and 0 <= self.lam <= 1, "gamma and lam must be in [0, 1]"),
            (self.kl_coef >= 0 and self.target_kl >= 0, "kl_coef and target_kl must be >= 0"),
            (self.max_new_tokens >= 1, "max_new_tokens must be at least 1"),
            (self.temperature > 0, "temperature must be positive"),
            (0 < self.top_p <= 1, "top_p must be in (0, 1]"),
            (self.lora_r >= 1, "lora_r must be at least 1"),
        ]
        for ok, message in checks:
            if not ok:
                raise RrrError(f"PPO config: {message}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PPOConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RrrError(f"PPO config: unknown setting(s) {', '.join(unknown)}")
        hints = typing.get_type_hints(cls)
        return cls(**{name: check_value(value, hints[name], f"PPO config: setting {name!r}")
                      for name, value in data.items()})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1)


def masked_whiten(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Zero mean and unit variance over the masked positions of the global batch (all processes')."""
    total, count = distributed.sum_floats([(values * mask).sum().item(), mask.sum().item()])
    mean = total / max(count, 1.0)
    spread, = distributed.sum_floats([(((values - mean) ** 2) * mask).sum().item()])
    return (values - mean) * (spread / max(count, 1.0) + 1e-8) ** -0.5


def gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimates and returns over response tokens (batch x time).

    Positions past a sequence's end have zero reward and value, so they add nothing."""
    rewards, values = rewards * mask, values * mask
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.shape[0], device=rewards.device, dtype=rewards.dtype)
    steps = rewards.shape[1]
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(running)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    return advantages * mask, (advantages + values) * mask


def add_lora(model: torch.nn.Module, config: PPOConfig):
    """Wrap `model` with fresh LoRA adapters (the policy); the base weights stay frozen."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(config.seed)
    lora = LoraConfig(r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                      task_type="CAUSAL_LM", target_modules="all-linear")
    return get_peft_model(model, lora)


class PPOTrainer:
    """PPO on a LoRA policy built over `model`; `step(prompts)` runs one rollout + update round."""

    def __init__(self, model: torch.nn.Module, tokenizer, reward_fn: RewardFn, config: PPOConfig | None = None,
                 policy=None, value_head: torch.nn.Module | None = None):
        self.config = config or PPOConfig()
        self.place = distributed.setup()
        self.tokenizer = tokenizer
        self.reward_fn = reward_fn
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.policy = policy if policy is not None else add_lora(model, self.config)
        self.policy.eval()  # no dropout anywhere: rollouts and updates see the same function
        base = self.policy.get_base_model()
        self.device = next(base.parameters()).device
        hidden = base.config.get_text_config().hidden_size
        torch.manual_seed(self.config.seed + 1)
        self.value_head = value_head if value_head is not None else torch.nn.Linear(hidden, 1)
        self.value_head.to(self.device, dtype=torch.float32)
        params = [p for p in self.policy.parameters() if p.requires_grad] + list(self.value_head.parameters())
        distributed.broadcast_parameters(params)  # every process starts from rank 0's adapters and value head
        self.optimizer = torch.optim.AdamW(params, lr=self.config.learning_rate)
        self.steps = 0

    # -- model pieces ---------------------------------------------------------------------------

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, start: int, length: int,
                 with_values: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Log-probs of tokens start..start+length-1 of `input_ids` (and the values of their states).

        Only those positions go through the LM head: the full-vocabulary logits of the prompt are
        never needed, and they dominate memory for a 150k-token vocabulary."""
        base = self.policy.get_base_model()
        position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)  # as generate() does with left padding
        hidden = base.get_decoder()(input_ids=input_ids, attention_mask=attention_mask,
                                    position_ids=position_ids).last_hidden_state
        states = hidden[:, start - 1:start - 1 + length]
        logits = base.get_output_embeddings()(states).float() / self.config.temperature
        targets = input_ids[:, start:start + length]
        logprobs = torch.gather(F.log_softmax(logits, dim=-1), 2, targets.unsqueeze(-1)).squeeze(-1)
        values = self.value_head(states.float()).squeeze(-1) if with_values else None
        return logprobs, values

    @torch.no_grad()
    def generate(self, prompts: list[str], seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """Sample one completion per prompt: (prompt ids, response ids, response texts).

        Response ids are padded with the pad token after the first end-of-sequence token."""
        cfg = self.config
        if seed is not None:
            torch.manual_seed(seed)
        self.tokenizer.padding_side = "left"
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        output = self.policy.generate(
            **batch, do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, top_k=0,
            max_new_tokens=cfg.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id)
        query = batch["input_ids"]
        response = output[:, query.shape[1]:]
        mask = self._response_mask(response)
        response = torch.where(mask.bool(), response, torch.full_like(response, self.tokenizer.pad_token_id))
        texts = self.tokenizer.batch_decode(response, skip_special_tokens=True)
        return batch, response, texts

    def _response_mask(self, response: torch.Tensor) -> torch.Tensor:
        """1 for each token up to and including the first end-of-sequence token."""
        eos = self.tokenizer.eos_token_id
        if eos is None:
            return torch.ones_like(response, dtype=torch.float32)
        is_eos = (response == eos).int()
        after_eos = (is_eos.cumsum(-1) - is_eos) > 0
        return (~after_eos).float()

    # -- one PPO step ---------------------------------------------------------------------------

    def step(self, prompts: list[str]) -> dict[str, float]:
        """One rollout of `prompts` (len == batch_size is typical, any length works) and its update.

        Returns mean reward, KL to the reference (per sequence, summed over tokens), policy and
        value loss, clip fraction, approximate KL, response length and the number of epochs run."""
        cfg = self.config
        if not prompts:
            raise RrrError("PPO step needs at least one prompt")
        self.steps += 1
        started = time.perf_counter()
        # Each process draws its own samples (rank 0 as one process would).
        query, response, texts = self.generate(prompts, seed=cfg.seed * 100_003 + self.steps
                                               + 1_000_003 * self.place.rank)
        generated = time.perf_counter()
        scores = torch.tensor([float(s) for s in self.reward_fn(list(prompts), texts)], dtype=torch.float32,
                              device=self.device)
        if scores.shape[0] != len(prompts) or not torch.isfinite(scores).all():
            raise RrrError("reward function must return one finite number per prompt")
        input_ids = torch.cat([query["input_ids"], response], dim=1)
        mask = self._response_mask(response)
        attention_mask = torch.cat([query["attention_mask"], mask.long()], dim=1)
        start, length = query["input_ids"].shape[1], response.shape[1]

        scored = time.perf_counter()
        with torch.no_grad():
            old_logprobs, old_values = self._forward(input_ids, attention_mask, start, length)
            with self.policy.disable_adapter():
                ref_logprobs, _ = self._forward(input_ids, attention_mask, start, length, with_values=False)
            kl = (old_logprobs - ref_logprobs) * mask
            rewards = -cfg.kl_coef * kl
            final = scores
            count, total, squares = distributed.sum_floats([len(prompts), scores.sum().item(),
                                                            (scores ** 2).sum().item()])
            score_mean = total / count
            score_std = math.sqrt(max(0.0, squares - count * score_mean ** 2) / (count - 1)) if count > 1 else 0.0
            if cfg.whiten_rewards and count > 1:
                final = (scores - score_mean) / (score_std + 1e-8)
            last = (mask.sum(1).long() - 1).clamp(min=0)
            rewards[torch.arange(len(prompts), device=self.device), last] += final
            advantages, returns = gae(rewards, old_values, mask, cfg.gamma, cfg.lam)
            advantages = masked_whiten(advantages, mask) * mask

        totals = {"pg_loss": 0.0, "vf_loss": 0.0, "clipfrac": 0.0, "approx_kl": 0.0}
        updates, epochs_run, stop = 0, 0, False
        generator = torch.Generator().manual_seed(cfg.seed * 7919 + self.steps)
        for _ in range(cfg.ppo_epochs):
            epochs_run += 1
            order = torch.randperm(len(prompts), generator=generator).tolist()
            for begin in range(0, len(order), cfg.mini_batch_size):
                idx = torch.tensor(order[begin:begin + cfg.mini_batch_size], device=self.device)
                stats = self._update(input_ids[idx], attention_mask[idx], start, length, mask[idx],
                                     old_logprobs[idx], old_values[idx], advantages[idx], returns[idx])
                for key in totals:
                    totals[key] += stats[key]
                updates += 1
                # Every process stops at the same point: on the global approximate KL.
                approx_kl = distributed.sum_floats([stats["approx_kl"]])[0] / self.place.size
                if cfg.target_kl and approx_kl > 1.5 * cfg.target_kl:
                    stop = True
                    break
            if stop:
                break
        lengths = mask.sum(1)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        finished = time.perf_counter()
        # The global batch's figures (each process's own when there is one).
        size = self.place.size
        kl_sum, length_sum, *means = distributed.sum_floats(
            [kl.sum().item(), lengths.sum().item(), *(totals[key] / updates for key in totals)])
        return {
            "step": self.steps,
            "reward_mean": score_mean,
            "reward_std": score_std,
            "kl": kl_sum / count,
            **{key: value / size for key, value in zip(totals, means)},
            "response_length": length_sum / count,
            "epochs": epochs_run,
            # Wall-clock seconds of the step's phases (they vary run to run; nothing else does).
            "seconds_rollout": generated - started,
            "seconds_reward": scored - generated,
            "seconds_update": finished - scored,
        }

    def _update(self, input_ids, attention_mask, start, length, mask, old_logprobs, old_values, advantages,
                returns) -> dict[str, float]:
        cfg = self.config
        logprobs, values = self._forward(input_ids, attention_mask, start, length)
        ratio = torch.exp(logprobs - old_logprobs)
        pg_losses = torch.max(-advantages * ratio,
                              -advantages * torch.clamp(ratio, 1 - cfg.cliprange, 1 + cfg.cliprange))
        pg_loss = masked_mean(pg_losses, mask)
        clipped = old_values + torch.clamp(values - old_values, -cfg.cliprange_value, cfg.cliprange_value)
        vf_loss = 0.5 * masked_mean(torch.max((values - returns) ** 2, (clipped - returns) ** 2), mask)
        loss = pg_loss + cfg.vf_coef * vf_loss
        self.optimizer.zero_grad(set_to_none=True)
        # Each process's minibatch is its share of the global one: the summed gradients are their mean's.
        (loss / self.place.size).backward()
        params = [p for group in self.optimizer.param_groups for p in group["params"]]
        distributed.sum_gradients(params)
        torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
        self.optimizer.step()
        with torch.no_grad():
            clipfrac = masked_mean(((ratio - 1).abs() > cfg.cliprange).float(), mask).item()
            approx_kl = 0.5 * masked_mean((logprobs - old_logprobs) ** 2, mask).item()
        return {"pg_loss": pg_loss.item(), "vf_loss": vf_loss.item(), "clipfrac": clipfrac, "approx_kl": approx_kl}

    def train(self, prompts: Sequence[str], steps: int, on_step: Callable[[dict], None] | None = None
              ) -> list[dict[str, float]]:
        """`steps` PPO steps, each on the next `batch_size` prompts (cycling, in a seeded order); under
        torchrun, on the next `batch_size` prompts per process, each process taking its share."""
        if not prompts:
            raise RrrError("PPO training needs at least one prompt")
        order = list(prompts)
        generator = torch.Generator().manual_seed(self.config.seed)
        history = []
        cursor = len(order)
        for _ in range(steps):
            batch = []
            while len(batch) < self.config.batch_size * self.place.size:
                if cursor >= len(order):
                    order = [order[i] for i in torch.randperm(len(order), generator=generator).tolist()]
                    cursor = 0
                batch.append(order[cursor])
                cursor += 1
            stats = self.step(distributed.shard(batch, self.place))
            history.append(stats)
            if on_step:
                on_step(stats)
        return history

    # -- save / load ----------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> Path:
        """Write the LoRA adapter, the value head and the config to `path`, atomically (a directory
        renamed into place, so a crash never leaves a half-written policy)."""
        path = Path(path)
        if self.place.main:  # one writer; the others wait until the policy is in place
            with atomic_dir(path) as staging:
                self.policy.save_pretrained(staging)
                torch.save(self.value_head.state_dict(), staging / VALUE_HEAD_FILE)
                (staging / CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        distributed.barrier()
        return path

    @classmethod
    def load(cls, model: torch.nn.Module, tokenizer, path: str | os.PathLike, reward_fn: RewardFn | None = None,
             config: PPOConfig | None = None) -> "PPOTrainer":
        """A trainer over `model` with the saved adapter and value head (to continue or to sample)."""
        from peft import PeftModel

        path = Path(path)
        if not (path / "adapter_config.json").is_file():
            raise RrrError(f"{path}: not a saved PPO policy (no adapter_config.json)")
        saved = PPOConfig.from_dict(read_json_file(path / CONFIG_FILE, "policy settings"))
        policy = PeftModel.from_pretrained(model, path, is_trainable=True)
        hidden = model.config.get_text_config().hidden_size
        value_head = torch.nn.Linear(hidden, 1)
        value_head.load_state_dict(torch.load(path / VALUE_HEAD_FILE, map_location="cpu"))
        return cls(model, tokenizer, reward_fn or (lambda p, c: [0.0] * len(p)), config or saved,
                   policy=policy, value_head=value_head)


def load_policy_model(model: torch.nn.Module, path: str | os.PathLike) -> torch.nn.Module:
    """The base `model` with a saved PPO policy's adapter merged in: a plain causal LM to sample from."""
    from peft import PeftModel

    path = Path(path)
    if not (path / "adapter_config.json").is_file():
        raise RrrError(f"{path}: not a saved PPO policy (no adapter_config.json)")
    merged = PeftModel.from_pretrained(model, path).merge_and_unload()
    merged.eval()
    return merged


def summarize(history: list[dict[str, float]]) -> dict[str, float]:
    """First/last/mean of reward and KL over a run's steps (what the self-training report shows)."""
    if not history:
        return {"steps": 0}
    last = history[-1]
    tail = history[-max(1, math.ceil(len(history) / 4)):]
    return {
        "steps": len(history),
        "reward_first": history[0]["reward_mean"],
        "reward_last": last["reward_mean"],
        "reward_tail_mean": sum(h["reward_mean"] for h in tail) / len(tail),
        "kl_last": last["kl"],
        "kl_max": max(h["kl"] for h in history),
        "clipfrac_mean": sum(h["clipfrac"] for h in history) / len(history),
    }
