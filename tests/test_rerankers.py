"""The rerankers that ship with rrr: listed beside the trained ones, the default only with a held-out win
on record, behind a trained one that has such a win, and off with `rerank.shipped = false`."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

pytest.importorskip("torch")

from reward_tiny import save_tiny_base  # noqa: E402

from rrr_cli.cli import app  # noqa: E402
from rrr_cli.records import Pair  # noqa: E402


def head_only(base, name: str, win: bool | None):
    """A small reranker (log-probs alone: no model runs to score it) with or without a recorded win."""
    from rrr_cli.atomic import atomic_write_text
    from rrr_cli.ranking.rerank import VERSUS_FALLBACK
    from rrr_cli.reranker import MANIFEST, read_manifest
    from rrr_cli.training.train_reward import RewardTrainingConfig, train_and_save

    pairs = [Pair(f"t{t}", "python", f"def f{t}(x):\n", f"    return x + {t}\n", f"    return x - {t}\n",
                  chosen_logprob_sum=-2.0, chosen_n_tokens=10, rejected_logprob_sum=-9.0, rejected_n_tokens=10)
             for t in range(6)]
    config = RewardTrainingConfig(model_name_or_path=str(base), num_train_epochs=1, projection=0, states="none",
                                  validation_fraction=0.0)
    _, directory = train_and_save(pairs, config, name=name)
    if win is not None:
        manifest = read_manifest(directory)
        manifest[VERSUS_FALLBACK] = {"tasks": 40, "reranker": 0.6, "fallback": 0.5, "difference": 0.1,
                                     "interval": [0.05, 0.15] if win else [-0.05, 0.2], "beats": win}
        atomic_write_text(directory / MANIFEST, json.dumps(manifest) + "\n")
    return directory


def listing() -> dict:
    result = CliRunner().invoke(app, ["rerankers", "list", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_shipped_and_trained_rerankers_and_which_one_is_the_default(tmp_path, monkeypatch):
    from rrr_cli.ranking.rerank import default_scorer
    from rrr_cli.reranker import store

    base = save_tiny_base(tmp_path / "base")
    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    monkeypatch.setattr(store, "shipped_rerankers_dir", lambda: shipped)
    shutil.move(str(head_only(base, "rrr-shipped", win=True)), shipped / "rrr-shipped")
    monkeypatch.setenv("RRR_RERANK_SHIPPED", "1")

    seen = listing()
    assert [(r["name"], r["where"], r["default"]) for r in seen["rerankers"]] == [("rrr-shipped", "shipped", True)]
    assert seen["default"] == "rrr-shipped" and "beat public examples" in seen["why"]
    assert seen["rerankers"][0]["reads"] == ["log-probs"]
    scorer = default_scorer()
    assert scorer.reranker == "rrr-shipped"

    # A trained reranker without a win is listed first but not used; one with a win takes over.
    head_only(base, "mine", win=False)
    seen = listing()
    assert [(r["name"], r["where"], r["default"]) for r in seen["rerankers"]] == [
        ("mine", "trained", False), ("rrr-shipped", "shipped", True)]
    head_only(base, "better", win=True)
    assert listing()["default"] == "better" and default_scorer().reranker == "better"

    # Turned off, the shipped one is not listed (by name it can still be asked for).
    monkeypatch.setenv("RRR_RERANK_SHIPPED", "0")
    assert [r["name"] for r in listing()["rerankers"]] == ["better", "mine"]


def test_with_no_reranker_the_list_says_the_fallback_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    result = CliRunner().invoke(app, ["rerankers", "list"])
    assert result.exit_code == 0 and "public examples + mean log-prob" in result.stdout
    assert "no trained reranker" in result.stdout


def test_a_head_that_does_not_fit_its_settings_is_one_clear_error(tmp_path, monkeypatch):
    from safetensors.numpy import save_file
    import numpy as np

    from rrr_cli.errors import RrrError
    from rrr_cli.reranker import RewardModel

    base = save_tiny_base(tmp_path / "base")
    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    directory = head_only(base, "bent", win=None)
    save_file({"center": np.zeros(0, dtype=np.float32), "scale": np.zeros(0, dtype=np.float32),
               "basis": np.zeros((0, 0), dtype=np.float32), "linear.weight": np.zeros((1, 5), dtype=np.float32),
               "linear.bias": np.zeros(1, dtype=np.float32)}, str(directory / "head.safetensors"))
    with pytest.raises(RrrError, match="does not fit its settings"):
        RewardModel.load(directory)
    (directory / "head.safetensors").write_bytes(b"\xff\xfe not a head")
    with pytest.raises(RrrError, match="cannot load the reranker's head"):
        RewardModel.load(directory)
