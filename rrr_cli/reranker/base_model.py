"""The reward model's base: resolving and fingerprinting it, and loading its trunk (kept dequantised).

The trunk starts from the generator's own weights (Qwen2.5-Coder-0.5B-Instruct by default), loaded from
the catalog's GGUF file (transformers dequantises it) or from a Hugging Face model directory. A saved
reranker names its base model and the base's sha256 (`BaseModelInfo`), never a copy of its weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from rrr_cli import config, models
from rrr_cli.atomic import atomic_dir
from rrr_cli.errors import RrrError
from rrr_cli.generation.hf import quiet_loading
from rrr_cli.reranker.device import require_torch
from rrr_cli.ui import notice


@dataclass
class BaseModelInfo:
    """Where the trunk came from, so a saved reranker can find (and check) it again."""

    spec: str  # what the user named: a catalog name, a .gguf path or a HF directory
    path: str  # the resolved local file or directory
    sha256: str  # of the GGUF file, or of the directory's weight files in name order
    format: str  # "gguf" or "hf"

    def to_dict(self) -> dict[str, str]:
        return {"spec": self.spec, "path": self.path, "sha256": self.sha256, "format": self.format}


def sha256_files(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def _resolve_base(spec: str | None) -> tuple[str, Path]:
    """A catalog name (pulled if needed), a GGUF file or a HF model directory → local path."""
    spec = str(spec if spec is not None else config.get("models.default"))
    return spec, Path(models.resolve_model(spec))


def base_model_info(spec: str | None) -> BaseModelInfo:
    """Resolve and fingerprint a base model without loading it."""
    spec, path = _resolve_base(spec)
    if path.is_dir():
        weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
        if not weights:
            raise RrrError(f"{path}: no model weights (*.safetensors) in this directory")
        return BaseModelInfo(spec, str(path), sha256_files(weights), "hf")
    if spec in models.CATALOG and path == models.model_path(spec) and models.verify(spec):
        # The catalog already checked this file against its sha256; no need to hash it again.
        return BaseModelInfo(spec, str(path), models.get_model(spec).sha256, "gguf")
    return BaseModelInfo(spec, str(path), sha256_files([path]), "gguf")


def dequantised_path(info: BaseModelInfo) -> Path:
    """Where a GGUF base's float32 trunk is kept once transformers has dequantised it."""
    return config.data_path("cache") / "trunks" / info.sha256[:16]


def load_trunk(info: BaseModelInfo, keep: bool = True):
    """(trunk, tokenizer) for a base model: the bare decoder (no LM head) in float32.

    transformers dequantises a GGUF file on every load (most of a reranker's start-up: about 40 s of
    a `rrr solve` with a trained reranker on a 2-core CPU), so the first load keeps the float32
    trunk and tokenizer as a Hugging Face directory (`dequantised_path`, about 4 bytes a weight) and
    later loads read that: the same weights, bit for bit. With `keep` false a GGUF load writes no
    copy (`benchmarks/trunk_load.py` times the dequantising alone so); a kept one is still read."""
    torch = require_torch()
    from transformers import AutoModel, AutoTokenizer  # deferred: transformers imports torch

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
            import gguf  # noqa: F401  (deferred, and only to check: transformers needs it to read GGUF files)
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
    if kept is not None and keep:
        keep_dequantised(trunk, tokenizer, kept)
    return trunk, tokenizer


def keep_dequantised(trunk, tokenizer, kept: Path) -> None:
    """Save the dequantised trunk for the next load (written beside and renamed; a full disk only
    costs the next load its time)."""
    from safetensors.torch import save_file  # deferred: safetensors.torch imports torch

    try:
        with atomic_dir(kept) as staging:
            # transformers will not save a model it read from GGUF: its config and weights as they are.
            trunk.config.save_pretrained(staging)
            save_file({name: value.contiguous() for name, value in trunk.state_dict().items()},
                      str(staging / "model.safetensors"), metadata={"format": "pt"})
            tokenizer.save_pretrained(staging)
    except (OSError, RuntimeError, ValueError) as exc:  # a full disk, or weights safetensors will not take
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
