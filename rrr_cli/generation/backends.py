"""Choosing and opening a generation backend: `--backend auto|llama.cpp|hf|vllm|<a plugin's>`.

Backends are entry points of the `rrr.backends` group (`rrr_cli/plugins`): rrr's own three are
registered in its pyproject.toml like any plugin's, and `open_backend` looks the chosen one up there.

"auto" takes vLLM when a CUDA GPU and the vllm package are both present, else llama.cpp for a GGUF
file and transformers for a Hugging Face model folder (llama.cpp cannot read those).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from rrr_cli import config, plugins
from rrr_cli.errors import RrrError
from rrr_cli.generation.base import Backend

ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "transformers": "hf", "torch": "hf"}


def backend_names() -> list[str]:
    """`auto` and every installed backend (entry points of `rrr.backends`)."""
    return ["auto", *plugins.names("backend")]


def normalise_backend(name: str | None) -> str:
    """The canonical backend name for `name` (aliases accepted); RrrError for an unknown one."""
    key = (name or "auto").strip().lower()
    key = ALIASES.get(key, key)
    if key not in backend_names():
        raise RrrError(f"unknown backend {name!r} (choose from: {', '.join(backend_names())})")
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
    factory = plugins.callable_or_report("backend", kind)
    if factory is None:
        raise RrrError(f"backend {kind!r} is installed but broken (see the warning above)")
    return factory(path, name=name, n_ctx=n_ctx, threads=threads, lora_path=lora_path)


# --- rrr's own backends, registered in pyproject.toml under `rrr.backends` -------------------------

def _no_adapter(kind: str, lora_path: str | Path | None) -> None:
    if lora_path is not None:
        raise RrrError(f"a GGUF LoRA adapter needs the llama.cpp backend, not {kind}")


def open_llamacpp(path: Path, *, name: str, n_ctx: int | None = None, threads: int | None = None,
                  lora_path: str | Path | None = None) -> Backend:
    """llama.cpp on a GGUF file (CPU, or a GPU where llama-cpp-python was built for one)."""
    if path.is_dir():
        raise RrrError(f"{path}: llama.cpp needs a GGUF file, not a folder (use --backend hf)")
    from rrr_cli.generation.llamacpp import LlamaCppBackend  # heavy: loads llama.cpp

    return LlamaCppBackend(path, model_name=name, n_ctx=n_ctx, threads=threads, lora_path=lora_path)


def open_hf(path: Path, *, name: str, n_ctx: int | None = None, threads: int | None = None,
            lora_path: str | Path | None = None) -> Backend:
    """transformers on a Hugging Face model folder or a GGUF file (dequantised)."""
    _no_adapter("hf", lora_path)
    from rrr_cli.generation.hf import HFBackend

    return HFBackend.from_path(path, name=name, threads=threads)


def open_vllm(path: Path, *, name: str, n_ctx: int | None = None, threads: int | None = None,
              lora_path: str | Path | None = None) -> Backend:
    """vLLM on a CUDA GPU."""
    _no_adapter("vllm", lora_path)
    from rrr_cli.generation.vllm_backend import VLLMBackend

    return VLLMBackend(path, name=name, n_ctx=n_ctx)


# What each one needs installed (module -> the command that installs it), which `rrr plugins` reports
# without importing anything heavy (see `plugins.missing_requirement`).
open_llamacpp.requires = {"llama_cpp": "pip install llama-cpp-python"}
open_hf.requires = {"torch": "pip install 'rrr[train]'", "transformers": "pip install 'rrr[train]'"}
open_vllm.requires = {"vllm": "pip install 'rrr[gpu]'"}
