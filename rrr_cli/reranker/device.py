"""torch, the device and bf16 autocast: what every torch part of the reward model shares."""

from __future__ import annotations

import contextlib
from pathlib import Path

from rrr_cli.errors import RrrError


def require_torch():
    """The torch module, imported on first use (a reranker on llama.cpp states, or none, scores without it)."""
    try:
        import torch  # deferred: torch takes seconds to import, longer than such a reranker takes to score
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
    torch = require_torch()
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
    return "cuda" if require_torch().cuda.is_available() else "cpu"


def device_kind(device: str) -> str:
    """"cuda" for any CUDA device ("cuda", "cuda:1"), else "cpu"."""
    return "cuda" if str(device).startswith("cuda") else "cpu"


def autocast(device: str, enabled: bool):
    """bf16 autocast on `device`'s kind, or a no-op context when not `enabled`."""
    torch = require_torch()
    return torch.autocast(device_kind(device), dtype=torch.bfloat16, enabled=enabled)
