"""The parameters of a self-training run: one dataclass, two profiles, and `run.toml` round-trips.

A run's parameters are fixed when it starts and written to `run.toml`; `--resume` reads them back,
so a resumed run does exactly what the interrupted one would have done.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from rrr_cli.errors import RrrError
from rrr_cli.records import check_value, read_text_file

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class SelfTrainConfig:
    """Every knob of `rrr selftrain`; each is also a command-line option of the same name."""

    iterations: int = 3
    # Training tasks: MBPP train+validation and the HumanEval translations outside the held-out fold.
    tasks: list[str] = field(default_factory=lambda: ["mbpp", "multipl-e"])
    split: str = "train+validation"  # of MBPP (the other sources have no splits)
    mbpp_tasks: int = 8  # how many MBPP training tasks (0: all)
    train_per_language: int = 2  # training tasks per language from the other sources (0: all)
    # Held-out tasks: fold `heldout_fold` of `folds` by problem number (tasks.folds.fold_of), never
    # trained on in any language; folds 0 takes the held-out sources whole.
    heldout: list[str] = field(default_factory=lambda: ["multipl-e"])
    heldout_per_language: int = 8  # held-out tasks per language (0: all of the fold)
    folds: int = 2
    heldout_fold: int = 1
    # Sampling: the settings of `rrr eval`, so the base generator's held-out candidates are an eval run's.
    generator: str = ""  # catalog name, GGUF path or HF folder ("" = the configured default model)
    backend: str = "auto"  # sampling backend; a PPO policy uses llama.cpp on the CPU with a GGUF generator, else transformers
    n: int = 8
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512
    prompt_style: str = "auto"
    seed: int = 0
    exec_timeout_s: float = 10.0
    heldout_policy_n: int = 2  # candidates per held-out task from each iteration's PPO policy
    # The reranker: `rrr train-reranker`'s recipe (training.train_reward.RewardTrainingConfig's defaults).
    features: str = "exec"  # exec: the head also reads the execution evidence; text: the paper's reward model
    reranker_base: str = ""  # the reward model starts from these weights ("" = the generator)
    # Where the reranker's pooled states come from, as `rrr train-reranker --states`: auto is llama.cpp
    # for a GGUF base (the model rrr solve samples with), trunk for an HF folder.
    states: str = "auto"
    hard_negative_top_k: int = 1  # a failing candidate in the reranker's top k is a hard negative
    # PPO.
    no_ppo: bool = False  # the paper's other second iteration: hard negatives from the base generator's fresh samples
    ppo_steps: int = 2
    ppo_batch_size: int = 4
    ppo_mini_batch_size: int = 2
    ppo_epochs: int = 2
    ppo_learning_rate: float = 1e-4
    ppo_kl_coef: float = 0.05
    ppo_max_new_tokens: int = 192
    ppo_temperature: float = 0.8
    lora_r: int = 8
    device: str = "auto"  # auto | cpu | cuda

    def validate(self) -> "SelfTrainConfig":
        checks = [
            (self.iterations >= 1, "iterations must be at least 1"),
            (self.n >= 2, "n must be at least 2 (pairs need a passing and a failing candidate)"),
            (min(self.mbpp_tasks, self.train_per_language, self.heldout_per_language) >= 0,
             "task counts must be >= 0"),
            (self.folds >= 0 and (self.folds < 2 or 0 <= self.heldout_fold < self.folds),
             "heldout-fold must be in 0..folds-1 (folds 0: the held-out sources whole)"),
            (self.heldout_policy_n >= 1, "heldout-policy-n must be at least 1"),
            (self.temperature >= 0 and 0 < self.top_p <= 1, "temperature must be >= 0 and top-p in (0, 1]"),
            (self.max_tokens >= 1 and self.ppo_max_new_tokens >= 1, "token limits must be at least 1"),
            (self.prompt_style in ("auto", "chat", "completion"), "prompt-style must be auto, chat or completion"),
            (self.features in ("exec", "text"), "features must be exec or text"),
            (self.states in ("auto", "llama.cpp", "trunk", "none"), "states must be auto, llama.cpp, trunk or none"),
            (self.states != "none" or self.features == "exec", "states none needs features exec (the head reads "
             "log-probs and execution evidence alone)"),
            (self.hard_negative_top_k >= 1, "hard-negative-top-k must be at least 1"),
            (self.ppo_steps >= 0, "ppo-steps must be >= 0"),
            (1 <= self.ppo_mini_batch_size <= self.ppo_batch_size, "ppo-mini-batch-size must be in 1..ppo-batch-size"),
            (self.device in ("auto", "cpu", "cuda"), "device must be auto, cpu or cuda"),
            (bool(self.tasks), "no training task source"),
        ]
        for ok, message in checks:
            if not ok:
                raise RrrError(message)
        return self

    def ppo_config(self, iteration: int):
        """The PPO settings for one iteration's policy (seeded by run seed and iteration)."""
        from rrr_cli.training.ppo import PPOConfig

        return PPOConfig(learning_rate=self.ppo_learning_rate, batch_size=self.ppo_batch_size,
                         mini_batch_size=self.ppo_mini_batch_size, ppo_epochs=self.ppo_epochs,
                         kl_coef=self.ppo_kl_coef, max_new_tokens=self.ppo_max_new_tokens,
                         temperature=self.ppo_temperature, top_p=1.0, lora_r=self.lora_r, lora_alpha=2 * self.lora_r,
                         seed=self.seed * 1000 + iteration, whiten_rewards=True)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "") -> "SelfTrainConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise RrrError(f"{where}unknown setting(s): {', '.join(unknown)} (a run from an older rrr selftrain "
                           "cannot be resumed by this one; start a new run)")
        hints = typing.get_type_hints(cls)
        values = {name: check_value(value, hints[name], f"{where}setting {name!r}") for name, value in data.items()}
        return cls(**values).validate()


