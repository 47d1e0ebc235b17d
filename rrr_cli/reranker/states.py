"""Where a reward model's pooled states come from: one interface, `StateSource`, and its sources.

The head reads one vector per text, the text's pooled final state (the mean over its completion's
tokens and the end token; rerankers saved before that choice read the end token alone). A
`RewardModel` holds one source, chosen by `RewardModelSettings.states`:

- `TrunkStates` ("trunk", `reranker.trunk`): the torch decoder, with LoRA on its top layers when they train;
- `LlamaCppStates` ("llama.cpp"): the base GGUF model as llama.cpp runs it, the head alone trained;
- `NoStates` ("none"): nothing read; the head sees only the log-probs and the execution evidence.

The two that run a model share `KeptStates`: a frozen source's pooled state depends only on the base
weights and the text, so each is computed once (kept in memory and on disk, `rrr_cli.pooled_states`),
and the candidates of a task share their prompt's evaluation.
"""

from __future__ import annotations

from typing import Callable, Sequence

from rrr_cli import pooled_states
from rrr_cli.errors import RrrError
from rrr_cli.reranker.base_model import BaseModelInfo
from rrr_cli.reranker.device import require_torch
from rrr_cli.reranker.settings import RewardModelSettings


class Encoded(list):
    """Token ids of prompt + completion + end token (a plain list to every caller), plus `start`:
    the index of the completion's first token, where mean pooling begins."""

    def __init__(self, ids: Sequence[int], start: int = 0):
        super().__init__(ids)
        self.start = start


class StateSource:
    """A source of pooled states: `encode` a (prompt, completion) into tokens, `pooled_rows` pools
    token sequences (float32 numpy rows, one per sequence). It shares the model's `settings` and `base`."""

    kind = ""  # the `RewardModelSettings.states` value it serves
    min_batch = 0  # the fewest completions `pooled_rows` evaluates in one go
    tokenizer = None  # the Hugging Face tokenizer, where the source has one

    def __init__(self, base: BaseModelInfo, settings: RewardModelSettings):
        self.base = base
        self.settings = settings
        self.device = "cpu"  # where its states are computed and the head runs
        self.use_bf16 = False  # bf16 autocast: the torch trunk's; the other sources run no torch
        self._module = None

    @property
    def frozen(self) -> bool:
        """Whether a text's pooled state is fixed by the base weights (no part of the source trains)."""
        return True

    @property
    def hidden_size(self) -> int:
        raise NotImplementedError

    @property
    def module(self):
        """The torch module whose parameters training may change (`RewardModel.trunk`): here an empty
        one, made when asked (nothing of the source trains)."""
        if self._module is None:
            self._module = require_torch().nn.Module()
        return self._module

    def encode(self, prompt: str, completion: str) -> Encoded:
        raise NotImplementedError

    def pooled_rows(self, sequences: Sequence[list[int]], batch_size: int = 8,
                    progress: Callable[[int], None] | None = None) -> list:
        """Each sequence's pooled state, a float32 numpy row; `progress(k)` after each k sequences."""
        raise NotImplementedError

    def adapters(self):
        """The peft model whose adapters a saved reranker keeps beside its head; None: nothing to keep."""
        return None

    def merge_adapters(self) -> None:
        """Fold trained adapters into the weights for scoring (nothing to fold here)."""


class KeptStates(StateSource):
    """A source that runs a model (`pooled_after`) and keeps what it computed (`pooled_store`)."""

    def pooled_after(self, prefix: list[int], completions: list[list[int]]) -> list:
        """Pooled final states of `completions`, each following `prefix` (evaluated once for all)."""
        raise NotImplementedError

    def store_parts(self) -> list:
        """What the kept states depend on besides the text: the base weights, the pooling, ..."""
        raise NotImplementedError

    def pooled_store(self) -> "pooled_states.PooledStates":
        """Where this source's pooled states are kept (`rrr_cli.pooled_states`)."""
        return pooled_states.store(pooled_states.store_name(self.store_parts()))

    def pooled_rows(self, sequences: Sequence[list[int]], batch_size: int = 8,
                    progress: Callable[[int], None] | None = None) -> list:
        """Sequences that share a prompt (`encode`'s `start`) share its evaluation: the prompt runs once
        per batch of its completions and its keys and values serve each of them, so 8 candidates of a
        task cost one prompt and 8 completions, not 8 prompts (attention is causal: the completion's
        states are those of a pass over the whole text). A text pooled before on the same base weights
        is not evaluated again: states are kept in memory and on disk (`rrr_cli.pooled_states`), so
        the folds of `rrr train-reranker --folds`, the held-out scoring after each and a later
        `rrr eval` read them."""
        if not self.frozen:
            raise RrrError("pooled states are fixed only for a frozen trunk (no trainable layers)")
        batch_size = max(batch_size, self.min_batch)
        kept = self.pooled_store()
        keys = [pooled_states.text_key(s, getattr(s, "start", 0)) for s in sequences]
        groups: dict[tuple[int, ...], dict[str, list[int]]] = {}
        for key, sequence in zip(keys, sequences):
            if kept.get(key) is None:
                start = getattr(sequence, "start", 0)
                groups.setdefault(tuple(sequence[:start]), {})[key] = list(sequence[start:])
        for prefix, completions in groups.items():
            todo = sorted(completions, key=lambda k: len(completions[k]))
            for offset in range(0, len(todo), batch_size):
                chunk = todo[offset:offset + batch_size]
                kept.put(dict(zip(chunk, self.pooled_after(list(prefix), [completions[k] for k in chunk]))))
                if progress:
                    progress(len(chunk))
        return [kept.get(key) for key in keys]


