"""The reward model (the reranker): a code LM trunk, LoRA adapters on its top layers, and a scalar head.

The input is the task prompt followed by the candidate's completion and an end-of-sequence token;
the score is a head on the trunk's final hidden states averaged over the completion's tokens (and the
end token). Averaging, not the last token alone, is what makes the head generalise from a few hundred
tasks: on MBPP, a head on the frozen last-token state ranked barely above random, one on the mean of
the completion's states as well as the generator's own mean log-prob (issue #5's notes have the
figures). Rerankers saved before this choice existed read the last token (`pooling = "last"`).

Two head options, chosen by cross-validation over MBPP training tasks (where they beat mean log-prob
by 0.10; on MBPP test the gain is small, see docs/reranker.md):
`projection = k` standardises the pooled state and reads only its top k principal components
(fitted on the training completions; a full-width head over-fits a couple of hundred tasks), and
`confidence` adds the generator's log-probs of the completion (mean, sum, length) as inputs, with the
head starting out as the mean-log-prob scorer. The trunk starts from the generator's own weights
(Qwen2.5-Coder-0.5B-Instruct by default), loaded from the catalog's GGUF file (transformers
dequantises it) or from a Hugging Face model directory.

Only the top `trainable_layers` decoder layers get LoRA adapters (none by default: the head alone
trains), so the layers below are frozen and their output for a text never changes during training:
`RewardModel.trunk_states` computes it once per text, and `RewardModel.score_from_states` runs only
the top of the model on it. That is what makes training on a CPU affordable (see
`rrr_cli.training.train_reward`).

A trained reranker is a small directory under `config.data_path("rerankers")/<name>/`:
`adapter/` (peft LoRA weights), `head.safetensors` and `manifest.json` (base model and its sha256,
settings, training data, metrics, date). The base weights and tokenizer are not copied: the
manifest names the base model, and loading checks its sha256.
It is written to a temporary directory and renamed into place, so a reranker is whole or absent.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import typing
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from rrr_cli import config, pooled_states
from rrr_cli.errors import RrrError
from rrr_cli.records import check_value, read_json_file

MANIFEST = "manifest.json"
HEAD_FILE = "head.safetensors"
ADAPTER_DIR = "adapter"
FORMAT_VERSION = 1
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise RrrError(f"the reward model needs torch: pip install torch ({exc})") from None
    return torch


def bf16_supported() -> bool:
    """Whether bf16 autocast pays off here: a CUDA device with bf16, or a CPU with AMX tiles.

    AVX512-BF16 alone is not enough: on a 2-core Xeon with avx512_bf16 and no AMX the reward model's
    forward took 1.5-1.7x the float32 time under bf16 autocast (`benchmarks/bf16_autocast.py`), and
    AVX2-only CPUs have no bf16 arithmetic at all. With AMX the same forward took 0.49x the float32
    time (2-core Xeon with AMX-BF16, 8 texts, scores within 0.002).
    """
    torch = _torch()
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # pragma: no cover - old torch
        return False
    if capability not in ("AVX512", "AMX"):
        return False
    with contextlib.suppress(OSError):
        flags = Path("/proc/cpuinfo").read_text()
        return "amx_bf16" in flags
    return False


def default_device() -> str:
    return "cuda" if _torch().cuda.is_available() else "cpu"


# --- the base model ---------------------------------------------------------------------------------

@dataclass
class BaseModelInfo:
    """Where the trunk came from, so a saved reranker can find (and check) it again."""

    spec: str  # what the user named: a catalog name, a .gguf path or a HF directory
    path: str  # the resolved local file or directory
    sha256: str  # of the GGUF file, or of the directory's weight files in name order
    format: str  # "gguf" or "hf"

    def to_dict(self) -> dict[str, str]:
        return {"spec": self.spec, "path": self.path, "sha256": self.sha256, "format": self.format}


def _sha256_files(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _resolve_base(spec: str | None) -> tuple[str, Path]:
    """A catalog name (pulled if needed), a GGUF file or a HF model directory → local path."""
    from rrr_cli.models import resolve_model

    spec = str(spec if spec is not None else config.get("models.default"))
    return spec, Path(resolve_model(spec))


def base_model_info(spec: str | None) -> BaseModelInfo:
    """Resolve and fingerprint a base model without loading it."""
    from rrr_cli.models import CATALOG, model_path, verify

    spec, path = _resolve_base(spec)
    if path.is_dir():
        weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
        if not weights:
            raise RrrError(f"{path}: no model weights (*.safetensors) in this directory")
        return BaseModelInfo(spec, str(path), _sha256_files(weights), "hf")
    if spec in CATALOG and path == model_path(spec) and verify(spec):
        # The catalog already checked this file against its sha256; no need to hash it again.
        from rrr_cli.models import get_model

        return BaseModelInfo(spec, str(path), get_model(spec).sha256, "gguf")
    return BaseModelInfo(spec, str(path), _sha256_files([path]), "gguf")


def dequantised_path(info: BaseModelInfo) -> Path:
    """Where a GGUF base's float32 trunk is kept once transformers has dequantised it."""
    return config.data_path("cache") / "trunks" / info.sha256[:16]