QUICK_SIZING = """How `--profile quick` is sized, and what it measured: 3 iterations in 82.8 min on 2 cores.

Settings: 8 MBPP + 2 HumanEval fold-A tasks per language for training (24 tasks, 16 outside Python),
64 held-out tasks (HumanEval fold B, 8 per language), 8 candidates, 2 PPO steps of 4 rollouts, 2 policy
candidates per held-out task.

Measured on a 2-core AMD EPYC (AVX-512, AVX512-BF16, no AMX), from an empty cache, nothing else
running (run s8, `/usr/bin/time -v`: 1:22:49 wall, peak RSS 10.3 GiB), wall seconds:
- once: held-out sampling 493, hidden tests 129, the fallback's examples and probes 317: 15.7 min;
- iteration 1: sampling 166, tests 31, evidence 123, reranker 74, scoring the held-out candidates 475
  (their evidence and trunk states, kept for later iterations), PPO 345, the policy's 128 held-out
  candidates: sampling 206, tests 30, scoring 217: 27.8 min;
- iterations 2 and 3: sampling from the policy 211 / 185, tests 36 / 33, evidence 131 / 111, scoring
  the training candidates 111 / 98, the reranker and the held-out scoring 3 / 3 (states kept), PPO
  284 / 244, the policy's held-out candidates 460 / 447: 20.6 / 18.7 min.
An earlier size (24 MBPP + 1 per language) took about 2 h 45 min with another job on the cores.
`--no-ppo` iterations skip PPO and the policy's held-out candidates (run s8-no-ppo's iteration 2: 6.5 min)."""

# Profiles fill in the knobs a user did not set; `quick` fits a 2-core CPU (QUICK_SIZING says how),
# `full` wants a GPU.
PROFILES: dict[str, dict[str, Any]] = {
    "quick": {},
    "full": {
        "mbpp_tasks": 0, "train_per_language": 0, "heldout_per_language": 0, "n": 16, "heldout_policy_n": 8,
        "ppo_steps": 100, "ppo_batch_size": 32, "ppo_mini_batch_size": 8, "ppo_epochs": 4,
        "ppo_max_new_tokens": 512, "lora_r": 16,
    },
}


def build_config(profile: str, overrides: dict[str, Any]) -> SelfTrainConfig:
    """The profile's settings with the options the user gave (None = not given) on top."""
    if profile not in PROFILES:
        raise RrrError(f"unknown profile {profile!r} (known: {', '.join(PROFILES)})")
    values = dict(PROFILES[profile])
    values.update({k: v for k, v in overrides.items() if v is not None})
    return SelfTrainConfig.from_dict(values)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's string escapes are valid TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def to_toml(config: SelfTrainConfig, run_id: str, created: str) -> str:
    lines = ["# rrr selftrain run parameters; `rrr selftrain --resume RUN` reads them back.",
             "[run]", f"id = {_toml_value(run_id)}", f"created = {_toml_value(created)}", "", "[selftrain]"]
    lines += [f"{key} = {_toml_value(value)}" for key, value in config.to_dict().items()]
    return "\n".join(lines) + "\n"


def read_toml(path: Path) -> tuple[SelfTrainConfig, dict[str, Any]]:
    """(config, [run] table) from a run's `run.toml`."""
    if not path.is_file():
        raise RrrError(f"{path}: no such file (not a selftrain run?)")
    try:
        data = tomllib.loads(read_text_file(path, "run settings"))
    except tomllib.TOMLDecodeError as exc:
        raise RrrError(f"{path}: invalid TOML: {exc}") from None
    for table in ("selftrain", "run"):
        if not isinstance(data.get(table, {}), dict):
            raise RrrError(f"{path}: [{table}] must be a table")
    return SelfTrainConfig.from_dict(data.get("selftrain", {}), where=f"{path}: "), data.get("run", {})