def _check_head_alone(settings: RewardModelSettings) -> None:
    if settings.pooling != "mean" or settings.trainable_layers:
        raise RrrError(f"a head on {settings.states} states trains alone on mean-pooled states "
                       "(pooling mean, no trainable layers)")


class LlamaCppStates(KeptStates):
    """The base GGUF model's pooled states as llama.cpp runs it (`settings.states = "llama.cpp"`): no
    torch trunk, no transformers; the head alone trains.

    The states are those of `LlamaCppBackend.pooled_states` on llama.cpp's own tokens of prompt +
    completion + end token, from the process's open backend on the same file when there is one
    (`LlamaCppBackend.shared`: `rrr solve` scores with the model it sampled with, no second load),
    and are kept like the trunk's (in a store of their own). Training computes them the same way, so
    a head is scored on the states it was fitted on."""

    kind = "llama.cpp"
    PROMPTS_PER_CALL = 32  # completions of one prompt evaluated after it in one `pooled_states` call
    min_batch = PROMPTS_PER_CALL

    def __init__(self, base: BaseModelInfo, settings: RewardModelSettings):
        if base.format != "gguf":
            raise RrrError(f"{base.path}: llama.cpp states need a GGUF base model (this one is a {base.format} folder)")
        _check_head_alone(settings)
        super().__init__(base, settings)
        self._hidden = 0
        self._backend = None

    @property
    def backend(self):
        """The process's llama.cpp backend on the base model's file (opened on first use)."""
        if self._backend is None:
            from rrr_cli.generation.llamacpp import LlamaCppBackend  # deferred: it imports numpy (llama_cpp on open)

            self._backend = LlamaCppBackend.shared(self.base.path, model_name=self.base.spec)
        return self._backend

    @property
    def hidden_size(self) -> int:
        if not self._hidden:
            self._hidden = self.backend.hidden_size
        return self._hidden

    def encode(self, prompt: str, completion: str) -> Encoded:
        """The prompt's tokens, then the completion's and the end token: tokenized apart, so every
        candidate of a task shares the prompt's tokens (and its one evaluation)."""
        start = len(prompt_ids := self.backend.tokenize(prompt, special=False)) if prompt else 0
        ids = (prompt_ids if prompt else []) + self.backend.tokenize(completion, special=False, bos=not prompt) + [self.backend.eos_token]
        cut = max(0, len(ids) - self.settings.max_length)
        start = min(start, len(ids) - 1)
        return Encoded(ids[cut:], max(0, start - cut))

    def store_parts(self) -> list:
        return [self.base.sha256[:16] or "unhashed", "mean", "llama.cpp"]

    def pooled_after(self, prefix: list[int], completions: list[list[int]]) -> list:
        return self.backend.pooled_states(prefix, completions)


class NoStates(StateSource):
    """No states (`settings.states = "none"`): the head reads the generator's log-probs and the
    execution evidence alone, so no model runs to score and a reranker costs what running the
    candidates costs. The ablation of the text states, and the cheapest learned scorer."""

    kind = "none"

    def __init__(self, base: BaseModelInfo, settings: RewardModelSettings):
        _check_head_alone(settings)
        super().__init__(base, settings)

    @property
    def hidden_size(self) -> int:
        return 0

    def encode(self, prompt: str, completion: str) -> Encoded:
        return Encoded([0], 0)  # nothing is read; one placeholder token per text

    def pooled_rows(self, sequences: Sequence[list[int]], batch_size: int = 8,
                    progress: Callable[[int], None] | None = None) -> list:
        import numpy as np  # deferred: finding or listing rerankers needs no numpy

        if progress and sequences:
            progress(len(sequences))
        return [np.zeros(0, dtype=np.float32) for _ in sequences]


# The sources of a head trained alone, by `RewardModelSettings.states` (the trunk is `TrunkStates`).
HEAD_ALONE_SOURCES: dict[str, type[StateSource]] = {"llama.cpp": LlamaCppStates, "none": NoStates}
