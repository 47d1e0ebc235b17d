"""The torch trunk as a source of pooled states (`RewardModelSettings.states = "trunk"`).

The input is the task prompt followed by the candidate's completion and an end-of-sequence token;
the pooled state is the trunk's final hidden states averaged over the completion's tokens (and the
end token). Averaging, not the last token alone, is what makes the head generalise from a few hundred
tasks: on MBPP, a head on the frozen last-token state ranked barely above random, one on the mean of
the completion's states as well as the generator's own mean log-prob (issue #5's notes have the
figures). Rerankers saved before this choice existed read the last token (`pooling = "last"`).

Only the top `trainable_layers` decoder layers get LoRA adapters (none by default: the head alone
trains), so the layers below are frozen and their output for a text never changes during training:
`TrunkStates.trunk_states` computes it once per text, and `pooled_from_states` runs only the top of
the model on it. That is what makes training on a CPU affordable (see `rrr_cli.training.train_reward`).
With no trainable layer at all the pooled state itself is fixed, and is kept (`KeptStates`).
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Any, Sequence

from rrr_cli.errors import RrrError
from rrr_cli.reranker.base_model import BaseModelInfo
from rrr_cli.reranker.device import autocast, bf16_supported, default_device, device_kind, require_torch
from rrr_cli.reranker.settings import RewardModelSettings
from rrr_cli.reranker.states import Encoded, KeptStates

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TextStates:
    """The frozen part of the trunk's output for one text: the hidden states entering the first
    trainable layer, one row per token (no padding), and where its completion starts."""

    hidden: Any  # torch.Tensor [tokens, hidden]
    start: int = 0


@functools.lru_cache(maxsize=8)
def _cache_argument(decoder_class: type) -> str:
    """The decoder's keyword for its key/value cache: `cache` in transformers 5, `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(decoder_class.forward).parameters else "past_key_values"


def with_lora(trunk, settings: RewardModelSettings):
    """The trunk with LoRA adapters on its top `trainable_layers` layers; everything else frozen."""
    from peft import LoraConfig, get_peft_model  # deferred: peft imports torch and transformers

    for param in trunk.parameters():
        param.requires_grad_(False)
    layers = len(trunk.layers)
    top = list(range(layers - settings.trainable_layers, layers))
    if not top:
        # Head-only training: peft still wraps the trunk so the artifact has one format.
        top = [layers - 1]
        lora = LoraConfig(r=1, lora_alpha=1, target_modules=["o_proj"], layers_to_transform=top,
                          layers_pattern="layers", inference_mode=True)
        model = get_peft_model(trunk, lora)
        for param in model.parameters():
            param.requires_grad_(False)
        return model
    lora = LoraConfig(r=settings.lora_r, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                      target_modules=list(LORA_TARGETS), layers_to_transform=top, layers_pattern="layers")
    return get_peft_model(trunk, lora)


