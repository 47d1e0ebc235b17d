"""Choosing a backend: names, aliases, and what "auto" picks."""

from __future__ import annotations

import pytest

from rrr_cli.errors import RrrError
from rrr_cli.generation import backends
from rrr_cli.generation.backends import choose_backend, normalise_backend


def test_names_and_aliases():
    assert normalise_backend(None) == "auto"
    assert normalise_backend("llamacpp") == normalise_backend("llama.cpp") == "llama.cpp"
    assert normalise_backend("Transformers") == "hf"
    with pytest.raises(RrrError, match="unknown backend 'onnx'"):
        normalise_backend("onnx")


def test_auto_picks_vllm_only_with_a_gpu_and_vllm(tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(backends, "vllm_usable", lambda: False)
    assert choose_backend("auto", gguf) == "llama.cpp"
    assert choose_backend("auto", tmp_path) == "hf"  # llama.cpp cannot read a Hugging Face folder
    assert choose_backend("hf", gguf) == "hf"
    monkeypatch.setattr(backends, "vllm_usable", lambda: True)
    assert choose_backend("auto", gguf) == "vllm"
    assert choose_backend("llama.cpp", gguf) == "llama.cpp"


def test_llama_cpp_refuses_a_folder(tmp_path):
    with pytest.raises(RrrError, match="needs a GGUF file"):
        backends.open_backend(str(tmp_path), backend="llama.cpp")
