"""The generation backend protocol: every backend (llama.cpp, transformers, vLLM) looks the same.

A backend turns rendered prompt strings into N continuations each. Prompt styles (completion vs
chat), candidate records and stop handling per language live above it, in `generation.sampling`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Iterator


@dataclass(frozen=True)
class SamplingParams:
    """What to sample; named as in vLLM so users of either recognise it."""

    n: int = 1
    temperature: float = 0.8
    top_p: float = 0.95
    max_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = 0
    logprobs: bool = True

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1 (got {self.n})")
        if not self.temperature >= 0 or self.temperature == float("inf"):  # NaN fails the first test
            raise ValueError(f"temperature must be a number >= 0 (got {self.temperature})")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (got {self.top_p})")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1 (got {self.max_tokens})")

    @property
    def is_greedy(self) -> bool:
        """Temperature 0: the most likely token every step, so one sequence stands for all `n`."""
        return self.temperature == 0


@dataclass
class Generation:
    """One sampled continuation of one prompt."""

    text: str  # the generated text, cut before the first stop string (which is not included)
    n_tokens: int  # tokens generated (those kept in `text`, counting the one that completed a stop)
    logprob_sum: float | None = None  # sum of log p(token) under the model (temperature 1)
    finish_reason: str = "length"  # "stop" | "length" | "eos"
    token_logprobs: list[float] = field(default_factory=list, repr=False)

    @property
    def mean_logprob(self) -> float | None:
        if self.logprob_sum is None or self.n_tokens == 0:
            return None
        return self.logprob_sum / self.n_tokens


class Backend(ABC):
    """A loaded model that samples continuations."""

    name: str = "backend"  # recorded as `backend` in every candidate
    model_name: str = ""  # recorded as `model`
    # Optional capability: how many prompts one `generate` call may batch together (a backend that
    # fills one batch from several prompts raises it; `sample_candidates` windows its tasks by it).
    prompt_window: int = 1

    @abstractmethod
    def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        """For each prompt, `params.n` generations. Seeded sampling repeats exactly.

        Sequence j of a prompt uses seed `params.seed + j`, so a candidate's seed is recorded and
        the same (prompt, seed) pair gives the same text whatever N was asked for, where the backend
        allows it.
        """

    def generate_stream(self, prompts: list[str], params: SamplingParams) -> Iterator[tuple[int, list[Generation]]]:
        """`generate`, each prompt's generations as (prompt index, generations) once they are done.

        Optional capability: a backend that finishes prompts while others are still sampling yields
        each as soon as its last sequence ends, in the order they end, so the caller can hand a long
        run of prompts over in one call (no thin batch between calls) and still stream results out.
        The default generates them all, then yields them in order.
        """
        yield from enumerate(self.generate(prompts, params))

    @abstractmethod
    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """The model's chat template applied to `messages`, ready for the assistant's reply."""

    def close(self) -> None:
        """Free the model's memory."""

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
