"""The llama.cpp backend on a real catalog model (smollm2-135m-instruct): seeds, stops, log-probs, batching."""

# One thread: ggml's worker threads spin at barriers, which turns slow on a loaded 2-core CI machine.

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rrr_cli.errors import RrrError
from rrr_cli.generation.base import SamplingParams
from rrr_cli.generation.llamacpp import _find_stop, _TokenSampler

SMALL_MODEL = "smollm2-135m-instruct"


def test_find_stop_earliest_and_from_start():
    assert _find_stop("abc\ndef\n```", ["```", "\n"], 0) == 3
    assert _find_stop("abc\ndef", ["\n"], 4) is None
    assert _find_stop("abc", [], 0) is None


def _log_softmax(logits):
    logits = np.asarray(logits, dtype=np.float64)
    return logits - logits.max(axis=-1, keepdims=True) - np.log(
        np.exp(logits - logits.max(axis=-1, keepdims=True)).sum(axis=-1, keepdims=True))


def test_token_logprobs_are_log_softmax_of_raw_logits_whatever_the_settings():
    logits = np.array([[2.0, -1.0, 0.5, 3.0], [0.0, 0.0, 9.0, -4.0]], dtype=np.float32)
    expected = _log_softmax(logits)
    for temperature, top_p in ((0, 1.0), (0.5, 0.9), (1.0, 1.0), (1.7, 0.5)):
        sampler = _TokenSampler(SamplingParams(temperature=temperature, top_p=top_p), 2, 4)
        rngs = [np.random.default_rng(k) for k in range(2)]
        for _ in range(20):
            for row, (token, logprob) in enumerate(sampler.sample(logits, rngs)):
                assert logprob == pytest.approx(expected[row, token], abs=1e-5)


def test_greedy_picks_the_most_likely_token():
    logits = np.array([[0.1, 0.3, 0.2], [5.0, -1.0, 4.9]], dtype=np.float32)
    sampler = _TokenSampler(SamplingParams(temperature=0), 2, 3)
    assert [t for t, _ in sampler.sample(logits, [None, None])] == [1, 0]


def test_draws_follow_temperature_then_nucleus():
    """Frequencies match softmax(logits / T) restricted to the top-p nucleus, renormalised."""
    logits = np.array([[3.0, 2.5, 2.0, 1.0, 0.0, -1.0, -3.0]], dtype=np.float32)
    temperature, top_p = 0.7, 0.8
    probs = np.exp(_log_softmax(logits[0] / temperature))
    order = np.argsort(-probs)
    cumulative = np.cumsum(probs[order])
    nucleus = order[: int(np.searchsorted(cumulative, top_p)) + 1]  # up to the token that reaches top_p
    expected = np.zeros_like(probs)
    expected[nucleus] = probs[nucleus] / probs[nucleus].sum()
    sampler = _TokenSampler(SamplingParams(temperature=temperature, top_p=top_p), 1, logits.shape[1])
    rng = np.random.default_rng(0)
    draws = np.array([sampler.sample(logits, [rng])[0][0] for _ in range(20000)])
    counts = np.bincount(draws, minlength=logits.shape[1]) / len(draws)
    assert set(np.flatnonzero(counts)) == set(nucleus.tolist())
    assert np.abs(counts - expected).max() < 0.015


def test_a_flat_distribution_falls_back_to_every_token():
    # 50k equally likely tokens: each under the first probability floor, so the floor must drop.
    logits = np.zeros((1, 50_000), dtype=np.float32)
    sampler = _TokenSampler(SamplingParams(temperature=1.0, top_p=0.95), 1, logits.shape[1])
    rng = np.random.default_rng(1)
    draws = {sampler.sample(logits, [rng])[0][0] for _ in range(200)}
    assert len(draws) > 190 and all(0 <= t < 50_000 for t in draws)


def test_a_row_draws_the_same_token_whatever_shares_the_batch():
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((3, 1000)).astype(np.float32) * 4
    sampler = _TokenSampler(SamplingParams(temperature=0.8, top_p=0.95), 3, 1000)
    together = sampler.sample(logits, [np.random.default_rng(s) for s in (10, 11, 12)])
    alone = sampler.sample(logits[1:2], [np.random.default_rng(11)])
    assert together[1] == alone[0]
    again = sampler.sample(logits, [np.random.default_rng(s) for s in (10, 11, 12)])
    assert again == together


