"""The transformers backend on a tiny randomly initialised Qwen2 model (the mechanism), and on a GGUF."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from rrr_cli.generation.base import SamplingParams  # noqa: E402
from rrr_cli.generation.hf import HFBackend  # noqa: E402
from tiny_lm import tiny_model, tiny_tokenizer  # noqa: E402


@pytest.fixture(scope="module")
def backend():
    torch.set_num_threads(1)
    return HFBackend(tiny_model(), tiny_tokenizer(), name="tiny-policy")


PROMPTS = ["def add(a, b):\n    return", "<|user|>\nhi\n<|assistant|>\n"]


def test_in_memory_policy_and_chat_template(backend):
    assert backend.model_name == "tiny-policy" and backend.device == "cpu"
    assert backend.render_chat([{"role": "user", "content": "hi"}]) == PROMPTS[1]


def test_seeded_sampling_repeats_and_records_are_sound(backend):
    params = SamplingParams(n=3, temperature=0.9, top_p=0.9, max_tokens=12, seed=4)
    first = backend.generate(PROMPTS, params)
    assert backend.generate(PROMPTS, params) == first
    assert len(first) == 2 and all(len(row) == 3 for row in first)
    for row in first:
        for g in row:
            assert 0 < g.n_tokens <= 12
            assert g.logprob_sum is not None and g.logprob_sum <= 0
            assert g.mean_logprob == pytest.approx(g.logprob_sum / g.n_tokens)
            assert len(g.token_logprobs) == g.n_tokens and sum(g.token_logprobs) == pytest.approx(g.logprob_sum)
            assert g.finish_reason in ("length", "eos", "stop")
    other_seed = backend.generate(PROMPTS, SamplingParams(n=3, temperature=0.9, top_p=0.9, max_tokens=12, seed=5))
    assert other_seed != first


def test_a_policy_in_train_mode_samples_in_eval_mode_and_stays_in_train_mode(backend):
    params = SamplingParams(n=2, temperature=0.9, max_tokens=6, seed=2)
    expected = backend.generate(PROMPTS[:1], params)
    backend.model.train()
    try:
        assert backend.generate(PROMPTS[:1], params) == expected
        assert backend.model.training
    finally:
        backend.model.eval()


def test_sequences_differ_at_positive_temperature(backend):
    gens = backend.generate(PROMPTS[:1], SamplingParams(n=4, temperature=1.0, max_tokens=8, seed=0))[0]
    assert len({g.text for g in gens}) >= 2


def test_greedy_is_deterministic_and_log_probs_are_the_raw_model_s(backend):
    """Greedy tokens and their log-probs, recomputed by hand with plain forward passes."""
    gens = backend.generate(PROMPTS[:1], SamplingParams(n=2, temperature=0, max_tokens=6))[0]
    assert gens[0] == gens[1]
    ids = backend.tokenizer(PROMPTS[0], return_tensors="pt").input_ids
    total = 0.0
    with torch.no_grad():
        for _ in range(6):
            logprobs = backend.model(ids).logits[0, -1].log_softmax(-1)
            token = int(logprobs.argmax())
            total += float(logprobs[token])
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    assert gens[0].n_tokens == 6 and gens[0].finish_reason == "length"
    assert gens[0].logprob_sum == pytest.approx(total, abs=1e-3)


def test_stop_strings_cut_the_text_and_count_the_completing_token(backend):
    prompt = PROMPTS[0]
    full = backend.generate([prompt], SamplingParams(n=1, temperature=0, max_tokens=10))[0][0]
    stop = full.text[4:6]
    cut = backend.generate([prompt], SamplingParams(n=2, temperature=0, max_tokens=10, stop=(stop,)))[0]
    for g in cut:
        assert g.finish_reason == "stop"
        assert g.text == full.text[: full.text.find(stop)]
        assert len(g.text) < g.n_tokens <= full.n_tokens  # one byte per token: the stop's tokens count


def test_eos_ends_a_sequence(backend):
    full = backend.generate(PROMPTS[:1], SamplingParams(n=1, temperature=0, max_tokens=8))[0][0]
    ids = backend.tokenizer(PROMPTS[0]).input_ids
    seq = list(ids)
    with torch.no_grad():
        for _ in range(3):
            seq.append(int(backend.model(torch.tensor([seq])).logits[0, -1].argmax()))
    third = seq[-1]
    saved = backend.model.generation_config.eos_token_id
    backend.model.generation_config.eos_token_id = third  # pretend the third greedy token is EOS
    try:
        g = backend.generate(PROMPTS[:1], SamplingParams(n=1, temperature=0, max_tokens=8))[0][0]
    finally:
        backend.model.generation_config.eos_token_id = saved
    assert g.finish_reason == "eos"
    assert g.n_tokens == seq.index(third, len(ids)) - len(ids) + 1
    assert full.text.startswith(g.text)


def test_loads_a_hugging_face_folder(tmp_path):
    from tiny_lm import save_tiny

    from rrr_cli.generation.backends import open_backend

    folder = save_tiny(tmp_path / "tiny")
    with open_backend(str(folder), backend="hf", threads=1) as engine:
        assert engine.name == "hf"
        [gens] = engine.generate(["x = "], SamplingParams(n=2, temperature=0.7, max_tokens=4, seed=1))
        assert len(gens) == 2 and all(g.n_tokens == 4 for g in gens)


@pytest.mark.model
@pytest.mark.slow
def test_loads_a_gguf_dequantised(capfd):
    pytest.importorskip("gguf")
    if os.environ.get("RRR_TEST_GGUF"):
        path = Path(os.environ["RRR_TEST_GGUF"])
    else:
        from rrr_cli.models import resolve_model

        path = resolve_model("smollm2-135m-instruct", announce=False)
    engine = HFBackend.from_path(path, name="smollm2", threads=1)
    assert "GGUF tensors" not in capfd.readouterr().err  # no library progress bars on rrr's stderr
    prompt = engine.render_chat([{"role": "user", "content": "Say hello."}])
    assert prompt.endswith("<|im_start|>assistant\n")
    [gens] = engine.generate([prompt], SamplingParams(n=2, temperature=0.8, max_tokens=6, seed=0))
    assert all(0 < g.n_tokens <= 6 and g.logprob_sum <= 0 for g in gens)
