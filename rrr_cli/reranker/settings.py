"""How a reward model is built (`RewardModelSettings`, kept in its manifest) and what its head reads
besides the pooled state: the generator's log-probs and the execution evidence, column by column."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

from rrr_cli.errors import RrrError


@dataclass
class RewardModelSettings:
    """How the reward model is built; stored in the manifest so a reranker loads as it was trained."""

    trainable_layers: int = 2  # top decoder layers that get LoRA; the ones below stay frozen
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    max_length: int = 512  # tokens of prompt + completion; longer inputs keep their last tokens
    pooling: str = "mean"  # "mean": over the completion's tokens and the end token; "last": the end token
    projection: int = 0  # > 0: the head reads the pooled state's top principal components (fitted on training texts)
    confidence: bool = False  # the head also reads the generator's log-probs of the completion
    # > 0: the head also reads this many numbers on what running the completion showed
    # (`ranking.evidence`: examples passed, its behaviour group), computed over `evidence_probes`.
    evidence_inputs: int = 0
    evidence_probes: str = ""
    # The examples first: a candidate that passes a bigger share of the prompt's examples ranks above one
    # that passes fewer, whatever the head says (the score adds `EXAMPLES_TIER` × that share), and the
    # head learns only the order within a tier (it trains on pairs that pass as many examples).
    examples_first: bool = False
    # Where the pooled states come from (`reranker.states`): "trunk", the torch decoder (transformers;
    # LoRA can train it); "llama.cpp", the base GGUF model as llama.cpp runs it (no trunk is loaded,
    # and `rrr solve` reads the states from the model it sampled with); "none": the head reads no
    # text, only the log-probs and the execution evidence. Training and scoring agree.
    states: str = "trunk"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


STATES = ("trunk", "llama.cpp", "none")


def check_states(states: str, where: str = "") -> None:
    if states not in STATES:
        raise RrrError(f"{where}unknown source of pooled states {states!r} (trunk, llama.cpp or none)")


# --- what the head reads besides the pooled state ---------------------------------------------------

CONFIDENCE_INPUTS = 3  # mean token log-prob, log-prob sum / 10, log(1 + tokens)
EXAMPLES_TIER = 1000.0  # `examples_first`: the score's step per share of the examples passed


def examples_column(settings: RewardModelSettings) -> int | None:
    """Where the share of examples passed sits in a text's extra inputs (`extra_rows`), when the
    reranker ranks by it first (`examples_first`); None otherwise."""
    if not (settings.examples_first and settings.evidence_inputs):
        return None
    return CONFIDENCE_INPUTS if settings.confidence else 0  # evidence rows start with examples_passed


def confidence_inputs(logprobs: tuple[float, int] | None) -> list[float] | None:
    """The generator-confidence inputs of one completion from its (log-prob sum, tokens)."""
    if logprobs is None or not logprobs[1]:
        return None
    total, tokens = logprobs
    return [total / tokens, total / 10.0, math.log1p(tokens)]


def fill_confidence(values: Sequence[list[float] | None]) -> list[list[float]]:
    """Inputs for every completion: one without log-probs gets the lowest known values (it ranks as
    the least confident of its batch, never the most)."""
    known = [v for v in values if v is not None]
    floor = [min(column) for column in zip(*known)] if known else [0.0] * CONFIDENCE_INPUTS
    return [v if v is not None else list(floor) for v in values]


def extra_inputs(settings: RewardModelSettings) -> int:
    """How many inputs the head reads besides the pooled state: confidence, then evidence."""
    return (CONFIDENCE_INPUTS if settings.confidence else 0) + settings.evidence_inputs


def extra_rows(settings: RewardModelSettings, logprobs: Sequence[tuple[float, int] | None],
               evidence: Sequence[list[float]] | None = None) -> list[list[float]] | None:
    """The head's extra inputs per text (None when it reads none): the confidence inputs (a text without
    log-probs gets its batch's lowest, see `fill_confidence`), then the evidence row."""
    if not extra_inputs(settings):
        return None
    rows: list[list[float]] = [[] for _ in logprobs]
    if settings.confidence:
        rows = [list(row) for row in fill_confidence([confidence_inputs(v) for v in logprobs])]
    if settings.evidence_inputs:
        if evidence is None or len(evidence) != len(rows) or any(len(e) != settings.evidence_inputs for e in evidence):
            raise RrrError(f"this reranker reads {settings.evidence_inputs} execution-evidence inputs per "
                           "candidate; none (or another number) were given")
        rows = [row + list(extra) for row, extra in zip(rows, evidence)]
    return rows