def load_trunk(info: BaseModelInfo):
    """(trunk, tokenizer) for a base model: the bare decoder (no LM head) in float32.

    transformers dequantises a GGUF file on every load (most of a reranker's start-up: about 40 s of
    a `rrr solve` with a trained reranker on a 2-core CPU), so the first load keeps the float32
    trunk and tokenizer as a Hugging Face directory (`dequantised_path`, about 4 bytes a weight) and
    later loads read that: the same weights, bit for bit."""
    torch = _torch()
    from transformers import AutoModel, AutoTokenizer

    from rrr_cli.generation.hf import quiet_loading

    path = Path(info.path)
    kwargs: dict[str, Any] = {}
    kept = dequantised_path(info) if info.format == "gguf" and info.sha256 else None
    if kept is not None and (kept / "config.json").is_file():
        try:
            with quiet_loading():
                tokenizer = AutoTokenizer.from_pretrained(kept)
                trunk = AutoModel.from_pretrained(kept, dtype=torch.float32)
            return _checked_trunk(trunk, tokenizer, path)
        except (OSError, ValueError):  # a damaged copy: load the GGUF file again and keep it anew
            pass
    if info.format == "gguf":
        try:
            import gguf  # noqa: F401  (transformers needs it to read GGUF files)
        except ImportError:
            raise RrrError("loading a GGUF model into transformers needs the gguf package: pip install gguf") from None
        directory, kwargs = path.parent, {"gguf_file": path.name}
    else:
        directory = path
    try:
        with quiet_loading():  # "some weights were not used (lm_head)" is expected here
            tokenizer = AutoTokenizer.from_pretrained(directory, **kwargs)
            trunk = AutoModel.from_pretrained(directory, dtype=torch.float32, **kwargs)
    except (OSError, ValueError) as exc:
        raise RrrError(f"cannot load {path} as a transformers model: {str(exc).splitlines()[0]}") from None
    trunk, tokenizer = _checked_trunk(trunk, tokenizer, path)
    if kept is not None:
        _keep_dequantised(trunk, tokenizer, kept)
    return trunk, tokenizer


def _keep_dequantised(trunk, tokenizer, kept: Path) -> None:
    """Save the dequantised trunk for the next load (written beside and renamed; a full disk only
    costs the next load its time)."""
    from safetensors.torch import save_file

    from rrr_cli.atomic import atomic_dir

    try:
        with atomic_dir(kept) as staging:
            # transformers will not save a model it read from GGUF: its config and weights as they are.
            trunk.config.save_pretrained(staging)
            save_file({name: value.contiguous() for name, value in trunk.state_dict().items()},
                      str(staging / "model.safetensors"), metadata={"format": "pt"})
            tokenizer.save_pretrained(staging)
    except (OSError, RuntimeError, ValueError) as exc:  # a full disk, or weights safetensors will not take
        from rrr_cli.ui import notice

        notice(f"could not keep the dequantised trunk under {kept} ({exc}); the next load dequantises again")


def _checked_trunk(trunk, tokenizer, path: Path):
    for name in ("layers", "norm", "rotary_emb", "embed_tokens"):
        if not hasattr(trunk, name):
            raise RrrError(f"{path}: unsupported architecture {type(trunk).__name__} "
                           "(the reward model needs a Llama/Qwen-style decoder)")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    trunk.eval()
    return trunk, tokenizer


# --- the model --------------------------------------------------------------------------------------

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
    # Where the pooled states come from: "trunk", the torch decoder (transformers; LoRA can train it);
    # "llama.cpp", the base GGUF model as llama.cpp runs it (`LlamaStatesModel`: no trunk is loaded,
    # and `rrr solve` reads the states from the model it sampled with); "none": the head reads no
    # text, only the log-probs and the execution evidence (`NoStatesModel`). Training and scoring agree.
    states: str = "trunk"

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


STATES = ("trunk", "llama.cpp", "none")


def check_states(states: str, where: str = "") -> None:
    if states not in STATES:
        raise RrrError(f"{where}unknown source of pooled states {states!r} (trunk, llama.cpp or none)")


# --- the head ---------------------------------------------------------------------------------------

CONFIDENCE_INPUTS = 3  # mean token log-prob, log-prob sum / 10, log(1 + tokens)
EXAMPLES_TIER = 1000.0  # `examples_first`: the score's step per share of the examples passed


def examples_column(settings: "RewardModelSettings") -> int | None:
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


def extra_inputs(settings: "RewardModelSettings") -> int:
    """How many inputs the head reads besides the pooled state: confidence, then evidence."""
    return (CONFIDENCE_INPUTS if settings.confidence else 0) + settings.evidence_inputs


