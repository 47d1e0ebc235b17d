"""Choosing and opening a generation backend: `--backend auto|llama.cpp|hf|vllm`.

"auto" takes vLLM when a CUDA GPU and the vllm package are both present, else llama.cpp for a GGUF
file and transformers for a Hugging Face model folder (llama.cpp cannot read those).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rrr_cli import config
from rrr_cli.errors import RrrError
from rrr_cli.generation.base import Backend

BACKENDS = ("auto", "llama.cpp", "hf", "vllm")
ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "transformers": "hf", "torch": "hf"}


def normalise_backend(name: str | None) -> str:
    """The canonical backend name for `name` (aliases accepted); RrrError for an unknown one."""
    key = (name or "auto").strip().lower()
    key = ALIASES.get(key, key)
    if key not in BACKENDS:
        raise RrrError(f"unknown backend {name!r} (choose from: {', '.join(BACKENDS)})")
    return key


def vllm_usable() -> bool:
    """True when vllm is importable and torch sees a CUDA GPU."""
    if importlib.util.find_spec("vllm") is None:
        return False
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def choose_backend(backend: str | None, model_path: Path) -> str:
    """Resolve "auto" to a concrete backend for this model file or folder."""
    key = normalise_backend(backend)
    if key != "auto":
        return key
    if vllm_usable():
        return "vllm"
    return "hf" if model_path.is_dir() else "llama.cpp"


def open_backend(
    model: str | None,
    backend: str = "auto",
    n_ctx: int | None = None,
    threads: int | None = None,
    lora_path: str | Path | None = None,
) -> Backend:
    """Load `model` (a catalog name, a GGUF path, a Hugging Face folder; None = the default model).

    `n_ctx` (tokens per sequence, prompt + completion) and `threads` default to the settings
    `sample.n_ctx` and `sample.threads` (0 = every core). `lora_path`: a GGUF LoRA adapter that
    llama.cpp applies on top of the model (see generation/gguf_lora.py).
    """
    from rrr_cli.models import resolve_model

    path = resolve_model(model)
    name = model if model is not None else str(config.get("models.default"))
    name = Path(name).stem if ("/" in name or name.endswith(".gguf")) else name
    n_ctx = int(config.get("sample.n_ctx", n_ctx) or 0) or None
    threads = int(config.get("sample.threads", threads) or 0) or None
    kind = choose_backend(backend, path)
    if lora_path is not None and kind != "llama.cpp":
        raise RrrError(f"a GGUF LoRA adapter needs the llama.cpp backend, not {kind}")
    if kind == "llama.cpp":
        if path.is_dir():
            raise RrrError(f"{path}: llama.cpp needs a GGUF file, not a folder (use --backend hf)")
        from rrr_cli.generation.llamacpp import LlamaCppBackend

        return LlamaCppBackend(path, model_name=name, n_ctx=n_ctx, threads=threads, lora_path=lora_path)
    if kind == "hf":
        from rrr_cli.generation.hf import HFBackend

        return HFBackend.from_path(path, name=name, threads=threads)
    from rrr_cli.generation.vllm_backend import VLLMBackend

    return VLLMBackend(path, name=name, n_ctx=n_ctx)
