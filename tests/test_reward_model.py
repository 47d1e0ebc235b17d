"""The reward model's mechanics on a tiny random Qwen2 model: the cached split forward equals the full
forward, Bradley-Terry training learns a toy preference, and save → load gives the same scores."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from reward_tiny import save_tiny_base  # noqa: E402

from rrr_cli.errors import RrrError  # noqa: E402
from rrr_cli.records import Pair  # noqa: E402
from rrr_cli.reranker import (RewardModel, RewardModelSettings, find_reranker,  # noqa: E402
                                           list_rerankers, read_manifest)
from rrr_cli.training.train_reward import RewardTrainingConfig, bradley_terry_loss, train_and_save  # noqa: E402


def toy_pairs(tasks: int = 12, per_task: int = 2, seed: int = 0) -> list[Pair]:
    """A learnable preference: the chosen completion adds, the rejected one subtracts."""
    rng = random.Random(seed)
    pairs = []
    for t in range(tasks):
        prompt = f"def f{t}(x):\n"
        for _ in range(per_task):
            a = rng.randint(1, 9)
            pairs.append(Pair(f"t{t}", "python", prompt, f"    return x + {a}\n", f"    return x - {a}\n"))
    return pairs


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return save_tiny_base(tmp_path_factory.mktemp("tiny") / "base")


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RRR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_bradley_terry_loss_matches_its_formula():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([0.0, 1.0])
    expected = -(torch.log(torch.sigmoid(torch.tensor(2.0))) + torch.log(torch.sigmoid(torch.tensor(-1.0)))) / 2
    assert torch.allclose(bradley_terry_loss(chosen, rejected), expected)


def test_cached_split_forward_equals_the_full_forward(base):
    model = RewardModel.from_base(str(base), RewardModelSettings(trainable_layers=1), device="cpu")
    model.use_bf16 = False
    texts = [model.encode("def f(x):\n", c) for c in ("    return x\n", "    return x * 2  # longer\n", "")]
    with torch.no_grad():
        full = model.forward_ids(texts)
        split = model.score_from_states(model.trunk_states(texts))
        alone = torch.cat([model.forward_ids([t]) for t in texts])  # padding must not matter
    assert torch.allclose(full, split, atol=1e-5)
    assert torch.allclose(full, alone, atol=1e-5)


def test_encode_keeps_the_end_of_long_inputs(base):
    model = RewardModel.from_base(str(base), RewardModelSettings(max_length=16), device="cpu")
    ids = model.encode("p" * 100, "completion")
    assert len(ids) == 16 and ids[-1] == model.tokenizer.eos_token_id
    assert model.tokenizer.decode(ids[:-1]).endswith("completion")


def test_training_learns_a_toy_preference_and_saves_a_reranker(base, home):
    pairs = toy_pairs()
    config = RewardTrainingConfig(model_name_or_path=str(base), num_train_epochs=4, trainable_layers=1,
                                  projection=0, confidence=False, learning_rate=3e-3, head_learning_rate=1e-2, per_device_train_batch_size=4,
                                  validation_fraction=0.25, bf16=False, seed=0)
    lines: list[str] = []
    result, directory = train_and_save(pairs, config, name="toy", training_data={"source": "toy"},
                                       log=lines.append)
    losses = [e.train_loss for e in result.epochs]
    assert losses[-1] < losses[0] * 0.7
    assert result.epochs[-1].train_pairwise_accuracy > result.epochs[0].train_pairwise_accuracy or \
        result.epochs[0].train_pairwise_accuracy == 1.0
    assert result.val_tasks == 3 and result.train_pairs == len(pairs) - 6
    best = max(e.val_pairwise_accuracy for e in result.epochs)
    assert best >= 0.8 and max(e.val_reranked_at_1 for e in result.epochs) >= 0.8
    assert any(line.startswith("epoch 1,") for line in lines)
    # A text shared by pairs is cached once: 12 tasks x 2 pairs, but repeated adds/subtracts dedupe.
    assert result.distinct_texts <= 2 * len(pairs)

    manifest = read_manifest(directory)
    assert manifest["base_model"]["path"] == str(base) and len(manifest["base_model"]["sha256"]) == 64
    assert manifest["training_data"]["pairs"] == len(pairs) and manifest["training_data"]["source"] == "toy"
    assert manifest["settings"]["trainable_layers"] == 1
    assert len(manifest["metrics"]["epochs"]) == 4 and manifest["created"]
    assert (directory / "adapter" / "adapter_config.json").is_file() and (directory / "head.safetensors").is_file()
    assert not [p for p in directory.parent.iterdir() if p.name.startswith(".")]  # no temp dirs left
    assert find_reranker(None) == directory == find_reranker("toy")
    assert [name for name, _, _ in list_rerankers()] == ["toy"]

    texts = [(p.prompt, c) for p in pairs[:4] for c in (p.chosen, p.rejected)]
    before = result.model.score_texts(texts)
    loaded = RewardModel.load(directory, device="cpu")
    loaded.use_bf16 = False
    assert loaded.score_texts(texts) == pytest.approx(before, abs=1e-5)
    merged = RewardModel.load(directory, device="cpu", merge=True)
    merged.use_bf16 = False
    assert merged.score_texts(texts) == pytest.approx(before, abs=1e-4)


def test_load_refuses_a_different_base_model(base, home, tmp_path):
    model = RewardModel.from_base(str(base), RewardModelSettings(trainable_layers=1), device="cpu")
    directory = model.save(tmp_path / "r")
    manifest = json.loads((directory / "manifest.json").read_text())
    manifest["base_model"]["sha256"] = "0" * 64
    (directory / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(RrrError, match="does not match"):
        RewardModel.load(directory)
    with pytest.raises(RrrError, match="not a reranker"):
        RewardModel.load(tmp_path)


def test_mean_pooling_starts_at_the_completion(base):
    model = RewardModel.from_base(str(base), RewardModelSettings(trainable_layers=1), device="cpu")
    model.use_bf16 = False
    prompt = "def f(x):\n"
    ids = model.encode(prompt, "    return x\n")
    assert ids.start == len(model.tokenizer(prompt, add_special_tokens=False)["input_ids"]) > 0
    assert model.encode(prompt, "").start == len(model.encode(prompt, "")) - 1  # the end token alone
    with torch.no_grad():
        mean = model.forward_ids([ids])
        model.settings.pooling = "last"
        last = model.forward_ids([ids])
        states = model.trunk_states([ids])
        model.settings.pooling = "mean"
        assert states[0].start == ids.start
        assert torch.allclose(model.score_from_states(states), mean, atol=1e-5)
    assert not torch.allclose(mean, last)


def test_a_reranker_saved_before_pooling_existed_reads_the_last_token(base, tmp_path):
    model = RewardModel.from_base(str(base), RewardModelSettings(trainable_layers=1), device="cpu")
    directory = model.save(tmp_path / "old")
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["settings"]["pooling"] == "mean"
    del manifest["settings"]["pooling"]
    (directory / "manifest.json").write_text(json.dumps(manifest))
    assert RewardModel.load(directory, device="cpu").settings.pooling == "last"


def with_logprobs(pairs: list[Pair], informative: bool, seed: int = 0) -> list[Pair]:
    """The pairs with generator log-probs on both sides: higher for the chosen side when
    `informative`, otherwise drawn at random."""
    rng = random.Random(seed)
    out = []
    for pair in pairs:
        good, bad = (-2.0, -8.0) if informative else (rng.uniform(-9, -1), rng.uniform(-9, -1))
        out.append(Pair(pair.task_id, pair.language, pair.prompt, pair.chosen, pair.rejected,
                        chosen_logprob_sum=good, chosen_n_tokens=10, rejected_logprob_sum=bad, rejected_n_tokens=10))
    return out


def head_only_config(base, **kw) -> RewardTrainingConfig:
    return RewardTrainingConfig(**{"model_name_or_path": str(base), "num_train_epochs": 2, "projection": 4,
                                   "bf16": False, "validation_fraction": 0.25, "seed": 0, **kw})


def test_default_recipe_is_a_projected_head_on_a_frozen_trunk_reading_log_probs(base, home):
    """Head only (no LoRA), the pooled state's principal components plus the generator's log-probs:
    it learns a preference the text carries while the log-probs are noise, and loads back the same."""
    assert RewardTrainingConfig().trainable_layers == 0 and RewardTrainingConfig().confidence
    pairs = with_logprobs(toy_pairs(tasks=16), informative=False)
    lines: list[str] = []
    result, directory = train_and_save(pairs, head_only_config(base), name="proj", log=lines.append)
    assert not [p for p in result.model.trunk.parameters() if p.requires_grad]
    assert any("principal components" in line for line in lines)
    assert result.epochs[-1].train_pairwise_accuracy >= 0.9
    assert result.epochs[-1].val_pairwise_accuracy >= 0.9
    settings = read_manifest(directory)["settings"]
    assert settings["projection"] == 4 and settings["confidence"] is True and settings["trainable_layers"] == 0

    texts = [(p.prompt, c) for p in pairs[:3] for c in (p.chosen, p.rejected)]
    logprobs = [(-3.0, 10), (-6.0, 12)] * 3
    before = result.model.score_texts(texts, logprobs=logprobs)
    loaded = RewardModel.load(directory, device="cpu", merge=True)
    loaded.use_bf16 = False
    assert loaded.score_texts(texts, logprobs=logprobs) == pytest.approx(before, abs=1e-4)
    # The log-probs are inputs: other values, other scores; none at all, the least confident's.
    assert loaded.score_texts(texts, logprobs=[(-1.0, 10)] * 6) != pytest.approx(before, abs=1e-4)


def test_the_head_starts_as_the_mean_log_prob_scorer(base, home):
    """Text that says nothing, log-probs that do: validation ranks right from the first epoch."""
    pairs = [Pair(f"t{t}", "python", f"def f{t}(x):\n", f"    return x  # {t}a\n", f"    return x  # {t}b\n")
             for t in range(12)]
    result, _ = train_and_save(with_logprobs(pairs, informative=True), head_only_config(base, num_train_epochs=1),
                               name="lp")
    assert result.epochs[0].val_reranked_at_1 == 1.0 and result.epochs[0].val_pairwise_accuracy == 1.0


def test_training_a_log_prob_reader_on_pairs_without_log_probs_is_one_clear_error(base, home):
    with pytest.raises(RrrError, match="have no generator log-probs"):
        train_and_save(toy_pairs(), head_only_config(base), name="x")
    assert not (home / "rerankers" / "x").exists()


def test_confidence_inputs_and_the_fill_for_missing_ones():
    from rrr_cli.reranker import confidence_inputs, fill_confidence

    assert confidence_inputs((-5.0, 10)) == pytest.approx([-0.5, -0.5, math.log(11)])
    assert confidence_inputs(None) is None and confidence_inputs((0.0, 0)) is None
    rows = fill_confidence([[-0.1, -1.0, 2.0], None, [-0.9, -0.2, 3.0]])
    assert rows[0] == [-0.1, -1.0, 2.0] and rows[1] == [-0.9, -1.0, 2.0]
    assert fill_confidence([None, None]) == [[0.0] * 3, [0.0] * 3]


def test_a_frozen_trunk_evaluates_a_shared_prompt_once_and_pools_as_the_whole_text_does(base, home, monkeypatch):
    from rrr_cli import pooled_states

    model = RewardModel.from_base(str(base), RewardModelSettings(trainable_layers=0), device="cpu")
    model.use_bf16 = False
    assert model.frozen
    completions = ("    return x\n", "    return x * 2  # longer\n", "", "    return x\n", "    pass\n")
    texts = [model.encode("def f(x):\n", c) for c in completions] + [model.encode("def g(y):\n", "    return y\n")]
    with torch.no_grad():
        whole = model.pooled_from_states(model.trunk_states(texts))
        shown = []
        real = model.source.pooled_after
        monkeypatch.setattr(model.source, "pooled_after",
                            lambda prefix, rest: shown.append((prefix, len(rest))) or real(prefix, rest))
        shared = model.pooled_texts(texts, batch_size=2)  # a prompt's completions span two batches
    assert torch.allclose(shared, whole, atol=1e-5)
    # Each prompt once per batch of its distinct completions (4 distinct after f, 1 after g), and the
    # duplicate text pooled once; asked again, nothing is evaluated, in this process or a new one.
    assert sorted(n for _, n in shown) == [1, 2, 2]
    assert {tuple(p) for p, _ in shown} == {tuple(texts[0][:texts[0].start]), tuple(texts[-1][:texts[-1].start])}
    shown.clear()
    assert torch.equal(model.pooled_texts(texts[:3]), shared[:3]) and not shown
    pooled_states.forget()
    assert torch.equal(model.pooled_texts(texts), shared) and not shown
    assert list((home / "cache" / "cache" / "pooled-states").glob("*/*.safetensors"))
    with torch.no_grad():
        scores = model.score_texts([("def f(x):\n", c) for c in completions])
        full = model.forward_ids(texts[:5])
    assert scores == pytest.approx(full.tolist(), abs=1e-5)


def test_pooled_state_shards_are_merged_past_the_limit(tmp_path, monkeypatch):
    from rrr_cli import pooled_states

    monkeypatch.setattr(pooled_states, "MAX_SHARDS", 3)
    kept = pooled_states.PooledStates("s", root=tmp_path)
    other = pooled_states.PooledStates("s", root=tmp_path)  # another process on the same store
    for i in range(5):
        kept.put({f"k{i}": torch.full((4,), float(i))})
        if i == 0:
            other.put({"theirs": torch.full((4,), 9.0)})  # written after `kept` had loaded the store
    assert len(list((tmp_path / "s").glob("*.safetensors"))) <= 3
    again = pooled_states.PooledStates("s", root=tmp_path)
    assert [float(again.get(f"k{i}")[0]) for i in range(5)] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert float(again.get("theirs")[0]) == 9.0  # a merge keeps what it had not loaded


@pytest.mark.model
@pytest.mark.slow
def test_a_gguf_trunk_is_dequantised_once_and_then_read_back_bit_for_bit(pulled_model, home, monkeypatch):
    pytest.importorskip("gguf")
    from rrr_cli import reranker

    info = reranker.BaseModelInfo("smollm2", str(pulled_model), reranker.sha256_files([pulled_model]), "gguf")
    first, tokenizer = reranker.load_trunk(info)
    kept = reranker.dequantised_path(info)
    assert (kept / "config.json").is_file() and list(kept.glob("*.safetensors"))
    import transformers

    real = transformers.AutoModel.from_pretrained
    asked = []
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained",
                        lambda where, **kw: asked.append((Path(where), kw)) or real(where, **kw))
    second, tokenizer2 = reranker.load_trunk(info)
    assert asked == [(kept, {"dtype": torch.float32})]  # not the GGUF file
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    text = "def f(x):\n    return x + 1\n"
    assert tokenizer(text)["input_ids"] == tokenizer2(text)["input_ids"]
    assert tokenizer2.pad_token_id == tokenizer.pad_token_id is not None


def test_validation_without_pairs_or_tasks_reads_as_not_measured_not_nan():
    """A manifest is JSON, which has no NaN: an unmeasured validation figure is None (null)."""
    from rrr_cli.training.train_reward import EpochMetrics, _pairwise_accuracy, reranked_at_1_mean

    assert _pairwise_accuracy([], {}) is None and reranked_at_1_mean([], []) is None
    metrics = EpochMetrics(1, 0.5, 0.75, _pairwise_accuracy([], {}), reranked_at_1_mean([], []), 1.0)
    assert json.loads(json.dumps(metrics.__dict__, allow_nan=False))["val_pairwise_accuracy"] is None
    assert "val" not in metrics.describe()


@pytest.mark.model
def test_a_llama_cpp_states_reranker_is_its_head_alone_and_reads_the_open_model(pulled_model, home):
    """`states = "llama.cpp"`: no torch trunk; the saved reranker is a head and a manifest; loaded, it
    reads its states from the process's open llama.cpp model on the same file, as they were trained."""
    import numpy as np

    from rrr_cli.generation.llamacpp import LlamaCppBackend
    from rrr_cli.reranker import LlamaCppStates, NumpyHead

    config = RewardTrainingConfig(model_name_or_path=str(pulled_model), num_train_epochs=2, projection=4,
                                  confidence=False, states="llama.cpp", validation_fraction=0.25, seed=0)
    config.check()
    result, directory = train_and_save(toy_pairs(tasks=8), config, name="heads")
    assert isinstance(result.model.source, LlamaCppStates) and not isinstance(result.model.head, NumpyHead)
    assert sorted(p.name for p in directory.iterdir()) == ["head.safetensors", "manifest.json"]
    assert read_manifest(directory)["settings"]["states"] == "llama.cpp"

    opened = LlamaCppBackend(pulled_model)  # as `rrr solve` holds the model it sampled with
    loaded = RewardModel.load(directory)
    assert isinstance(loaded.source, LlamaCppStates) and loaded.source.backend is opened
    assert isinstance(loaded.head, NumpyHead)
    assert not list(loaded.trunk.parameters())
    texts = [("def g(x):\n", "    return x * 2\n"), ("def g(x):\n", "    return x // 2\n"), ("", "print(1)\n")]
    trained = result.model.score_texts(texts)
    assert loaded.score_texts(texts) == pytest.approx(trained, abs=1e-5)
    # The states are llama.cpp's mean over the completion and its end token, after the prompt.
    encoded = loaded.encode(*texts[0])
    assert encoded[-1] == opened.eos_token and encoded[:encoded.start] == opened.tokenize("def g(x):\n", special=False)
    state = opened.pooled_states(list(encoded[:encoded.start]), [list(encoded[encoded.start:])])[0]
    with torch.no_grad():
        head = result.model.head_scores(torch.as_tensor(np.stack([state])))
    assert float(head[0]) == pytest.approx(trained[0], abs=1e-3)

    # Scoring with it imports no torch (whose import alone costs more than the scoring in `rrr solve`).
    import subprocess
    import sys

    script = ("import sys; from rrr_cli.ranking.reward import RewardModelScorer; "
              f"s = RewardModelScorer.load({str(directory)!r}); "
              "print(s.model.score_texts([('def g(x):\\n', '    return x * 2\\n')])[0], 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ})
    assert out.returncode == 0, out.stderr
    score, imported = out.stdout.split()
    assert float(score) == pytest.approx(trained[0], abs=1e-4) and imported == "False"


def test_states_come_from_the_trunk_or_llama_cpp_and_nothing_else(base):
    with pytest.raises(RrrError, match="unknown source of pooled states"):
        RewardTrainingConfig(states="onnx").check()
    with pytest.raises(RrrError, match="head alone"):
        RewardTrainingConfig(states="llama.cpp", trainable_layers=1).check()
    with pytest.raises(RrrError, match="GGUF base"):
        RewardModel.from_base(str(base), RewardModelSettings(trainable_layers=0, states="llama.cpp"))
    from rrr_cli.training.train_reward import resolve_states

    assert resolve_states("auto", str(base), 0) == "trunk" and resolve_states("auto", str(base), 2) == "trunk"
    assert resolve_states("llama.cpp", str(base), 0) == "llama.cpp"
    assert resolve_states("auto", None, device="cpu") == "llama.cpp"
    assert resolve_states("auto", "qwen2.5-coder-0.5b-instruct", device="cpu") == "llama.cpp"
    assert resolve_states("auto", "qwen2.5-coder-0.5b-instruct", device="cuda") == "trunk"  # CPU llama.cpp is slower
    assert RewardTrainingConfig(states="none").projection == 0


def test_selftrain_trains_the_reranker_train_reranker_trains(base):
    """One recipe (#14): selftrain resolves --states as train-reranker does, from the reward model's base."""
    from rrr_cli.selftrain.reranking import recipe
    from rrr_cli.selftrain.settings import SelfTrainConfig

    assert recipe(SelfTrainConfig(generator=str(base)), 0, "cpu").states == "trunk"
    assert recipe(SelfTrainConfig(), 0, "cpu").states == "llama.cpp"  # the default model is a GGUF file
    assert recipe(SelfTrainConfig(), 0, "cuda").states == "trunk"
    assert recipe(SelfTrainConfig(generator=str(base), reranker_base="qwen2.5-coder-0.5b-instruct"), 0,
                  "cpu").states == "llama.cpp"
    none = recipe(SelfTrainConfig(generator=str(base), states="none"), 0, "cpu")
    assert none.states == "none" and none.projection == 0 and none.evidence_inputs > 0
    none.check()
    with pytest.raises(RrrError, match="states must be"):
        SelfTrainConfig(states="onnx").validate()
    with pytest.raises(RrrError, match="states none needs features exec"):
        SelfTrainConfig(states="none", features="text").validate()


def test_a_head_without_states_reads_log_probs_alone_and_saves_its_head(base, home):
    """`states = "none"`: no model runs; the head is a Bradley-Terry logistic regression on the extras."""
    pairs = [Pair(f"t{t}", "python", f"def f{t}(x):\n", f"    return x + {t}\n", f"    return x - {t}\n",
                  chosen_logprob_sum=-2.0, chosen_n_tokens=10, rejected_logprob_sum=-9.0, rejected_n_tokens=10)
             for t in range(8)]
    config = RewardTrainingConfig(model_name_or_path=str(base), num_train_epochs=2, projection=0,
                                  confidence=True, states="none", validation_fraction=0.25, seed=0)
    config.check()
    result, directory = train_and_save(pairs, config, name="plain")
    assert sorted(p.name for p in directory.iterdir()) == ["head.safetensors", "manifest.json"]
    loaded = RewardModel.load(directory)
    texts = [("def g(x):\n", "    return 1\n"), ("def g(x):\n", "    return 2\n")]
    scores = loaded.score_texts(texts, logprobs=[(-2.0, 10), (-9.0, 10)])
    assert scores[0] > scores[1]
    assert scores == pytest.approx(result.model.score_texts(texts, logprobs=[(-2.0, 10), (-9.0, 10)]), abs=1e-6)
    assert RewardTrainingConfig(states="none", projection=4).projection == 0  # no state to project
    with pytest.raises(RrrError, match="without states"):
        RewardTrainingConfig(states="none", confidence=False).check()


def test_examples_first_orders_by_the_examples_and_learns_only_within_a_tier(base, home):
    """`examples_first`: more examples passed always ranks higher; the head trains on equal-examples pairs."""
    pairs, evidence = [], {}
    for t in range(8):
        prompt, good, bad = f"def f{t}(x):\n", f"    return x + {t}\n", f"    return x - {t}\n"
        pairs.append(Pair(f"t{t}", "python", prompt, good, bad, chosen_logprob_sum=-2.0, chosen_n_tokens=10,
                          rejected_logprob_sum=-9.0, rejected_n_tokens=10))
        passed = 1.0 if t % 2 else 0.5  # odd tasks: both sides pass every example; even: the rejected fewer
        evidence[(prompt, good)] = [1.0, 0.0, 1.0, 0.5, 1.0, 0.0]
        evidence[(prompt, bad)] = [passed, 0.0, 1.0, 0.5, 0.0, 0.0]
    config = RewardTrainingConfig(model_name_or_path=str(base), num_train_epochs=1, projection=0, confidence=True,
                                  states="none", evidence_inputs=6, examples_first=True, validation_fraction=0.0)
    lines: list[str] = []
    result, directory = train_and_save(pairs, config, name="tiers", evidence=evidence, log=lines.append)
    assert any("the 4 pairs that pass as many examples" in line for line in lines)
    loaded = RewardModel.load(directory)
    texts = [("def g(x):\n", "    return 1\n"), ("def g(x):\n", "    return 2\n")]
    # The first is far less likely to the generator, but passes every example; the second half of them.
    scores = loaded.score_texts(texts, logprobs=[(-50.0, 10), (-1.0, 10)],
                                evidence=[[1.0, 0.0, 1.0, 0.1, 0.0, 0.0], [0.5, 0.0, 1.0, 0.9, 1.0, 0.0]])
    assert scores[0] > scores[1]
    assert scores == pytest.approx(result.model.score_texts(
        texts, logprobs=[(-50.0, 10), (-1.0, 10)],
        evidence=[[1.0, 0.0, 1.0, 0.1, 0.0, 0.0], [0.5, 0.0, 1.0, 0.9, 1.0, 0.0]]), abs=1e-3)