class TrunkStates(KeptStates):
    """Pooled final states of a Llama/Qwen-style decoder in torch (`load_trunk`'s), LoRA on its top
    `trainable_layers` layers; run on `device`, under bf16 autocast where `use_bf16`."""

    kind = "trunk"

    def __init__(self, trunk, tokenizer, base: BaseModelInfo, settings: RewardModelSettings,
                 device: str | None = None):
        super().__init__(base, settings)
        self.trunk = trunk  # a peft model wrapping the decoder, or the decoder itself (merged)
        self.tokenizer = tokenizer
        self.device = device or default_device()
        self.use_bf16 = bf16_supported()
        self.decoder = trunk.get_base_model() if hasattr(trunk, "get_base_model") else trunk
        layers = len(self.decoder.layers)
        if settings.pooling not in ("mean", "last"):
            raise RrrError(f"unknown pooling {settings.pooling!r} (mean or last)")
        if not 0 <= settings.trainable_layers <= layers:
            raise RrrError(f"trainable layers must be between 0 and {layers} (got {settings.trainable_layers})")
        self.split = layers - settings.trainable_layers  # index of the first trainable layer
        self.trunk.to(self.device)

    @property
    def module(self):
        return self.trunk

    @property
    def frozen(self) -> bool:
        """Whether no decoder layer trains: a text's pooled state is then fixed by the base weights."""
        return self.split == len(self.decoder.layers)

    @property
    def hidden_size(self) -> int:
        return self.decoder.config.hidden_size

    def encode(self, prompt: str, completion: str) -> Encoded:
        """Token ids of prompt + completion + end-of-sequence, cut to the last `max_length` tokens
        (the completion is what the head reads, so that part is kept)."""
        ids = self.tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]
        start = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]) if prompt else 0
        eos = self.tokenizer.eos_token_id
        if eos is not None:
            ids = ids + [eos]
        cut = max(0, len(ids) - self.settings.max_length)
        start = min(start, len(ids) - 1)  # an empty completion still pools its end token
        return Encoded(ids[cut:], max(0, start - cut))

    def autocast(self):
        """The autocast the trunk runs under: bf16 where `use_bf16`, else none."""
        return autocast(self.device, self.use_bf16)

    def padded(self, sequences: Sequence[list[int]]):
        """(input ids, attention mask) of the sequences, right-padded to the longest, on the device."""
        torch = require_torch()
        width = max(len(s) for s in sequences)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(sequences), width), pad, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, :len(seq)] = 1
        return ids.to(self.device), mask.to(self.device)

    # forward paths -----------------------------------------------------------------------------

    def _run_layers(self, hidden, attention_mask, start: int, end: int):
        """Decoder layers [start, end) on hidden states, with the model's own rotary embeddings and
        causal+padding mask, exactly as the decoder's forward runs them."""
        torch = require_torch()
        # deferred: transformers imports torch
        from transformers.masking_utils import create_causal_mask, create_sliding_window_causal_mask

        decoder = self.decoder
        position_ids = torch.arange(hidden.shape[1], device=hidden.device).unsqueeze(0)
        masks = {"full_attention": create_causal_mask(decoder.config, hidden, attention_mask, None,
                                                      position_ids=position_ids)}
        layer_types = getattr(decoder.config, "layer_types", None) or ["full_attention"] * len(decoder.layers)
        if "sliding_attention" in layer_types[start:end]:
            masks["sliding_attention"] = create_sliding_window_causal_mask(
                decoder.config, hidden, attention_mask, None, position_ids=position_ids)
        position_embeddings = decoder.rotary_emb(hidden, position_ids)
        for index in range(start, end):
            hidden = decoder.layers[index](hidden, attention_mask=masks[layer_types[index]],
                                           position_ids=position_ids, position_embeddings=position_embeddings)
        return hidden

    def _pool(self, final, attention_mask, starts: Sequence[int]):
        """One vector per row: the mean of the completion's states (and the end token's), or the last."""
        torch = require_torch()
        if self.settings.pooling == "last":
            last = attention_mask.sum(dim=1) - 1  # right padding: the last real token of each row
            return final[torch.arange(final.shape[0], device=final.device), last].float()
        positions = torch.arange(final.shape[1], device=final.device).unsqueeze(0)
        begin = torch.tensor(list(starts), device=final.device).unsqueeze(1)
        weights = ((positions >= begin) & attention_mask.bool()).to(final.dtype).unsqueeze(-1)
        return ((final * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)).float()

    def pooled_forward(self, sequences: Sequence[list[int]]):
        """Pooled states (a tensor, with grad if enabled) of token sequences (`encode`'s output: a
        plain list pools from its first token), through the whole trunk."""
        ids, mask = self.padded(sequences)
        with self.autocast():
            final = self.trunk(input_ids=ids, attention_mask=mask).last_hidden_state
        return self._pool(final, mask, [getattr(s, "start", 0) for s in sequences])

    def trunk_states(self, sequences: Sequence[list[int]]) -> list[TextStates]:
        """The frozen bottom's output for each sequence (computed once, reused every epoch)."""
        torch = require_torch()
        ids, mask = self.padded(sequences)
        # no_grad rather than inference_mode: the states are later read by steps that build a graph.
        with torch.no_grad(), self.autocast():
            hidden = self.decoder.embed_tokens(ids)
            hidden = self._run_layers(hidden, mask, 0, self.split)
        # Stored at the autocast dtype: half the memory of float32, and what the top layers get anyway.
        dtype = torch.bfloat16 if self.use_bf16 else torch.float32
        return [TextStates(hidden[row, :len(seq)].to(dtype=dtype, device="cpu").clone(), getattr(seq, "start", 0))
                for row, seq in enumerate(sequences)]

    def pooled_from_states(self, states: Sequence[TextStates]):
        """Pooled final states (a tensor, with grad where the top layers train) from cached bottom
        states: the top layers, the final norm, the pooling."""
        torch = require_torch()
        width = max(s.hidden.shape[0] for s in states)
        size = states[0].hidden.shape[1]
        hidden = torch.zeros((len(states), width, size), dtype=states[0].hidden.dtype)
        mask = torch.zeros((len(states), width), dtype=torch.long)
        for row, s in enumerate(states):
            hidden[row, :s.hidden.shape[0]] = s.hidden
            mask[row, :s.hidden.shape[0]] = 1
        hidden, mask = hidden.to(self.device), mask.to(self.device)
        with self.autocast():
            if self.split < len(self.decoder.layers):
                hidden = self._run_layers(hidden, mask, self.split, len(self.decoder.layers))
            final = self.decoder.norm(hidden)
        return self._pool(final, mask, [s.start for s in states])

    # kept pooled states (a frozen trunk) -------------------------------------------------------

    def store_parts(self) -> list:
        """By base weights, pooling, precision and device kind (each gives slightly different numbers)."""
        return [self.base.sha256[:16] or "unhashed", self.settings.pooling, "bf16" if self.use_bf16 else "f32",
                device_kind(self.device)]

    def pooled_after(self, prefix: list[int], completions: list[list[int]]) -> list:
        """Pooled final states of `completions`, each following `prefix` (evaluated once for all)."""
        torch = require_torch()
        decoder = self.decoder
        keyword = _cache_argument(type(decoder))
        rows = len(completions)
        with torch.no_grad(), self.autocast():
            cache = None
            if prefix:
                from transformers import DynamicCache  # deferred: transformers imports torch

                cache = DynamicCache()
                decoder(input_ids=torch.tensor([prefix], device=self.device), use_cache=True, **{keyword: cache})
                cache.batch_repeat_interleave(rows)
            ids, mask = self.padded(completions)
            seen = torch.ones((rows, len(prefix)), dtype=mask.dtype, device=mask.device)
            positions = (torch.arange(ids.shape[1], device=ids.device) + len(prefix)).unsqueeze(0).expand(rows, -1)
            final = decoder(input_ids=ids, attention_mask=torch.cat([seen, mask], dim=1), position_ids=positions,
                            use_cache=cache is not None, **{keyword: cache}).last_hidden_state
        return [row.clone() for row in self._pool(final, mask, [0] * rows).cpu()]

    # adapters ----------------------------------------------------------------------------------

    def adapters(self):
        if not hasattr(self.trunk, "save_pretrained") or not hasattr(self.trunk, "peft_config"):
            raise RrrError("this reward model's adapters were merged into the trunk; it cannot be saved")
        return self.trunk

    def merge_adapters(self) -> None:
        """Fold the LoRA weights into the trunk for scoring: the same scores, a plain forward pass."""
        if hasattr(self.trunk, "merge_and_unload"):
            self.trunk = self.trunk.merge_and_unload()
            self.decoder = self.trunk