def test_a_wide_step_sampled_in_two_halves_draws_as_row_by_row():
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((7, 1000)).astype(np.float32) * 4
    sampler = _TokenSampler(SamplingParams(temperature=0.8, top_p=0.95), 7, 1000)
    assert logits.shape[0] >= sampler.SPLIT_ROWS  # split across the helper thread
    together = sampler.sample(logits, [np.random.default_rng(s) for s in range(7)])
    alone = [sampler.sample(logits[r:r + 1], [np.random.default_rng(r)])[0] for r in range(7)]
    assert together == alone


def test_missing_model_file_is_a_clear_error(tmp_path):
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    with pytest.raises(RrrError, match="not found"):
        LlamaCppBackend(tmp_path / "nope.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(RrrError, match="could not load"):
        LlamaCppBackend(bad)


@pytest.fixture(scope="module")
def small_gguf() -> Path:
    if os.environ.get("RRR_TEST_GGUF"):
        return Path(os.environ["RRR_TEST_GGUF"])
    from rrr_cli.models import resolve_model

    return resolve_model(SMALL_MODEL, announce=False)


@pytest.fixture(scope="module")
def backend(small_gguf):
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    with LlamaCppBackend(small_gguf, model_name=SMALL_MODEL, n_ctx=1024, threads=1) as engine:
        yield engine


@pytest.fixture(scope="module")
def prompt(backend) -> str:
    return backend.render_chat([{"role": "user", "content": "Write a Python function that reverses a string."}])


def _texts(gens):
    return [g.text for g in gens]


@pytest.mark.model
def test_render_chat_uses_the_gguf_template(backend, prompt):
    assert "<|im_start|>user\nWrite a Python function" in prompt
    assert prompt.endswith("<|im_start|>assistant\n")


@pytest.mark.model
@pytest.mark.parametrize("batched", [True, False])
def test_seeded_sampling_repeats_and_records_are_sound(backend, prompt, batched):
    backend.batched = batched
    params = SamplingParams(n=3, temperature=0.8, top_p=0.95, max_tokens=24, seed=7)
    first = backend.generate([prompt, prompt + "Sure"], params)
    second = backend.generate([prompt, prompt + "Sure"], params)
    backend.batched = True
    assert [[(g.text, g.n_tokens, g.logprob_sum) for g in row] for row in first] == \
        [[(g.text, g.n_tokens, g.logprob_sum) for g in row] for row in second]
    for row in first:
        assert len(row) == 3
        for g in row:
            assert 0 < g.n_tokens <= 24
            assert g.logprob_sum is not None and g.logprob_sum <= 0
            assert g.mean_logprob == pytest.approx(g.logprob_sum / g.n_tokens)
            assert len(g.token_logprobs) == g.n_tokens and sum(g.token_logprobs) == pytest.approx(g.logprob_sum)
            assert g.finish_reason in ("eos", "length", "stop")
            if g.finish_reason == "length":
                assert g.n_tokens == 24


@pytest.mark.model
def test_sequence_j_uses_seed_plus_j_whatever_n(backend, prompt):
    backend.batched = False
    many = backend.generate([prompt], SamplingParams(n=3, temperature=1.0, max_tokens=16, seed=10))[0]
    alone = backend.generate([prompt], SamplingParams(n=1, temperature=1.0, max_tokens=16, seed=12))[0]
    backend.batched = True
    assert many[2].text == alone[0].text


@pytest.mark.model
def test_a_fresh_backend_repeats_the_batched_samples(backend, prompt, small_gguf):
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    params = SamplingParams(n=4, temperature=0.8, max_tokens=16, seed=3)
    here = backend.generate([prompt], params)[0]
    with LlamaCppBackend(small_gguf, n_ctx=1024, threads=1, max_parallel=2) as other:  # groups of 2, new KV cache
        there = other.generate([prompt], params)[0]
    assert len(there) == 4
    # Batch numerics may differ between group sizes; the first tokens of the same seeds agree.
    assert sum(a.text[:8] == b.text[:8] for a, b in zip(here, there)) >= 3


@pytest.mark.model
def test_sequences_differ_at_positive_temperature(backend, prompt):
    gens = backend.generate([prompt], SamplingParams(n=4, temperature=1.0, max_tokens=16, seed=0))[0]
    assert len(set(_texts(gens))) >= 2


@pytest.mark.model
def test_greedy_is_deterministic_and_a_cold_batch_agrees(backend, prompt):
    greedy = backend.generate([prompt], SamplingParams(n=3, temperature=0, max_tokens=20, seed=1))[0]
    assert len(set(_texts(greedy))) == 1 and greedy[0].finish_reason in ("length", "eos")
    # Four sequences decoded together at a near-zero temperature follow the greedy path too:
    # the prompt's cells reach every sequence intact.
    cold = backend.generate([prompt], SamplingParams(n=4, temperature=0.001, max_tokens=20, seed=1))[0]
    assert _texts(cold) == _texts(greedy)[:1] * 4


@pytest.mark.model
def test_a_prompt_sharing_the_last_ones_beginning_samples_as_from_scratch(backend, prompt):
    """The prompt stream keeps the cells the new prompt shares with the last one; the rest is evaluated."""
    other = backend.render_chat([{"role": "user", "content": "Write a Python function that adds two numbers."}])
    params = SamplingParams(n=2, temperature=0, max_tokens=16)
    backend.forget_prompt()
    fresh = backend.generate([other], params)
    backend.generate([prompt], params)  # the stream now holds this prompt; `other` shares its start
    assert backend.generate([other], params) == fresh
    assert backend.generate([prompt], SamplingParams(n=1, temperature=0, max_tokens=16))[0][0].text != fresh[0][0].text


@pytest.mark.model
def test_stop_string_spanning_tokens_cuts_the_text(backend, prompt):
    full = backend.generate([prompt], SamplingParams(n=1, temperature=0, max_tokens=32))[0][0]
    assert len(full.text) > 20
    stop = full.text[11:19]  # eight characters from the middle: crosses token boundaries
    cut = backend.generate([prompt], SamplingParams(n=2, temperature=0, max_tokens=32, stop=(stop, "\x00")))[0]
    for g in cut:
        assert g.finish_reason == "stop"
        assert g.text == full.text[: full.text.find(stop)]
        assert stop not in g.text
        assert g.n_tokens < full.n_tokens


@pytest.mark.model
def test_logprob_sum_matches_an_independent_evaluation(backend, prompt, small_gguf):
    """The sum is log p of the chosen tokens under the raw model, whatever the temperature."""
    from llama_cpp import Llama

    gen = backend.generate([prompt], SamplingParams(n=1, temperature=0.5, top_p=0.9, max_tokens=12, seed=5))[0][0]
    prompt_tokens = backend.tokenize(prompt)
    text_tokens = backend.tokenize(prompt + gen.text)[len(prompt_tokens):]
    if gen.finish_reason == "eos":
        text_tokens.append(backend._ll.llama_vocab_eos(backend._vocab))
    if backend.tokenize(prompt + gen.text)[: len(prompt_tokens)] != prompt_tokens or len(text_tokens) != gen.n_tokens:
        pytest.skip("the text does not re-tokenise to the sampled tokens")
    reference = Llama(str(small_gguf), n_ctx=512, n_threads=1, logits_all=True, verbose=False)
    reference.eval(prompt_tokens + text_tokens)
    scores = np.asarray(reference.scores[: len(prompt_tokens) + len(text_tokens)], dtype=np.float64)
    total = 0.0
    for k, token in enumerate(text_tokens):
        row = scores[len(prompt_tokens) + k - 1]
        total += row[token] - row.max() - np.log(np.exp(row - row.max()).sum())
    assert gen.logprob_sum == pytest.approx(total, abs=0.05 * len(text_tokens))


@pytest.mark.model
def test_pooled_states_are_each_completions_mean_final_state_after_the_prefix(backend):
    """Completions pooled together after a shared prefix: each as pooled alone, in order, and distinct."""
    prefix = backend.tokenize('def add(a, b):\n    """Add two numbers."""\n')
    completions = [backend.tokenize("    return a + b\n"), backend.tokenize("    return a - b  # wrong\n"),
                   backend.tokenize("    pass\n")]
    together = backend.pooled_states(prefix, completions)
    alone = [backend.pooled_states(prefix, [c])[0] for c in completions]
    hidden = backend._ll.llama_model_n_embd(backend._model)

    def cosine(a, b):
        return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))

    assert [s.shape for s in together] == [(hidden,)] * 3 and all(s.dtype == np.float32 for s in together)
    assert all(cosine(t, a) > 0.999 for t, a in zip(together, alone))
    assert cosine(together[0], together[2]) < 0.99  # another completion, another state
    # Without the prefix the same text pools to something else: the prefix's cells were read.
    assert cosine(backend.pooled_states([], completions[:1])[0], together[0]) < 0.999
    assert backend.pooled_states(prefix, []) == []


