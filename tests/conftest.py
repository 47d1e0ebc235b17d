"""Shared fixtures. Real catalog models are pulled once into a cache that outlives the test run."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pytest


@pytest.fixture(autouse=True)
def no_shipped_rerankers(monkeypatch):
    """The rerankers that ship with rrr stay out of the tests' way (tests/test_rerankers.py lets them in)."""
    monkeypatch.setenv("RRR_RERANK_SHIPPED", "0")


@pytest.fixture(scope="session")
def model_cache() -> Callable[[str], Path]:
    """A function that returns the local file of a catalog model, pulling it on first use.

    Models go to `$RRR_TEST_HOME` (default ~/.cache/rrr-test), not to the user's own cache nor a
    per-test folder, so every real-model test in every run shares one verified copy.
    """
    from rrr_cli import models

    home = Path(os.environ.get("RRR_TEST_HOME") or Path.home() / ".cache" / "rrr-test")
    pulled: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in pulled:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("RRR_HOME", str(home))
                pulled[name] = models.pull(name, progress=False)
        return pulled[name]

    return get


@pytest.fixture(scope="session")
def pulled_model(model_cache) -> Path:
    """The smallest catalog model (smollm2-135m-instruct, 98 MB GGUF), pulled once per session."""
    return model_cache("smollm2-135m-instruct")


@pytest.fixture
def sandbox_home(tmp_path, monkeypatch):
    """The real sandbox, with its verdict cache in a scratch folder (skipped where bwrap cannot run)."""
    from rrr_cli.execution import bwrap_problem

    if bwrap_problem():
        pytest.skip(bwrap_problem())
    monkeypatch.setenv("RRR_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(autouse=True, scope="session")
def llama_cpp_model_params():
    """llama-cpp-python's own `Llama` (the tests' reference) loads models with the parameters rrr's
    backend uses: on a CPU with AMX both would otherwise crash in llama_decode (see
    `rrr_cli.generation.llamacpp.model_params`)."""
    try:
        import llama_cpp.llama_cpp as bindings
    except ImportError:
        yield
        return
    from rrr_cli.generation.llamacpp import model_params

    default = bindings.llama_model_default_params
    bindings.llama_model_default_params = lambda: model_params(bindings, default)
    try:
        yield
    finally:
        bindings.llama_model_default_params = default
