"""`RewardModel`: a scalar reward r(prompt, completion), a head on the pooled states of a state source.

The model holds its source (`reranker.states`: the torch trunk, llama.cpp, or none) and its head
(`reranker.heads`: a torch module that trains, or a saved head in numpy that scores without torch),
and builds, loads and saves itself through `reranker.store`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.reranker.base_model import BaseModelInfo, base_model_info, load_trunk
from rrr_cli.reranker.device import require_torch
from rrr_cli.reranker.heads import NumpyHead, make_head
from rrr_cli.reranker.settings import (EXAMPLES_TIER, RewardModelSettings, check_states, examples_column,
                                       extra_inputs, extra_rows)
from rrr_cli.reranker.states import HEAD_ALONE_SOURCES, Encoded, StateSource
from rrr_cli.reranker.store import (ADAPTER_DIR, read_head, read_head_arrays, read_manifest, saved_base,
                                    saved_settings, write_reranker)
from rrr_cli.reranker.trunk import TextStates, TrunkStates, with_lora


class RewardModel:
    """A scalar reward r(prompt, completion): `head` on the pooled states `source` gives."""

    def __init__(self, source: StateSource, head, base: BaseModelInfo, settings: RewardModelSettings,
                 manifest: dict[str, Any] | None = None):
        self.source = source
        self.head = head  # a torch module (`make_head`), or a saved head to score with (`NumpyHead`)
        self.base = base
        self.settings = settings
        self.manifest = manifest or {}
        if not isinstance(head, NumpyHead):
            self.head.to(self.device)

    # construction ------------------------------------------------------------------------------

    @classmethod
    def from_base(cls, spec: str | None = None, settings: RewardModelSettings | None = None,
                  seed: int = 0, device: str | None = None) -> "RewardModel":
        """A fresh reward model: the base trunk, new LoRA adapters on its top layers, a new head (on
        llama.cpp states, or none, a new head alone, on the CPU)."""
        torch = require_torch()
        settings = settings or RewardModelSettings()
        check_states(settings.states)
        info = base_model_info(spec)
        if settings.states != "trunk":
            torch.manual_seed(seed)
            source = HEAD_ALONE_SOURCES[settings.states](info, settings)
            return cls(source, make_head(source.hidden_size, settings), info, settings)
        trunk, tokenizer = load_trunk(info)
        torch.manual_seed(seed)
        head = make_head(trunk.config.hidden_size, settings)  # before the adapters: the seed's draws in order
        return cls(TrunkStates(with_lora(trunk, settings), tokenizer, info, settings, device), head, info, settings)

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | None = None, merge: bool = False,
             check_base: bool = True) -> "RewardModel":
        """Load a saved reranker onto its base model. `merge` folds the adapters in (for scoring).

        The base model is found from the manifest (its spec, then its recorded path) and must have
        the recorded sha256 unless `check_base` is false. A head on llama.cpp states (or none) loads
        as numpy arrays, to score without torch.
        """
        directory = Path(directory)
        manifest = read_manifest(directory)
        settings = saved_settings(manifest, directory)
        info = saved_base(manifest, directory, check_base)
        if settings.states != "trunk":
            source = HEAD_ALONE_SOURCES[settings.states](info, settings)
            head = NumpyHead.fitting(read_head_arrays(directory), source.hidden_size, settings, directory)
            return cls(source, head, info, settings, manifest=manifest)
        from peft import PeftModel  # deferred: peft imports torch and transformers

        trunk, tokenizer = load_trunk(info)
        try:
            trunk = PeftModel.from_pretrained(trunk, directory / ADAPTER_DIR)
        except (OSError, ValueError, KeyError) as exc:
            raise RrrError(f"{directory}: cannot load the reranker's adapters: {exc}") from None
        head = read_head(directory, make_head(trunk.get_base_model().config.hidden_size, settings))
        model = cls(TrunkStates(trunk, tokenizer, info, settings, device), head, info, settings, manifest=manifest)
        if merge:
            model.merge_adapters()
        return model

    # the source's side -------------------------------------------------------------------------

    @property
    def trunk(self):
        """The torch module of the source that training may change (an empty one for a head alone)."""
        return self.source.module

    @property
    def tokenizer(self):
        return self.source.tokenizer

    @property
    def device(self) -> str:
        return self.source.device

    @property
    def use_bf16(self) -> bool:
        return self.source.use_bf16

    @use_bf16.setter
    def use_bf16(self, value: bool) -> None:
        self.source.use_bf16 = value

    @property
    def frozen(self) -> bool:
        """Whether nothing below the head trains: a text's pooled state is then fixed by the base weights."""
        return self.source.frozen

    @property
    def hidden_size(self) -> int:
        return self.source.hidden_size

    def encode(self, prompt: str, completion: str) -> Encoded:
        return self.source.encode(prompt, completion)

    def _trunk_source(self) -> TrunkStates:
        if not isinstance(self.source, TrunkStates):
            raise RrrError(f"a head on {self.settings.states} states has no trunk layers to run")
        return self.source

    # scores ------------------------------------------------------------------------------------

    def head_scores(self, pooled, confidence: Sequence[list[float]] | None = None):
        """The head on pooled states; `confidence` (one `confidence_inputs` row per text) is
        required when the head reads the generator's log-probs, ignored otherwise."""
        torch = require_torch()
        if not extra_inputs(self.settings):
            return self.head(pooled).squeeze(-1)
        if confidence is None or len(confidence) != pooled.shape[0]:
            raise RrrError("this reranker reads the generator's log-probs; none were given")
        extra = torch.as_tensor(confidence, dtype=torch.float32).to(pooled.device)  # rows: lists or a tensor
        scores = self.head(pooled, extra).squeeze(-1)
        column = examples_column(self.settings)
        return scores if column is None else scores + EXAMPLES_TIER * extra[:, column]

    def forward_ids(self, sequences: Sequence[list[int]], confidence: Sequence[list[float]] | None = None):
        """Scores (a tensor, with grad if enabled) for token sequences (`encode`'s output: a plain
        list pools from its first token), through the whole trunk."""
        return self.head_scores(self._trunk_source().pooled_forward(sequences), confidence)

    def trunk_states(self, sequences: Sequence[list[int]]) -> list[TextStates]:
        """The trunk's frozen bottom's output for each sequence (computed once, reused every epoch)."""
        return self._trunk_source().trunk_states(sequences)

    def pooled_from_states(self, states: Sequence[TextStates]):
        """Pooled final states (a tensor, with grad where the top layers train) from cached bottom
        states: the top layers, the final norm, the pooling; no head."""
        return self._trunk_source().pooled_from_states(states)

    def score_from_states(self, states: Sequence[TextStates], confidence: Sequence[list[float]] | None = None):
        """Scores (a tensor, with grad) from cached bottom states."""
        return self.head_scores(self.pooled_from_states(states), confidence)

    def pooled_texts(self, sequences: Sequence[list[int]], batch_size: int = 8,
                     progress: Callable[[int], None] | None = None):
        """Pooled states of a frozen source (`frozen`), a float32 CPU tensor, one row per sequence: each
        prompt evaluated once per batch of its completions, and a text pooled before read back
        (`KeptStates.pooled_rows`). `progress(k)` after each k sequences evaluated."""
        torch = require_torch()
        import numpy as np  # deferred: finding or listing rerankers needs no numpy

        rows = self.source.pooled_rows(sequences, batch_size, progress)
        if not rows:
            return torch.zeros((0, self.hidden_size))
        return torch.from_numpy(np.stack(rows))  # a new array: the store's rows are read-only

    def score_texts(self, texts: Sequence[tuple[str, str]], batch_size: int = 8,
                    progress: Callable[[int], None] | None = None,
                    logprobs: Sequence[tuple[float, int] | None] | None = None,
                    evidence: Sequence[list[float]] | None = None) -> list[float]:
        """Scores for (prompt, completion) pairs, in order; batched by similar length (less padding).
        `logprobs` (the generator's (sum, tokens) per text) feeds a head with confidence inputs; a
        text without them counts as its batch's least confident (see `fill_confidence`); `evidence`
        (one `ranking.evidence` row per text) feeds a head that reads execution evidence."""
        if isinstance(self.head, NumpyHead):
            return self._score_numpy(texts, progress, logprobs, evidence)
        torch = require_torch()
        encoded = [self.encode(p, c) for p, c in texts]
        confidence = extra_rows(self.settings, logprobs or [None] * len(texts), evidence)
        self.trunk.eval()
        if self.frozen:  # candidates of a task share their prompt's evaluation (`pooled_texts`)
            pooled = self.pooled_texts(encoded, batch_size, progress)
            with torch.inference_mode():
                values = self.head_scores(pooled.to(self.device), confidence) if encoded else torch.zeros(0)
            return [float(v) for v in values.float().cpu().tolist()]
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        scores = [0.0] * len(encoded)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                rows = [confidence[i] for i in chunk] if confidence is not None else None
                values = self.forward_ids([encoded[i] for i in chunk], rows).float().cpu().tolist()
                for i, value in zip(chunk, values):
                    scores[i] = float(value)
                if progress:
                    progress(len(chunk))
        return scores

    def _score_numpy(self, texts, progress, logprobs, evidence) -> list[float]:
        """`score_texts` with a head in numpy: no torch is imported."""
        import numpy as np  # deferred: finding or listing rerankers needs no numpy

        # The source's own batch (a head in numpy scores what it is handed; it sets no batch size).
        rows = self.source.pooled_rows([self.encode(p, c) for p, c in texts], self.source.min_batch, progress)
        pooled = np.stack(rows) if rows else np.zeros((0, self.hidden_size), dtype=np.float32)
        extra = extra_rows(self.settings, logprobs or [None] * len(texts), evidence)
        scores = self.head.scores(pooled, extra)
        column = examples_column(self.settings)
        if column is not None:
            scores = scores + EXAMPLES_TIER * np.asarray(extra, dtype=np.float32).reshape(len(texts), -1)[:, column]
        return [float(v) for v in scores]

    # parameters --------------------------------------------------------------------------------

    def trainable_parameters(self) -> list:
        return [p for p in self.trunk.parameters() if p.requires_grad] + list(self.head.parameters())

    def trainable_state(self) -> dict[str, Any]:
        """A copy of everything training changes (LoRA weights and the head)."""
        state = {f"trunk.{n}": p.detach().clone() for n, p in self.trunk.named_parameters() if p.requires_grad}
        state.update({f"head.{n}": p.detach().clone() for n, p in self.head.named_parameters()})
        return state

    def load_trainable_state(self, state: dict[str, Any]) -> None:
        torch = require_torch()
        params = dict(self.trunk.named_parameters())
        heads = dict(self.head.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                kind, _, rest = name.partition(".")
                (params if kind == "trunk" else heads)[rest].copy_(value)

    def merge_adapters(self) -> None:
        """Fold the LoRA weights into the trunk for scoring: the same scores, a plain forward pass."""
        self.source.merge_adapters()

    # saving ------------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike, manifest: dict[str, Any] | None = None) -> Path:
        """Write the reranker (adapters where the source has them, head, manifest) atomically: a temp
        dir renamed into place (`store.write_reranker`); `manifest` adds to the manifest."""
        if isinstance(self.head, NumpyHead):
            raise RrrError("a reranker loaded to score (its head in numpy) cannot be saved again")
        target, self.manifest = write_reranker(directory, self.base, self.settings, self.head, manifest,
                                               self.source.adapters())
        return target