@pytest.mark.model
def test_prompt_longer_than_the_context_is_a_clear_error(small_gguf):
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    with LlamaCppBackend(small_gguf, n_ctx=32, threads=1) as engine:
        with pytest.raises(RrrError, match="does not fit the context"):
            engine.generate(["word " * 100], SamplingParams(n=1, max_tokens=4))
        # A completion that would overrun the context stops there instead.
        gens = engine.generate(["Once upon a time"], SamplingParams(n=2, temperature=0, max_tokens=100))[0]
        assert all(g.finish_reason in ("length", "eos") and g.n_tokens <= 32 for g in gens)


@pytest.mark.model
def test_many_prompts_share_the_slots_and_keep_their_own_seeds_and_stops(small_gguf):
    """Continuous batching: 3 prompts x 3 samples through 2 slots, so slots refill across prompts."""
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    asks = ["reverses a string", "adds two numbers", "counts the vowels in a word"]
    params = SamplingParams(n=3, temperature=0.9, top_p=0.95, max_tokens=20, seed=4, stop=("\n\n", "()"))
    with LlamaCppBackend(small_gguf, n_ctx=512, threads=1, max_parallel=2) as engine:
        prompts = [engine.render_chat([{"role": "user", "content": f"Write a Python function that {a}."}])
                   for a in asks]
        together = engine.generate(prompts, params)
        assert engine.generate(prompts, params) == together  # seeded runs repeat exactly
        # One at a time, each prompt alone: the same seeds give the same samples (first tokens agree;
        # batch numerics may move a late token).
        engine.batched = False
        alone = [engine.generate([p], params)[0] for p in prompts]
        assert engine.generate(prompts, params) == alone  # sequential multi-prompt is exactly per prompt
        engine.batched = True
    assert [len(row) for row in together] == [3, 3, 3]
    agree = sum(a.text[:20] == b.text[:20] for ra, rb in zip(together, alone) for a, b in zip(ra, rb))
    assert agree >= 7
    # The prompts differ, so their samples do: no sample was given to the wrong prompt.
    assert together[0][0].text != together[1][0].text != together[2][0].text
    for row in together:
        for g in row:
            assert "\n\n" not in g.text and "()" not in g.text
            assert 0 < g.n_tokens <= 20 and len(g.token_logprobs) == g.n_tokens
            assert g.finish_reason in ("stop", "eos") or g.n_tokens == 20