def extra_rows(settings: "RewardModelSettings", logprobs: Sequence[tuple[float, int] | None],
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


def _head_class():
    torch = _torch()

    class ProjectedHead(torch.nn.Module):
        """A linear score on the pooled state's top principal components (standardised first), plus
        the generator-confidence inputs. Projecting onto a few components is the regulariser that
        lets a head learn from a couple of hundred tasks (a full-width head over-fits them)."""

        def __init__(self, hidden: int, projection: int, confidence: bool, extra: int = 0):
            super().__init__()
            self.register_buffer("center", torch.zeros(hidden))
            self.register_buffer("scale", torch.ones(hidden))
            self.register_buffer("basis", torch.zeros(hidden, projection))
            self.extra = extra or (CONFIDENCE_INPUTS if confidence else 0)
            self.linear = torch.nn.Linear(projection + self.extra, 1)
            with torch.no_grad():
                self.linear.weight.zero_()
                self.linear.bias.zero_()
                if confidence:
                    self.linear.weight[0, projection] = 1.0  # start as the mean log-prob scorer

        @property
        def projection(self) -> int:
            return self.basis.shape[1]

        def fit_projection(self, pooled) -> None:
            """Centre, scale and principal directions from pooled training states [n, hidden]."""
            with torch.no_grad():
                pooled = pooled.float()
                self.center.copy_(pooled.mean(0))
                self.scale.copy_(pooled.std(0) + 1e-4)
                standard = (pooled - self.center) / self.scale
                q = min(self.projection, *standard.shape)
                # Top right-singular vectors; the /10 keeps the components near unit scale.
                _, _, v = torch.linalg.svd(standard, full_matrices=False)
                self.basis.zero_()
                self.basis[:, :q].copy_(v[:q].T / 10.0)

        def penalty(self):
            """Squared weights on the components (the confidence weights are not shrunk)."""
            weights = self.linear.weight[0, :self.projection]
            return (weights * weights).sum()

        def forward(self, pooled, extra=None):
            x = ((pooled.float() - self.center) / self.scale) @ self.basis
            if self.extra:
                x = torch.cat([x, extra.to(x)], dim=1)
            return self.linear(x)

    return ProjectedHead


def make_head(hidden: int, settings: RewardModelSettings):
    """The head `settings` describe: a plain linear layer on the pooled state, or a projected head."""
    torch = _torch()
    if settings.projection > 0 or extra_inputs(settings):
        if settings.projection < 1 and settings.states != "none":
            raise RrrError("a head with confidence or evidence inputs needs --projection of at least 1")
        return _head_class()(hidden, settings.projection, settings.confidence, extra_inputs(settings))
    head = torch.nn.Linear(hidden, 1)
    # Small weights so the first scores sit near 0 and the first gradients are gentle.
    torch.nn.init.normal_(head.weight, std=1.0 / hidden)
    torch.nn.init.zeros_(head.bias)
    return head


class Encoded(list):
    """Token ids of prompt + completion + end token (a plain list to every caller), plus `start`:
    the index of the completion's first token, where mean pooling begins."""

    def __init__(self, ids: Sequence[int], start: int = 0):
        super().__init__(ids)
        self.start = start


@dataclass
class TextStates:
    """The frozen part of the trunk's output for one text: the hidden states entering the first
    trainable layer, one row per token (no padding), and where its completion starts."""

    hidden: Any  # torch.Tensor [tokens, hidden]
    start: int = 0


@functools.lru_cache(maxsize=8)
def _cache_argument(decoder_class: type) -> str:
    """The decoder's keyword for its key/value cache: `cache` in transformers 5, `past_key_values` before."""
    import inspect

    return "cache" if "cache" in inspect.signature(decoder_class.forward).parameters else "past_key_values"


class RewardModel:
    """A scalar reward r(prompt, completion) from a code LM trunk with LoRA and a linear head."""

    def __init__(self, trunk, tokenizer, head, base: BaseModelInfo, settings: RewardModelSettings,
                 manifest: dict[str, Any] | None = None, device: str | None = None):
        self.trunk = trunk  # a peft model wrapping the decoder, or the decoder itself (merged)
        self.tokenizer = tokenizer
        self.head = head
        self.base = base
        self.settings = settings
        self.manifest = manifest or {}
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
        self.head.to(self.device)

    # construction ------------------------------------------------------------------------------

    @classmethod
    def from_base(cls, spec: str | None = None, settings: RewardModelSettings | None = None,
                  seed: int = 0, device: str | None = None) -> "RewardModel":
        """A fresh reward model: the base trunk, new LoRA adapters on its top layers, a new head."""
        torch = _torch()
        settings = settings or RewardModelSettings()
        check_states(settings.states)
        info = base_model_info(spec)
        if settings.states != "trunk":
            return STATE_MODELS[settings.states].fresh(info, settings, seed=seed)
        trunk, tokenizer = load_trunk(info)
        torch.manual_seed(seed)
        head = make_head(trunk.config.hidden_size, settings)
        return cls(_with_lora(trunk, settings), tokenizer, head, info, settings, device=device)

    # encoding ----------------------------------------------------------------------------------

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

    def _autocast(self):
        torch = _torch()
        device_type = "cuda" if str(self.device).startswith("cuda") else "cpu"
        return torch.autocast(device_type, dtype=torch.bfloat16, enabled=self.use_bf16)

    def _padded(self, sequences: Sequence[list[int]]):
        torch = _torch()
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
        torch = _torch()
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

    def _pooled(self, final, attention_mask, starts: Sequence[int]):
        """One vector per row: the mean of the completion's states (and the end token's), or the last."""
        torch = _torch()
        if self.settings.pooling == "last":
            last = attention_mask.sum(dim=1) - 1  # right padding: the last real token of each row
            return final[torch.arange(final.shape[0], device=final.device), last].float()
        positions = torch.arange(final.shape[1], device=final.device).unsqueeze(0)
        begin = torch.tensor(list(starts), device=final.device).unsqueeze(1)
        weights = ((positions >= begin) & attention_mask.bool()).to(final.dtype).unsqueeze(-1)
        return ((final * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1)).float()

    def head_scores(self, pooled, confidence: Sequence[list[float]] | None = None):
        """The head on pooled states; `confidence` (one `confidence_inputs` row per text) is
        required when the head reads the generator's log-probs, ignored otherwise."""
        torch = _torch()
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
        list pools from its first token), through the whole model."""
        ids, mask = self._padded(sequences)
        with self._autocast():
            final = self.trunk(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.head_scores(self._pooled(final, mask, [getattr(s, "start", 0) for s in sequences]), confidence)

    def trunk_states(self, sequences: Sequence[list[int]]) -> list[TextStates]:
        """The frozen bottom's output for each sequence (computed once, reused every epoch)."""
        torch = _torch()
        ids, mask = self._padded(sequences)
        # no_grad rather than inference_mode: the states are later read by steps that build a graph.
        with torch.no_grad(), self._autocast():
            hidden = self.decoder.embed_tokens(ids)
            hidden = self._run_layers(hidden, mask, 0, self.split)
        # Stored at the autocast dtype: half the memory of float32, and what the top layers get anyway.
        dtype = torch.bfloat16 if self.use_bf16 else torch.float32
        return [TextStates(hidden[row, :len(seq)].to(dtype=dtype, device="cpu").clone(), getattr(seq, "start", 0))
                for row, seq in enumerate(sequences)]

    @property
    def frozen(self) -> bool:
        """Whether no decoder layer trains: a text's pooled state is then fixed by the base weights."""
        return self.split == len(self.decoder.layers)

    def pooled_texts(self, sequences: Sequence[list[int]], batch_size: int = 8,
                     progress: Callable[[int], None] | None = None):
        """Pooled final states of a frozen trunk (`frozen`), a float32 CPU tensor, one row per sequence.

        Sequences that share a prompt (`encode`'s `start`) share its evaluation: the prompt runs once
        per batch of its completions and its keys and values serve each of them, so 8 candidates of a
        task cost one prompt and 8 completions, not 8 prompts (attention is causal: the completion's
        states are those of a pass over the whole text). A text pooled before on the same base weights
        is not evaluated again: states are kept in memory and on disk (`rrr_cli.pooled_states`), so
        the folds of `rrr train-reranker --folds`, the held-out scoring after each and a later
        `rrr eval` read them. `progress(k)` after each k sequences evaluated."""
        torch = _torch()
        import numpy as np

        rows = self.pooled_rows(sequences, batch_size, progress)
        if not rows:
            return torch.zeros((0, self.hidden_size))
        return torch.from_numpy(np.stack(rows))  # a new array: the store's rows are read-only

    def pooled_rows(self, sequences: Sequence[list[int]], batch_size: int = 8,
                    progress: Callable[[int], None] | None = None) -> list:
        """`pooled_texts` as float32 numpy rows, one per sequence (what the store keeps)."""
        if not self.frozen:
            raise RrrError("pooled states are fixed only for a frozen trunk (no trainable layers)")
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
                kept.put(dict(zip(chunk, self._pooled_after(list(prefix), [completions[k] for k in chunk]))))
                if progress:
                    progress(len(chunk))
        return [kept.get(key) for key in keys]

    @property
    def hidden_size(self) -> int:
        return self.decoder.config.hidden_size

    def pooled_store(self) -> "pooled_states.PooledStates":
        """Where this trunk's pooled states are kept (`rrr_cli.pooled_states`): by base weights,
        pooling, precision and device kind."""
        device = "cuda" if str(self.device).startswith("cuda") else "cpu"
        return pooled_states.store(pooled_states.store_name(
            [self.base.sha256[:16] or "unhashed", self.settings.pooling, "bf16" if self.use_bf16 else "f32", device]))

    def _pooled_after(self, prefix: list[int], completions: list[list[int]]):
        """Pooled final states of `completions`, each following `prefix` (evaluated once for all)."""
        torch = _torch()
        decoder = self.decoder
        keyword = _cache_argument(type(decoder))
        rows = len(completions)
        with torch.no_grad(), self._autocast():
            cache = None
            if prefix:
                from transformers import DynamicCache

                cache = DynamicCache()
                decoder(input_ids=torch.tensor([prefix], device=self.device), use_cache=True, **{keyword: cache})
                cache.batch_repeat_interleave(rows)
            ids, mask = self._padded(completions)
            seen = torch.ones((rows, len(prefix)), dtype=mask.dtype, device=mask.device)
            positions = (torch.arange(ids.shape[1], device=ids.device) + len(prefix)).unsqueeze(0).expand(rows, -1)
            final = decoder(input_ids=ids, attention_mask=torch.cat([seen, mask], dim=1), position_ids=positions,
                            use_cache=cache is not None, **{keyword: cache}).last_hidden_state
        return [row.clone() for row in self._pooled(final, mask, [0] * rows).cpu()]

    def pooled_from_states(self, states: Sequence[TextStates]):
        """Pooled final states (a tensor, with grad where the top layers train) from cached bottom
        states: the top layers, the final norm, the pooling; no head."""
        torch = _torch()
        width = max(s.hidden.shape[0] for s in states)
        size = states[0].hidden.shape[1]
        hidden = torch.zeros((len(states), width, size), dtype=states[0].hidden.dtype)
        mask = torch.zeros((len(states), width), dtype=torch.long)
        for row, s in enumerate(states):
            hidden[row, :s.hidden.shape[0]] = s.hidden
            mask[row, :s.hidden.shape[0]] = 1
        hidden, mask = hidden.to(self.device), mask.to(self.device)
        with self._autocast():
            if self.split < len(self.decoder.layers):
                hidden = self._run_layers(hidden, mask, self.split, len(self.decoder.layers))
            final = self.decoder.norm(hidden)
        return self._pooled(final, mask, [s.start for s in states])

    def score_from_states(self, states: Sequence[TextStates], confidence: Sequence[list[float]] | None = None):
        """Scores (a tensor, with grad) from cached bottom states."""
        return self.head_scores(self.pooled_from_states(states), confidence)

    def score_texts(self, texts: Sequence[tuple[str, str]], batch_size: int = 8,
                    progress: Callable[[int], None] | None = None,
                    logprobs: Sequence[tuple[float, int] | None] | None = None,
                    evidence: Sequence[list[float]] | None = None) -> list[float]:
        """Scores for (prompt, completion) pairs, in order; batched by similar length (less padding).
        `logprobs` (the generator's (sum, tokens) per text) feeds a head with confidence inputs; a
        text without them counts as its batch's least confident (see `fill_confidence`); `evidence`
        (one `ranking.evidence` row per text) feeds a head that reads execution evidence."""
        torch = _torch()
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

    # parameters --------------------------------------------------------------------------------

    def trainable_parameters(self) -> list:
        return [p for p in self.trunk.parameters() if p.requires_grad] + list(self.head.parameters())

    def trainable_state(self) -> dict[str, Any]:
        """A copy of everything training changes (LoRA weights and the head)."""
        state = {f"trunk.{n}": p.detach().clone() for n, p in self.trunk.named_parameters() if p.requires_grad}
        state.update({f"head.{n}": p.detach().clone() for n, p in self.head.named_parameters()})
        return state

    def load_trainable_state(self, state: dict[str, Any]) -> None:
        torch = _torch()
        params = dict(self.trunk.named_parameters())
        heads = dict(self.head.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                kind, _, rest = name.partition(".")
                (params if kind == "trunk" else heads)[rest].copy_(value)

    def merge_adapters(self) -> None:
        """Fold the LoRA weights into the trunk for scoring: the same scores, a plain forward pass."""
        if hasattr(self.trunk, "merge_and_unload"):
            self.trunk = self.trunk.merge_and_unload()
            self.decoder = self.trunk

    # saving ------------------------------------------------------------------------------------

    def save(self, directory: str | os.PathLike, manifest: dict[str, Any] | None = None) -> Path:
        """Write the reranker (adapters, head, manifest) atomically: a temp dir renamed into place.

        Any existing reranker at `directory` is replaced only once the new one is complete.
        """
        if not hasattr(self.trunk, "save_pretrained") or not hasattr(self.trunk, "peft_config"):
            raise RrrError("this reward model's adapters were merged into the trunk; it cannot be saved")
        return self._save(directory, manifest, lambda tmp: self.trunk.save_pretrained(tmp / ADAPTER_DIR))

    def _save(self, directory, manifest: dict[str, Any] | None, write_trunk: Callable[[Path], None]) -> Path:
        """`save`'s atomic write: `write_trunk(tmp)` adds the trunk's part (LoRA adapters, or nothing)."""
        from safetensors.torch import save_file

        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            write_trunk(tmp)
            save_file({k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()},
                      str(tmp / HEAD_FILE))
            data = {
                "format": FORMAT_VERSION,
                "name": target.name,
                "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "base_model": self.base.to_dict(),
                "settings": self.settings.to_dict(),
                **(manifest or {}),
            }
            (tmp / MANIFEST).write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            for path in tmp.rglob("*"):
                if path.is_file():
                    with open(path, "rb") as handle:
                        os.fsync(handle.fileno())
            old = None
            if target.exists():
                old = target.with_name(f".{target.name}.old-{os.getpid()}-{time.monotonic_ns()}")
                os.replace(target, old)
            os.replace(tmp, target)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        self.manifest = data
        return target

    @classmethod
    def load(cls, directory: str | os.PathLike, device: str | None = None, merge: bool = False,
             check_base: bool = True) -> "RewardModel":
        """Load a saved reranker onto its base model. `merge` folds the adapters in (for scoring).

        The base model is found from the manifest (its spec, then its recorded path) and must have
        the recorded sha256 unless `check_base` is false.
        """
        directory = Path(directory)
        manifest = read_manifest(directory)
        base = manifest.get("base_model") or {}
        saved = {"pooling": "last", **(manifest.get("settings") or {})}  # saved before pooling was a setting
        settings = RewardModelSettings(**{k: v for k, v in saved.items()
                                          if k in RewardModelSettings.__dataclass_fields__})
        check_states(settings.states, f"{directory / MANIFEST}: ")
        info = _find_base(base, directory)
        if check_base and base.get("sha256") and info.sha256 != base["sha256"]:
            raise RrrError(f"{directory}: base model {info.path} does not match the one this reranker "
                           f"was trained on (sha256 {info.sha256[:12]}… != {base['sha256'][:12]}…)")
        if settings.states != "trunk":
            return STATE_MODELS[settings.states].load_head(directory, info, settings, manifest)
        from peft import PeftModel

        trunk, tokenizer = load_trunk(info)
        try:
            trunk = PeftModel.from_pretrained(trunk, directory / ADAPTER_DIR)
        except (OSError, ValueError, KeyError) as exc:
            raise RrrError(f"{directory}: cannot load the reranker's adapters: {exc}") from None
        head = _load_head(directory, make_head(trunk.get_base_model().config.hidden_size, settings))
        model = cls(trunk, tokenizer, head, info, settings, manifest=manifest, device=device)
        if merge:
            model.merge_adapters()
        return model


def _load_head(directory: Path, head):
    """`head` with the weights saved in `directory`."""
    from safetensors.torch import load_file

    try:
        head.load_state_dict(load_file(str(directory / HEAD_FILE)))
    except (OSError, RuntimeError) as exc:
        raise RrrError(f"{directory}: cannot load the reranker's head: {exc}") from None
    return head


class LlamaStatesModel(RewardModel):
    """A reward model whose pooled states come from the base GGUF model as llama.cpp runs it
    (`settings.states = "llama.cpp"`), the head alone trained: no torch trunk, no transformers.

    A saved one is its head and manifest (kilobytes). The states are those of
    `LlamaCppBackend.pooled_states` on llama.cpp's own tokens of prompt + completion + end token, from
    the process's open backend on the same file when there is one (`LlamaCppBackend.shared`: `rrr
    solve` scores with the model it sampled with, no second load), and are kept like the trunk's
    (`pooled_states`, in a store of their own). Training computes them the same way, so a head is
    scored on the states it was fitted on."""

    PROMPTS_PER_CALL = 32  # completions of one prompt evaluated after it in one `pooled_states` call

    def __init__(self, head, base: BaseModelInfo, settings: RewardModelSettings,
                 manifest: dict[str, Any] | None = None, hidden: int = 0):
        if base.format != "gguf" and settings.states == "llama.cpp":
            raise RrrError(f"{base.path}: llama.cpp states need a GGUF base model (this one is a {base.format} folder)")
        if settings.pooling != "mean" or settings.trainable_layers:
            raise RrrError(f"a head on {settings.states} states trains alone on mean-pooled states "
                           "(pooling mean, no trainable layers)")
        self._trunk = None  # an empty module, made when training asks (nothing of the model trains here)
        self.decoder = None
        self.tokenizer = None
        self.head = head
        self.base = base
        self.settings = settings
        self.manifest = manifest or {}
        self.device = "cpu"
        self.use_bf16 = False
        self.split = 0
        self._hidden = hidden
        self._backend = None
        self._weights = None  # the saved head as numpy arrays, when loaded to score (`load_head`)

    @property
    def trunk(self):
        if self._trunk is None:
            self._trunk = _torch().nn.Module()
        return self._trunk

    @classmethod
    def fresh(cls, info: BaseModelInfo, settings: RewardModelSettings, seed: int = 0) -> "LlamaStatesModel":
        _torch().manual_seed(seed)
        model = cls(None, info, settings)
        model.head = make_head(model.hidden_size, settings)
        return model

    @classmethod
    def load_head(cls, directory: Path, info: BaseModelInfo, settings: RewardModelSettings,
                  manifest: dict[str, Any]) -> "LlamaStatesModel":
        """A saved reranker to score with: its head as numpy arrays (no torch is imported)."""
        from safetensors import SafetensorError
        from safetensors.numpy import load_file

        model = cls(None, info, settings, manifest=manifest)
        try:
            model._weights = load_file(str(directory / HEAD_FILE))
        except (OSError, SafetensorError) as exc:
            raise RrrError(f"{directory}: cannot load the reranker's head: {exc}") from None
        expected = {name: tuple(value.shape) for name, value in
                    _head_shapes(model.hidden_size, settings).items()}
        found = {name: tuple(value.shape) for name, value in model._weights.items()}
        if found != expected:
            raise RrrError(f"{directory}: the reranker's head does not fit its settings and base model "
                           f"(weights {found}, expected {expected})")
        return model

    def score_texts(self, texts, batch_size: int = 8, progress=None, logprobs=None, evidence=None) -> list[float]:
        if self._weights is None:  # being trained: the torch head
            return super().score_texts(texts, batch_size, progress, logprobs, evidence)
        import numpy as np

        rows = self.pooled_rows([self.encode(p, c) for p, c in texts], self.PROMPTS_PER_CALL, progress)
        pooled = np.stack(rows) if rows else np.zeros((0, self.hidden_size), dtype=np.float32)
        extra = extra_rows(self.settings, logprobs or [None] * len(texts), evidence)
        scores = head_numpy(self._weights, pooled, extra)
        column = examples_column(self.settings)
        if column is not None:
            scores = scores + EXAMPLES_TIER * np.asarray(extra, dtype=np.float32).reshape(len(texts), -1)[:, column]
        return [float(v) for v in scores]

    @property
    def backend(self):
        if self._backend is None:
            from rrr_cli.generation.llamacpp import LlamaCppBackend

            self._backend = LlamaCppBackend.shared(self.base.path, model_name=self.base.spec)
        return self._backend

    @property
    def hidden_size(self) -> int:
        if not self._hidden:
            self._hidden = self.backend.hidden_size
        return self._hidden

    @property
    def frozen(self) -> bool:
        return True

    def encode(self, prompt: str, completion: str) -> Encoded:
        """The prompt's tokens, then the completion's and the end token: tokenized apart, so every
        candidate of a task shares the prompt's tokens (and its one evaluation)."""
        start = len(prompt_ids := self.backend.tokenize(prompt, special=False)) if prompt else 0
        ids = (prompt_ids if prompt else []) + self.backend.tokenize(completion, special=False, bos=not prompt) + [self.backend.eos_token]
        cut = max(0, len(ids) - self.settings.max_length)
        start = min(start, len(ids) - 1)
        return Encoded(ids[cut:], max(0, start - cut))

    def pooled_rows(self, sequences, batch_size: int = 8, progress=None):
        return super().pooled_rows(sequences, max(batch_size, self.PROMPTS_PER_CALL), progress)

    def pooled_store(self) -> "pooled_states.PooledStates":
        return pooled_states.store(pooled_states.store_name([self.base.sha256[:16] or "unhashed", "mean", "llama.cpp"]))

    def _pooled_after(self, prefix: list[int], completions: list[list[int]]):
        return self.backend.pooled_states(prefix, completions)

    def save(self, directory: str | os.PathLike, manifest: dict[str, Any] | None = None) -> Path:
        if self.head is None:
            raise RrrError("a reranker loaded to score (its head in numpy) cannot be saved again")
        return self._save(directory, manifest, lambda tmp: None)


def _head_shapes(hidden: int, settings: RewardModelSettings) -> dict[str, Any]:
    """The arrays a head of these settings saves, by name (zeros of their shapes; `make_head` without torch)."""
    import numpy as np

    if settings.projection > 0 or extra_inputs(settings):
        width = settings.projection + extra_inputs(settings)
        return {"center": np.zeros(hidden), "scale": np.zeros(hidden), "basis": np.zeros((hidden, settings.projection)),
                "linear.weight": np.zeros((1, width)), "linear.bias": np.zeros(1)}
    return {"weight": np.zeros((1, hidden)), "bias": np.zeros(1)}


def head_numpy(weights: dict[str, Any], pooled, extra: Sequence[Sequence[float]] | None):
    """A saved head's scores in numpy (`make_head`'s two kinds: a plain linear layer, or the projected
    head with its extra inputs), for a reranker that scores without torch."""
    import numpy as np

    x = pooled.astype(np.float32)
    if "basis" in weights:
        x = ((x - weights["center"]) / weights["scale"]) @ weights["basis"]
        if extra is not None:
            x = np.concatenate([x, np.asarray(extra, dtype=np.float32).reshape(len(x), -1)], axis=1)
        weight, bias = weights["linear.weight"], weights["linear.bias"]
    else:
        weight, bias = weights["weight"], weights["bias"]
    return (x @ weight.T + bias)[:, 0]


class NoStatesModel(LlamaStatesModel):
    """A head on the generator's log-probs and the execution evidence alone (`states = "none"`): no
    model is run to score, so a reranker costs what running the candidates costs. The ablation of the
    text states, and the cheapest learned scorer."""

    @property
    def hidden_size(self) -> int:
        return 0

    def encode(self, prompt: str, completion: str) -> Encoded:
        return Encoded([0], 0)  # nothing is read; one placeholder token per text

    def pooled_rows(self, sequences, batch_size: int = 8, progress=None):
        import numpy as np

        if progress and sequences:
            progress(len(sequences))
        return [np.zeros(0, dtype=np.float32) for _ in sequences]


STATE_MODELS = {"llama.cpp": LlamaStatesModel, "none": NoStatesModel}


def _with_lora(trunk, settings: RewardModelSettings):
    """The trunk with LoRA adapters on its top `trainable_layers` layers; everything else frozen."""
    from peft import LoraConfig, get_peft_model

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


def _find_base(base: dict[str, Any], directory: Path) -> BaseModelInfo:
    spec = base.get("spec")
    path = base.get("path")
    if spec is None and path is None:
        raise RrrError(f"{directory / MANIFEST}: no base model recorded")
    for candidate in (spec, path):
        if candidate is None:
            continue
        try:
            info = base_model_info(candidate)
        except RrrError:
            continue
        return info
    raise RrrError(f"{directory}: its base model {spec or path} is not available here")


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise RrrError(f"{directory}: not a reranker (no {MANIFEST})")
    data = read_json_file(path, "manifest")
    if not isinstance(data, dict):
        raise RrrError(f"{path}: manifest is not a JSON object")
    for key, hint in MANIFEST_FIELDS.items():
        if key in data:
            check_value(data[key], hint, f"{path}: manifest field {key!r}")
    for key, hint in BASE_MODEL_FIELDS.items():
        if key in data.get("base_model", {}):
            check_value(data["base_model"][key], hint, f"{path}: manifest field 'base_model.{key}'")
    hints = typing.get_type_hints(RewardModelSettings)
    for key, value in data.get("settings", {}).items():
        if key in hints:
            check_value(value, hints[key], f"{path}: manifest field 'settings.{key}'")
    return data


# What a manifest's fields must be where present (older rerankers lack some of them).
MANIFEST_FIELDS: dict[str, Any] = {"format": int, "name": str, "created": str, "base_model": dict, "settings": dict}
BASE_MODEL_FIELDS: dict[str, Any] = {"spec": str | None, "path": str | None, "sha256": str | None}


# --- the rerankers directory ------------------------------------------------------------------------

def rerankers_dir() -> Path:
    """Where trained rerankers live: `<cache>/rerankers/<name>/`."""
    return config.data_path("rerankers")


def shipped_rerankers_dir() -> Path:
    """The rerankers that come with rrr (a head and a manifest each; `rerank.shipped` turns them off)."""
    return Path(__file__).parent / "data" / "rerankers"


def is_shipped(directory: Path) -> bool:
    return Path(directory).parent == shipped_rerankers_dir()


def _rerankers_in(root: Path) -> list[tuple[str, Path, dict[str, Any]]]:
    found = []
    for entry in root.iterdir() if root.is_dir() else []:
        if entry.name.startswith(".") or not (entry / MANIFEST).is_file():
            continue
        try:
            manifest = read_manifest(entry)
        except RrrError:
            continue
        found.append((entry.name, entry, manifest))
    found.sort(key=lambda item: (str(item[2].get("created", "")), (item[1] / MANIFEST).stat().st_mtime),
               reverse=True)
    return found


def list_rerankers(shipped: bool = False) -> list[tuple[str, Path, dict[str, Any]]]:
    """(name, directory, manifest) of every complete trained reranker, newest first; with `shipped`,
    then those that come with rrr (unless the setting `rerank.shipped` is off)."""
    found = _rerankers_in(rerankers_dir())
    if shipped and config.get("rerank.shipped"):
        names = {name for name, _, _ in found}
        found += [item for item in _rerankers_in(shipped_rerankers_dir()) if item[0] not in names]
    return found


def newest_reranker() -> Path | None:
    """The newest trained reranker, else a shipped one."""
    found = list_rerankers(shipped=True)
    return found[0][1] if found else None


def find_reranker(name_or_path: str | os.PathLike | None) -> Path:
    """A reranker directory from a name (trained, then shipped) or a path; None means the newest."""
    if name_or_path is None:
        newest = newest_reranker()
        if newest is None:
            raise RrrError("no trained reranker yet (train one with `rrr train-reranker`)")
        return newest
    path = Path(name_or_path).expanduser()
    if (path / MANIFEST).is_file():
        return path
    if os.sep not in str(name_or_path):
        for root in (rerankers_dir(), shipped_rerankers_dir()):
            if (root / str(name_or_path) / MANIFEST).is_file():
                return root / str(name_or_path)
    known = ", ".join(name for name, _, _ in list_rerankers(shipped=True)) or "none trained yet"
    raise RrrError(f"no reranker {str(name_or_path)!r} (known: {known})")


def new_reranker_name(prefix: str = "reranker") -> str:
    """A fresh, sortable name: reranker-YYYYmmdd-HHMMSS."""
    return f"{prefix}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