@pytest.mark.model
def test_each_prompt_comes_back_as_soon_as_its_last_sequence_ends(small_gguf):
    """`generate_stream` hands a prompt over while later prompts still sample, with what `generate` gives."""
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    asks = ["Say hi.", "Write a Python function that reverses a string.", "Say bye.", "Name a colour."]
    params = SamplingParams(n=2, temperature=0.7, max_tokens=24, seed=3)
    with LlamaCppBackend(small_gguf, n_ctx=512, threads=1, max_parallel=2) as engine:
        prompts = [engine.render_chat([{"role": "user", "content": a}]) for a in asks]
        whole = engine.generate(prompts, params)
        steps_at = []
        streamed = {}
        for index, row in engine.generate_stream(prompts, params):
            steps_at.append(engine.stats["steps"])
            streamed[index] = row
        # While a call is suspended at a hand-over its sequences hold the slots: another call is refused,
        # and once the first is closed the model samples again as before.
        stream = engine.generate_stream(prompts, params)
        next(stream)
        with pytest.raises(RrrError, match="one call at a time"):
            engine.generate(prompts[:1], params)
        stream.close()
        assert engine.generate(prompts, params) == whole
    assert sorted(streamed) == [0, 1, 2, 3] and [streamed[i] for i in range(4)] == whole
    # Two slots for eight sequences: the first prompt was back long before the call's last step.
    assert steps_at[0] < steps_at[-1]


@pytest.mark.model
def test_sequences_left_when_others_finish_move_down_and_carry_on_as_alone(small_gguf):
    """When a prompt's sequences stop early, the ones still live move into the freed low slots.

    llama.cpp keeps a batch of separate KV streams in one pass only when its sequence ids are
    consecutive: every decode step uses slots 0..k-1. The moved sequences keep their cells, so they
    continue exactly as the same prompt decoded alone (near-zero temperature: the greedy path).
    """
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    with LlamaCppBackend(small_gguf, n_ctx=512, threads=1, max_parallel=4) as engine:
        prompts = [engine.render_chat([{"role": "user", "content": ask}])
                   for ask in ("Say hello.", "Write a Python function that reverses a string.")]
        greedy = SamplingParams(n=1, temperature=0, max_tokens=24)
        short, long = (engine.generate([p], greedy)[0][0].text for p in prompts)
        # A stop string early in the first prompt's reply that the second's never contains.
        # (Late enough that the second prompt's pair starts beside the first's, in slots 2 and 3.)
        stop = next((short[k:k + 3] for k in range(8, 24) if short[k:k + 3] not in long), None)
        if stop is None or len(stop) < 3:
            pytest.skip("the two greedy replies share every early piece of text")
        steps = []
        decode = engine._decode_batch
        engine._decode_batch = lambda entries: (steps.append([e[2] for e in entries if e[3]]), decode(entries))[1]
        try:
            cold = engine.generate(prompts, SamplingParams(n=2, temperature=0.001, max_tokens=24, stop=(stop,)))
        finally:
            engine._decode_batch = decode
    assert [g.finish_reason for g in cold[0]] == ["stop", "stop"]
    assert [g.text for g in cold[1]] == [long, long]
    sampled = [ids for ids in steps if ids]
    assert all(ids == list(range(len(ids))) for ids in sampled), sampled
    four = [k for k, ids in enumerate(sampled) if len(ids) == 4]
    assert four and len(sampled[-1]) == 2  # all four together, then the second prompt's pair, moved to 0 and 1


def test_sample_candidates_hands_over_windows_and_yields_task_by_task():
    from rrr_cli.generation.base import Backend, Generation
    from rrr_cli.generation.sampling import sample_candidates
    from rrr_cli.records import Task

    class Recorder(Backend):
        prompt_window = 2
        name, model_name = "rec", "rec"

        def __init__(self):
            self.calls = []

        def generate(self, prompts, params):
            self.calls.append((list(prompts), params.stop))
            return [[Generation(text=f"{p[-1]}{params.seed + j}", n_tokens=1) for j in range(params.n)]
                    for p in prompts]

        def render_chat(self, messages):
            return messages[-1]["content"]

    tasks = [Task(task_id=f"t{k}", language="python", prompt=f"def f{k}():\n    #{k}", tests="",
                  stop_tokens=["\nclass"] if k == 3 else ["\ndef"], entry_point=f"f{k}") for k in range(5)]
    backend, ticks = Recorder(), []
    got = list(sample_candidates(tasks, backend, SamplingParams(n=2, seed=5), "completion", ticks.append))
    # Windows of 2, broken where a task's stop strings differ: [0 1] [2] [3] [4].
    assert [len(prompts) for prompts, _ in backend.calls] == [2, 1, 1, 1]
    assert backend.calls[2][1] == ("\nclass",)
    assert [(c.task_id, c.sample_id, c.seed) for c in got] == [(f"t{k}", j, 5 + j) for k in range(5) for j in range(2)]
    assert [c.completion for c in got[:2]] == ["05", "06"] and ticks == [1] * 5


def test_sample_candidates_puts_streamed_tasks_back_in_order():
    """A backend that hands tasks back as they finish (here 2, 0, 1): candidates still come out in task
    order, each task as soon as it and every task before it are done."""
    from rrr_cli.generation.base import Backend, Generation
    from rrr_cli.generation.sampling import sample_candidates
    from rrr_cli.records import Task

    class Streamer(Backend):
        prompt_window = 8
        name, model_name = "stream", "stream"

        def __init__(self):
            self.handed = []

        def generate(self, prompts, params):
            raise AssertionError("sample_candidates should stream")

        def generate_stream(self, prompts, params):
            for index in (2, 0, 1):
                self.handed.append(index)
                yield index, [Generation(text=f"#{index}.{j}", n_tokens=index + 1) for j in range(params.n)]

        def render_chat(self, messages):
            return messages[-1]["content"]

    tasks = [Task(task_id=f"t{k}", language="python", prompt=f"def f{k}():\n", tests="", stop_tokens=["\ndef"],
                  entry_point=f"f{k}") for k in range(3)]
    backend, seen = Streamer(), []
    for candidate in sample_candidates(tasks, backend, SamplingParams(n=2, seed=0), "completion"):
        seen.append((candidate.task_id, candidate.sample_id, list(backend.handed)))
    assert [(t, j) for t, j, _ in seen] == [("t0", 0), ("t0", 1), ("t1", 0), ("t1", 1), ("t2", 0), ("t2", 1)]
    assert seen[0][2] == [2, 0]  # task 0 came out once handed back, before task 1 was done
    assert seen[2][2] == [2, 0, 1]


def test_extra_weight_layouts_are_off_only_where_the_cpu_has_amx():
    """On a Xeon with AMX-INT8, llama_decode segfaulted with ggml's extra buffer types (AMX and
    repacked weights); every other CPU keeps llama.cpp's defaults."""
    from types import SimpleNamespace

    from rrr_cli.generation.llamacpp import model_params

    def fake(info: bytes):
        return SimpleNamespace(llama_print_system_info=lambda: info,
                               llama_model_default_params=lambda: SimpleNamespace(use_extra_bufts=True))

    assert model_params(fake(b"CPU : AVX2 = 1 | AMX_INT8 = 1 | REPACK = 1 |")).use_extra_bufts is False
    assert model_params(fake(b"CPU : AVX2 = 1 | AVX512 = 1 | REPACK = 1 |")).use_extra_bufts is True


def test_a_call_takes_no_more_slots_than_sequences_and_decode_rate_spreads_streams(small_gguf):
    """Two sequences on a 4-slot backend allocate 3 KV streams (2 slots + the prompt's), not 5; the
    ceiling measurement decodes one token per stream when asked, and leaves the streams empty."""
    from rrr_cli.generation.llamacpp import LlamaCppBackend

    with LlamaCppBackend(small_gguf, n_ctx=256, threads=1, max_parallel=4) as engine:
        prompt = engine.render_chat([{"role": "user", "content": "Say hello."}])
        engine.generate([prompt], SamplingParams(n=2, temperature=0.8, max_tokens=4, seed=0))
        assert engine._streams == 3
        widths = []
        decode = engine._decode_batch
        engine._decode_batch = lambda entries: (widths.append(sorted({e[2] for e in entries})), decode(entries))[1]
        tokens, wall, _cpu = engine.decode_rate(3, n_tokens=6, context=8, streams=True)
        assert tokens == 6 and wall > 0
        assert widths[-2:] == [[0, 1, 2], [0, 1, 2]]  # two steps, one token in each of three streams
        mem = engine._ll.llama_get_memory(engine._ctx)
        assert all(engine._ll.llama_memory_seq_pos_max(mem, seq) == -1 for seq in range(3))
