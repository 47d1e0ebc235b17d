"""The llama.cpp backend: GGUF models on CPU through llama-cpp-python's low-level API.

One decoding engine serves both paths: continuous batching over a fixed number of slots, each slot a
sequence id with its own KV stream (a token attends only to its own sequence's cells). A prompt is
evaluated once (all but its last token) into a spare "prompt" stream; each of its sampled sequences
gets a copy of those cells (`llama_memory_seq_cp`) in a free slot, and every step decodes one token per
live sequence in a single `llama_batch`. When a sequence finishes, its cells are dropped
(`llama_memory_seq_rm`) and the slot takes the next pending (prompt, j) of the call, so the batch stays
full across prompts rather than shrinking to the longest sample of one prompt. The *batched* path
uses `max_parallel` slots (each step evaluates that many tokens at once, cheaper per token on a CPU);
the *sequential* path uses one. After each step every live sequence's next token is drawn at once,
in numpy, from the step's rows of logits (temperature, then top-p; see `_TokenSampler`), each sequence
from its own generator seeded `seed + j`; each has its own stop strings, token budget and log-prob sum.
A repeated prompt reuses its cached cells.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import functools
import os
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Iterator

import numpy as np

from rrr_cli.errors import RrrError
from rrr_cli.generation.base import Backend, Generation, SamplingParams

# The KV cache holds every live sequence's tokens; beyond this many cells we use fewer slots rather
# than grow memory without bound.
MAX_KV_CELLS = 32768
# Slots decoded together by default. A step's cost is mostly one pass over the weights, so wider is
# cheaper per token; and with more slots than one task's N, several tasks are in flight, which keeps
# the batch wide while one task's long samples finish. On a 2-core AMD EPYC (AVX-512), 10
# HumanEval-Python tasks: x 16, 85.6 tokens/s with 32 slots against 78.1 with 16; x 8, 1.03-1.19x in
# 4 interleaved pairs, though one run had 32 at 0.97x (benchmarks/batched_sampling.py --parallel 16 32;
# docs/speed.md). The KV cache stays bounded by MAX_KV_CELLS.
DEFAULT_PARALLEL = 32


def _llama_cpp():
    try:
        import llama_cpp
        from llama_cpp import _logger
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise RrrError(f"the llama.cpp backend needs llama-cpp-python: pip install llama-cpp-python ({exc})")
    _logger.set_verbose(False)  # llama.cpp's own log: errors only
    return llama_cpp


def model_params(ll=None, defaults=None):
    """llama.cpp's default model parameters, less its extra CPU weight layouts on a CPU with AMX.

    With llama-cpp-python 0.3.36 on a 2-core Xeon with AMX-INT8 (the first such machine this project
    ran on), every `llama_decode` segfaulted while the weights sat in ggml's extra buffer types (its
    AMX and repacked layouts); with `use_extra_bufts` off the same models decode. CPUs without AMX keep
    the defaults, repacked weights included. `defaults`: the function giving llama.cpp's defaults
    (`ll.llama_model_default_params`).
    """
    ll = ll or _llama_cpp()
    params = (defaults or ll.llama_model_default_params)()
    if cpu_has_amx(ll):
        params.use_extra_bufts = False
    return params


def cpu_has_amx(ll=None) -> bool:
    """Whether llama.cpp's CPU backend found AMX-INT8 on this CPU (and was built to use it)."""
    ll = ll or _llama_cpp()
    return b"AMX_INT8 = 1" in ll.llama_print_system_info()


# The process's open backends by model file (`LlamaCppBackend.shared`); a closed or dropped one leaves.
_OPEN: "weakref.WeakValueDictionary[str, LlamaCppBackend]" = weakref.WeakValueDictionary()


class LlamaCppBackend(Backend):
    """A GGUF model loaded with llama.cpp.

    `batched=True` (the default) decodes up to `max_parallel` sequences together, across the prompts
    of a `generate` call; `batched=False` decodes them one at a time. Both give per-sequence seeds
    `params.seed + j`.
    """

    name = "llama.cpp"
    # Tasks `sample_candidates` hands over per call. Each task comes back as soon as it is done
    # (`generate_stream`), so the window only bounds what an interrupted run loses and the tasks
    # whose prompt sizes the KV cache; each call ends in a thin batch (the last long samples alone),
    # which a long window pays once instead of every 10 tasks.
    prompt_window = 40

    def __init__(
        self,
        model_path: str | os.PathLike,
        *,
        model_name: str | None = None,
        n_ctx: int | None = None,
        threads: int | None = None,
        n_batch: int = 512,
        batched: bool = True,
        max_parallel: int = DEFAULT_PARALLEL,
        lora_path: str | os.PathLike | None = None,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise RrrError(f"model file not found: {path}")
        self._ll = ll = _llama_cpp()
        self.model_path = path
        self.model_name = model_name or path.stem
        self.n_ctx = int(n_ctx) if n_ctx else 4096  # per sequence: prompt + completion
        self.threads = int(threads) if threads else _cpu_count()
        self.n_batch = int(n_batch)
        self.batched = batched
        self.max_parallel = max(1, min(int(max_parallel), ll.llama_max_parallel_sequences()))
        self._streams = 0
        self._streaming = False  # a generate_stream call is under way (maybe suspended at a yield)

        ll.llama_backend_init()
        params = model_params(ll)
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=False):
            self._model = ll.llama_model_load_from_file(str(path).encode("utf-8"), params)
        if not self._model:
            raise RrrError(f"llama.cpp could not load {path} (not a GGUF model, or a damaged file)")
        self._lora = None
        if lora_path is not None:
            # A GGUF LoRA adapter (see generation/gguf_lora.py), applied on every context we create.
            with suppress_stdout_stderr(disable=False):
                self._lora = ll.llama_adapter_lora_init(self._model, str(lora_path).encode("utf-8"))
            if not self._lora:
                raise RrrError(f"llama.cpp could not load the LoRA adapter {lora_path} for {path}")
        self._vocab = ll.llama_model_get_vocab(self._model)
        self.n_vocab = ll.llama_vocab_n_tokens(self._vocab)
        self.n_ctx_train = ll.llama_model_n_ctx_train(self._model)
        self._ctx = None
        self._ctx_cells = 0
        self._embd = None  # (context, cells, sequences) of `pooled_states`, made on first use
        self._prefix: list[int] = []  # tokens whose KV cells sequence 0 holds (a prompt minus its last token)
        self._chat_formatter = None
        self._pieces: dict[int, bytes | None] = {}  # token -> its text (None: end of generation), as sampled
        # Where sampling's time goes, summed over calls (benchmarks/batched_sampling.py prints it):
        # prompt tokens evaluated and their seconds; decode steps, tokens sampled and their seconds.
        self.stats = {"prompt_tokens": 0, "prompt_s": 0.0, "steps": 0, "sampled_tokens": 0, "decode_s": 0.0}
        if lora_path is None:
            _OPEN[str(path.resolve())] = self

    # ----------------------------------------------------------------- model facts

    def metadata(self, key: str) -> str | None:
        """One GGUF metadata value as a string (None when absent)."""
        size = 4096
        while True:
            buf = ctypes.create_string_buffer(size)
            n = self._ll.llama_model_meta_val_str(self._model, key.encode("utf-8"), buf, size)
            if n < 0:
                return None
            if n < size:
                return buf.value.decode("utf-8", errors="replace")
            size = n + 1

    @classmethod
    def shared(cls, model_path: str | os.PathLike, **options) -> "LlamaCppBackend":
        """This process's open backend on `model_path` (no adapter), or a new one: a reward model
        reads its pooled states from the model `rrr solve` sampled with instead of loading it again."""
        key = str(Path(model_path).resolve())
        found = _OPEN.get(key)
        if found is not None and found._model:
            return found
        return cls(model_path, **options)

    @property
    def hidden_size(self) -> int:
        return int(self._ll.llama_model_n_embd(self._model))

    @property
    def eos_token(self) -> int:
        return int(self._ll.llama_vocab_eos(self._vocab))

    def tokenize(self, text: str, special: bool = True, bos: bool = True) -> list[int]:
        """Token ids of `text`, with BOS where the model wants one (unless `bos` is false: text that
        follows other text); special tokens are parsed unless `special` is false (a candidate's code is
        text, whatever it contains)."""
        data = text.encode("utf-8")
        add_bos = bos and bool(self._ll.llama_vocab_get_add_bos(self._vocab))
        cap = len(data) + 16
        tokens = (self._ll.llama_token * cap)()
        n = self._ll.llama_tokenize(self._vocab, data, len(data), tokens, cap, add_bos, special)
        if n < 0:
            cap = -n
            tokens = (self._ll.llama_token * cap)()
            n = self._ll.llama_tokenize(self._vocab, data, len(data), tokens, cap, add_bos, special)
        if n < 0:
            raise RrrError(f"could not tokenize a prompt of {len(data)} bytes")
        return list(tokens[:n])

    def token_bytes(self, token: int) -> bytes:
        """The text of one token (control tokens render as nothing)."""
        buf = ctypes.create_string_buffer(64)
        n = self._ll.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._ll.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
        return buf.raw[:n]

    def _piece(self, token: int) -> bytes | None:
        """The text a sampled token adds, or None when it ends the generation (cached per token)."""
        try:
            return self._pieces[token]
        except KeyError:
            eog = self._ll.llama_vocab_is_eog(self._vocab, token)
            piece = self._pieces[token] = None if eog else self.token_bytes(token)
            return piece

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        buf = ctypes.create_string_buffer(256)
        n = self._ll.llama_token_to_piece(self._vocab, token, buf, 256, 0, True)
        return buf.raw[: max(n, 0)].decode("utf-8", errors="replace")

    def render_chat(self, messages: list[dict[str, str]]) -> str:
        """Apply the GGUF's own chat template (tokenizer.chat_template) with the generation prompt."""
        if self._chat_formatter is None:
            template = self.metadata("tokenizer.chat_template")
            if not template:
                raise RrrError(f"{self.model_name} has no chat template; use the completion prompt style")
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            self._chat_formatter = Jinja2ChatFormatter(
                template=template,
                eos_token=self._special_text(self._ll.llama_vocab_eos(self._vocab)),
                bos_token=self._special_text(self._ll.llama_vocab_bos(self._vocab)),
                add_generation_prompt=True,
            )
        return self._chat_formatter(messages=messages).prompt

    # ----------------------------------------------------------------- generation

    def generate(self, prompts: list[str], params: SamplingParams) -> list[list[Generation]]:
        """N generations per prompt; sequence j is seeded `params.seed + j`.

        Batched, up to `max_parallel` sequences decode together, drawn from every prompt of the call
        in order: when one finishes, its slot takes the next (prompt, j). Sequential, one at a time.
        """
        results: list[list[Generation]] = [[] for _ in prompts]
        for i, row in self.generate_stream(prompts, params):
            results[i] = row
        return results

    def generate_stream(self, prompts: list[str], params: SamplingParams) -> Iterator[tuple[int, list[Generation]]]:
        """`generate`, yielding each prompt's generations as its last sequence finishes."""
        encoded = [self._prompt_tokens(prompt) for prompt in prompts]
        # Greedy decoding gives every sequence the same text: decode one per prompt, repeat it.
        count = 1 if params.is_greedy else params.n
        budgets = [min(params.max_tokens, self.n_ctx - len(tokens)) for tokens in encoded]
        per_seq = max((len(t) + b + 1 for t, b in zip(encoded, budgets)), default=1)
        # No more slots than sequences: a solve's 8 candidates need 9 KV streams, not 33.
        slots = min(self.max_parallel, len(encoded) * count) if self.batched else 1
        # Bound the KV cache (one stream per slot plus one holding the current prompt).
        slots = max(1, min(slots, MAX_KV_CELLS // _stream_cells(per_seq) - 1))
        if self._streaming:
            # The suspended call's live sequences hold the context's streams: a second call would
            # overwrite them. Finish (or close) the first.
            raise RrrError("this llama.cpp model is still sampling an earlier call; one call at a time")
        self._streaming = True
        try:
            for i, row in self._run(encoded, budgets, count, params, slots, per_seq):
                if count < params.n:
                    row = [dataclasses.replace(row[0], token_logprobs=list(row[0].token_logprobs))
                           for _ in range(params.n)]
                yield i, row
        finally:
            self._streaming = False

    def _prompt_tokens(self, prompt: str) -> list[int]:
        tokens = self.tokenize(prompt)
        if not tokens:
            raise RrrError("cannot generate from an empty prompt (the model adds no BOS token)")
        if len(tokens) >= self.n_ctx:
            raise RrrError(
                f"prompt of {len(tokens)} tokens does not fit the context of {self.n_ctx} tokens (raise it with "
                "--n-ctx on rrr sample and rrr solve, or RRR_SAMPLE_N_CTX / [sample] n_ctx for every command)"
            )
        return tokens

    def forget_prompt(self) -> None:
        """Drop the cached prompt, so the next call evaluates its prompt afresh (fair timings)."""
        if self._ctx is not None:
            self._ll.llama_memory_clear(self._ll.llama_get_memory(self._ctx), True)
        self._prefix = []

    def decode_rate(self, width: int, n_tokens: int = 256, context: int = 256,
                    all_logits: bool = True, streams: bool = False) -> tuple[int, float, float]:
        """(tokens, wall seconds, CPU seconds) of evaluating `width` tokens per llama_decode.

        The hardware's batched-decode ceiling on this model and these threads, for comparison with
        sampling: `n_tokens` tokens, `width` at a time, after `context` tokens already in the cache
        (attention as in a sequence that long), with logits for every token as sampling needs them
        (`all_logits=False`: the last of each batch only, as prompt evaluation does). By default the
        tokens are of one sequence; `streams=True` spreads each batch as one token in each of `width`
        sequences' streams, every one holding the same `context` cells, as batched sampling decodes.
        Uses the first slots' streams of the current context and leaves them empty.
        """
        ll = self._ll
        used = width if streams else 1
        per_stream = max(1, n_tokens // width) if streams else n_tokens  # tokens each used stream takes
        self._ensure_context(context + per_stream + 1, max(used, self._streams - 1))
        mem = ll.llama_get_memory(self._ctx)
        filler = self.tokenize("def f(x):\n    return x + 1\n" * (1 + (context + n_tokens) // 8))
        filler = (filler * (1 + (context + n_tokens) // len(filler)))[: context + n_tokens]
        for seq in range(used):
            ll.llama_memory_seq_rm(mem, seq, -1, -1)
        try:
            for start in range(0, context, self.n_batch):
                stop = min(start + self.n_batch, context)
                self._decode_batch([(filler[p], p, 0, False) for p in range(start, stop)])
            for seq in range(1, used):
                ll.llama_memory_seq_cp(mem, 0, seq, -1, -1)  # applied by the next decode
            wall, cpu = time.perf_counter(), time.process_time()
            if streams:
                for step in range(per_stream):
                    token, pos = filler[context + step], context + step
                    self._decode_batch([(token, pos, seq, all_logits or seq == used - 1) for seq in range(used)])
                n_tokens = per_stream * width
            else:
                for start in range(context, context + n_tokens, width):
                    stop = min(start + width, context + n_tokens)
                    self._decode_batch([(filler[p], p, 0, all_logits or p == stop - 1) for p in range(start, stop)])
            ll.llama_synchronize(self._ctx)
            return n_tokens, time.perf_counter() - wall, time.process_time() - cpu
        finally:
            for seq in range(used):
                ll.llama_memory_seq_rm(mem, seq, -1, -1)

    def pooled_states(self, prefix: list[int], completions: list[list[int]]) -> list[np.ndarray]:
        """Each completion's mean final (normed) hidden state over its tokens, after `prefix`.

        The reward model's pooled state (`RewardModelSettings.pooling = "mean"`) from the weights this
        backend already holds, through a second llama.cpp context with embeddings on (its own KV cache,
        one stream shared by all sequences): the prefix is evaluated once, every completion follows it
        as its own sequence, as many per llama_decode as `n_batch` holds. float32 rows of the model's
        hidden size, in the order of `completions`.
        """
        ll = self._ll
        if not completions:
            return []
        cells = len(prefix) + sum(len(c) for c in completions) + 1
        ctx = self._embedding_context(cells, len(completions) + 1)
        mem = ll.llama_get_memory(ctx)
        ll.llama_memory_clear(mem, True)
        size = ll.llama_model_n_embd(self._model)
        try:
            # The prefix's states are not read: with embeddings off only the last token of each chunk
            # goes through the output layer (with them on, llama.cpp outputs every token).
            ll.llama_set_embeddings(ctx, False)
            for start in range(0, len(prefix), self.n_batch):
                chunk = prefix[start:start + self.n_batch]
                self._decode_batch([(t, start + k, 0, k == len(chunk) - 1) for k, t in enumerate(chunk)], ctx)
            ll.llama_set_embeddings(ctx, True)
            sums = [np.zeros(size, dtype=np.float64) for _ in completions]
            entries = []
            for seq, tokens in enumerate(completions, start=1):
                if prefix:
                    ll.llama_memory_seq_cp(mem, 0, seq, -1, -1)
                entries += [(t, len(prefix) + k, seq, True) for k, t in enumerate(tokens)]
            for start in range(0, len(entries), self.n_batch):
                chunk = entries[start:start + self.n_batch]
                self._decode_batch(chunk, ctx)
                for row, (_, _, seq, _) in enumerate(chunk):
                    sums[seq - 1] += np.ctypeslib.as_array(ll.llama_get_embeddings_ith(ctx, row), shape=(size,))
        finally:
            ll.llama_memory_clear(mem, True)
        return [(total / max(len(tokens), 1)).astype(np.float32) for total, tokens in zip(sums, completions)]

    def _embedding_context(self, cells: int, sequences: int):
        """The context `pooled_states` decodes in: embeddings on, no pooling (one row per token), one
        KV stream for every sequence (a shared prefix is stored once), kept while it is big enough."""
        ll = self._ll
        cells = -(-cells // 256) * 256
        if self._embd is not None and self._embd[1] >= cells and self._embd[2] >= sequences:
            return self._embd[0]
        self._free_embedding_context()
        cp = ll.llama_context_default_params()
        cp.n_ctx = cells
        cp.n_batch = cp.n_ubatch = self.n_batch
        cp.n_seq_max = max(sequences, 1)
        cp.kv_unified = True
        cp.embeddings = True
        cp.pooling_type = ll.LLAMA_POOLING_TYPE_NONE
        cp.flash_attn_type = ll.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cp.n_threads = cp.n_threads_batch = self.threads
        cp.no_perf = True
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=False):
            ctx = ll.llama_init_from_model(self._model, cp)
        if not ctx:
            raise RrrError(f"llama.cpp could not create an embeddings context of {cells} tokens (out of memory?)")
        self._embd = (ctx, cells, cp.n_seq_max)
        self._ensure_batch()
        return ctx

    def _free_embedding_context(self) -> None:
        held = getattr(self, "_embd", None)
        if held is not None:
            self._ll.llama_free(held[0])
            self._embd = None

    def _ensure_context(self, per_seq: int, n_slots: int) -> None:
        """A context with `n_slots` sequence streams plus one for the prompt, each of `per_seq` cells.

        One stream per sequence: each token attends only to its own sequence's cells, which keeps
        attention cheap as N grows; seq_cp copies the prompt's cells into a slot's stream.
        """
        ll = self._ll
        per_seq = _stream_cells(per_seq)
        streams = max(n_slots + 1, self._streams)
        per_seq = max(per_seq, self._ctx_cells // max(self._streams, 1))
        cells = streams * per_seq
        if self._ctx is not None and streams == self._streams and self._ctx_cells >= cells:
            return
        self._free_context()
        cp = ll.llama_context_default_params()
        cp.n_ctx = cells
        cp.n_batch = self.n_batch
        cp.n_ubatch = self.n_batch
        cp.n_seq_max = streams
        cp.kv_unified = False
        # ggml's CPU flash-attention kernel walks the cache one cell at a time; the plain KQ matmul and
        # softmax are faster here: 16 streams per step decode ~1.25x faster, one token ~1.1x (2 cores).
        cp.flash_attn_type = ll.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cp.n_threads = self.threads
        cp.n_threads_batch = self.threads
        cp.no_perf = True
        from llama_cpp._utils import suppress_stdout_stderr

        with suppress_stdout_stderr(disable=False):
            ctx = ll.llama_init_from_model(self._model, cp)
        if not ctx:
            raise RrrError(f"llama.cpp could not create a context of {cells} tokens (out of memory?)")
        if self._lora:
            adapters = (ll.llama_adapter_lora_p_ctypes * 1)(self._lora)
            if ll.llama_set_adapters_lora(ctx, adapters, 1, (ctypes.c_float * 1)(1.0)) != 0:
                ll.llama_free(ctx)
                raise RrrError("llama.cpp could not apply the LoRA adapter to its context")
        self._ctx = ctx
        self._ctx_cells = cells
        self._streams = streams
        self._prefix = []
        self._ensure_batch()

    def _ensure_batch(self) -> None:
        """The llama_batch every decode fills: room for a prompt chunk or one token per slot."""
        if getattr(self, "_batch", None) is None:
            self._batch = self._ll.llama_batch_init(max(self.n_batch, self.max_parallel), 0, 1)

    def _free_context(self) -> None:
        if self._ctx is not None:
            self._ll.llama_free(self._ctx)
            self._ctx = None
            self._ctx_cells = 0
            self._streams = 0
            self._prefix = []

    def _decode_batch(self, entries: list[tuple[int, int, int, bool]], ctx=None) -> None:
        """Decode (token, position, sequence id, want logits) entries as one llama_batch, in `ctx`
        (default: the sampling context)."""
        batch = self._batch
        for i, (token, pos, seq, logits) in enumerate(entries):
            batch.token[i] = token
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = 1 if logits else 0
        batch.n_tokens = len(entries)
        rc = self._ll.llama_decode(self._ctx if ctx is None else ctx, batch)
        if rc != 0:
            if ctx is None:
                self._prefix = []
            raise RrrError(f"llama.cpp decode failed (code {rc}): the context is too small for this request")

    def _load_prefix(self, prefix: list[int], mem) -> None:
        """Make the prompt stream hold exactly `prefix`, keeping what it shares with the last prompt.

        Prompts of one benchmark share their chat template's system turn and instructions (a fifth of
        a HumanEval prompt): only the tokens after the common prefix are evaluated.
        """
        ll = self._ll
        if prefix == self._prefix:
            return
        home = self._streams - 1
        keep = 0
        for old, new in zip(self._prefix, prefix):
            if old != new:
                break
            keep += 1
        ll.llama_memory_seq_rm(mem, home, keep, -1)
        self._prefix = []
        started = time.perf_counter()
        for start in range(keep, len(prefix), self.n_batch):
            chunk = prefix[start : start + self.n_batch]
            self._decode_batch([(t, start + k, home, False) for k, t in enumerate(chunk)])
        self.stats["prompt_tokens"] += len(prefix) - keep
        self.stats["prompt_s"] += time.perf_counter() - started
        self._prefix = list(prefix)

    def _run(
        self,
        encoded: list[list[int]],
        budgets: list[int],
        count: int,
        params: SamplingParams,
        n_slots: int,
        per_seq: int,
    ) -> Iterator[tuple[int, list[Generation]]]:
        """Continuous batching: sequences (prompt i, j) in order through `n_slots` slots.

        Each step decodes one token for every live sequence in a single llama_batch. A sequence that
        finishes frees its slot's cells and the slot takes the next pending sequence at once, so the
        batch stays full across prompts instead of shrinking to the longest sample of one prompt.
        A prompt is evaluated once (all but its last token) into the prompt stream; each of its
        sequences copies those cells and starts by decoding the last token at its own position.
        The schedule depends only on the sampled tokens, so seeded runs repeat exactly. Yields
        (prompt index, its generations by j) as each prompt's last sequence finishes.
        """
        ll = self._ll
        self._ensure_context(per_seq, n_slots)
        mem = ll.llama_get_memory(self._ctx)
        home = self._streams - 1
        base_seed = 0 if params.seed is None else int(params.seed)
        stops = [s for s in params.stop if s]
        longest_stop = max((len(s) for s in stops), default=0)
        pending = deque((i, j) for i in range(len(encoded)) for j in range(count))
        free = list(range(n_slots))
        live: dict[int, _Sequence] = {}
        done: dict[tuple[int, int], Generation] = {}
        left = [count] * len(encoded)  # sequences of each prompt not yet finished
        picker = _TokenSampler(params, n_slots, self.n_vocab)
        try:
            while pending or live:
                self._refill(pending, free, live, encoded, budgets, base_seed, mem, home)
                self._compact(free, live, mem)
                order = sorted(live)
                started = time.perf_counter()
                self._decode_batch([(live[slot].feed, live[slot].pos, slot, True) for slot in order])
                self.stats["decode_s"] += time.perf_counter() - started
                self.stats["steps"] += 1
                self.stats["sampled_tokens"] += len(order)
                # One row of logits per live sequence, in batch order: sampled together, in numpy.
                rows = np.ctypeslib.as_array(ll.llama_get_logits(self._ctx), shape=(len(order), self.n_vocab))
                picks = picker.sample(rows, [live[slot].rng for slot in order])
                for slot, (token, logprob) in zip(order, picks):
                    state = live[slot]
                    state.n_tokens += 1
                    state.logprob_sum += logprob
                    state.token_logprobs.append(logprob)
                    piece = self._piece(token)
                    if piece is None:
                        state.finish = "eos"
                    else:
                        state.data += piece
                        text = state.data.decode("utf-8", errors="ignore")
                        cut = _find_stop(text, stops, max(0, state.checked - longest_stop))
                        state.checked = len(text)
                        if cut is not None:
                            state.text, state.finish = text[:cut], "stop"
                        elif state.n_tokens >= state.budget:
                            state.finish = "length"
                    if state.finish is None:
                        state.feed, state.pos = token, state.pos + 1
                        continue
                    done[state.key] = state.result(params.logprobs)
                    ll.llama_memory_seq_rm(mem, slot, -1, -1)
                    del live[slot]
                    free.append(slot)
                    i = state.key[0]
                    left[i] -= 1
                    if not left[i]:
                        yield i, [done.pop((i, j)) for j in range(count)]
        finally:
            for slot in live:
                ll.llama_memory_seq_rm(mem, slot, -1, -1)

    def _refill(self, pending, free, live, encoded, budgets, base_seed, mem, home) -> None:
        """Start pending sequences in the free slots (lowest first), in (prompt, j) order."""
        ll = self._ll
        copied = False
        while pending and free:
            i, j = pending[0]
            prefix = encoded[i][:-1]
            if prefix != self._prefix and copied:
                # Copies into slots are applied by the next decode: let that happen before the
                # prompt stream is overwritten with the next prompt (it joins one step later).
                break
            pending.popleft()
            free.sort()
            slot = free.pop(0)
            self._load_prefix(prefix, mem)
            if prefix:
                ll.llama_memory_seq_cp(mem, home, slot, -1, -1)
                copied = True
            state = _Sequence()
            state.key, state.budget = (i, j), budgets[i]
            state.rng = np.random.default_rng((base_seed + j) & 0xFFFFFFFFFFFFFFFF)
            state.feed, state.pos = encoded[i][-1], len(encoded[i]) - 1
            live[slot] = state

    def _compact(self, free, live, mem) -> None:
        """Move the highest live sequences into the lowest free slots, so the live slots are 0..k-1.

        With one KV stream per sequence, llama.cpp evaluates a batch as one ubatch only when its
        sequence ids are consecutive; a gap splits it, and every part is a full pass over the weights
        (measured: 3 live sequences in slots with gaps took 114 ms a step, as three single tokens do;
        together they take 60 ms). Gaps open when sequences finish and nothing is pending to take
        their slots, as at the end of every call. A move copies the stream's cells (applied by the next
        decode, in order after any copy from the prompt stream) and frees the old slot.
        """
        ll = self._ll
        free.sort()
        while free and live and free[0] < max(live):
            low, high = free.pop(0), max(live)
            ll.llama_memory_seq_cp(mem, high, low, -1, -1)
            ll.llama_memory_seq_rm(mem, high, -1, -1)
            live[low] = live.pop(high)
            free.append(high)
            free.sort()

    def close(self) -> None:
        """Free the context, the batch and the model."""
        ll = getattr(self, "_ll", None)
        if ll is None:
            return
        self._free_context()
        self._free_embedding_context()
        if getattr(self, "_batch", None) is not None:
            ll.llama_batch_free(self._batch)
            self._batch = None
        self._lora = None  # llama.cpp frees a model's adapters with the model
        if getattr(self, "_model", None):
            ll.llama_model_free(self._model)
            self._model = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class _Sequence:
    """Decoding state of one sampled sequence."""

    __slots__ = ("data", "text", "checked", "n_tokens", "logprob_sum", "token_logprobs", "finish",
                 "key", "budget", "rng", "feed", "pos")

    def __init__(self) -> None:
        self.key = (0, 0)  # (prompt index, sample index j)
        self.budget = 0
        self.rng: np.random.Generator | None = None  # this sequence's own draws (seed + j)
        self.feed = 0  # the token this sequence decodes next, at position `pos`
        self.pos = 0
        self.data = b""
        self.text: str | None = None
        self.checked = 0
        self.n_tokens = 0
        self.logprob_sum = 0.0
        self.token_logprobs: list[float] = []
        self.finish: str | None = None

    def result(self, logprobs: bool) -> Generation:
        text = self.text if self.text is not None else self.data.decode("utf-8", errors="replace")
        return Generation(
            text=text,
            n_tokens=self.n_tokens,
            logprob_sum=self.logprob_sum if logprobs else None,
            finish_reason=self.finish or "length",
            token_logprobs=self.token_logprobs if logprobs else [],
        )


class _TokenSampler:
    """Temperature, then top-p, then a draw: for every row of one step's logits at once, in numpy.

    The distribution is llama.cpp's `temp -> top_p -> dist` chain (and vLLM's): softmax of logits / T,
    the smallest set of most likely tokens whose probability reaches `top_p`, renormalised. Each
    sequence draws from its own generator, so a seed gives the same tokens whatever else shares the
    batch. A drawn token's log-prob is log_softmax of the raw logits (temperature 1, no top-p): the
    model's own probability, the same definition whatever the sampling settings.

    Whole-vocabulary work is a few vectorised passes per row into preallocated buffers; the sort and
    cumulative sum run only over the tokens above a probability floor whose mass already reaches
    `top_p` (tens of tokens, typically, of 152k).
    """

    # First floor: a token under 1e-4 of the probability mass is in the nucleus only when the tokens
    # above the floor together fall short of top_p; then the floor drops (and finally to zero).
    FLOORS = (1e-4, 1e-7, 1e-10, 0.0)
    # Steps with at least this many rows are sampled in two halves at once.
    SPLIT_ROWS = 4

    def __init__(self, params: SamplingParams, rows: int, n_vocab: int) -> None:
        self.temperature = float(params.temperature)
        self.top_p = float(params.top_p)
        self._shifted = np.empty((rows, n_vocab), dtype=np.float32)  # logits - max, per row
        self._weights = np.empty((rows, n_vocab), dtype=np.float32)  # exp of those (at T), unnormalised

    def sample(self, logits: np.ndarray, rngs: list) -> list[tuple[int, float]]:
        """(token, log-prob) for each row of `logits` (rows x vocab), row r drawing from `rngs[r]`.

        Rows are independent, so a wide step's rows are split in two halves sampled on two threads at
        once (numpy releases the GIL in its whole-vocabulary passes; llama.cpp's threads are idle
        meanwhile): the same draws, in about 0.6x the time for 16 rows on 2 cores.
        """
        n = logits.shape[0]
        if n < self.SPLIT_ROWS:
            return self._sample_rows(logits, rngs, 0, n)
        half = (n + 1) // 2
        first = _helper_thread(os.getpid()).submit(self._sample_rows, logits, rngs, 0, half)
        second = self._sample_rows(logits, rngs, half, n)
        return first.result() + second

    def _sample_rows(self, logits: np.ndarray, rngs: list, lo: int, hi: int) -> list[tuple[int, float]]:
        """`sample` for rows lo..hi-1 (each row's buffers are its own, so two ranges run at once)."""
        logits = logits[lo:hi]
        shifted, weights = self._shifted[lo:hi], self._weights[lo:hi]
        np.subtract(logits, logits.max(axis=1, keepdims=True), out=shifted)
        np.exp(shifted, out=weights)
        log_norm = np.log(weights.sum(axis=1, dtype=np.float64))  # log-partition at temperature 1
        if self.temperature == 0:
            tokens = shifted.argmax(axis=1).tolist()
        else:
            if self.temperature != 1:
                np.multiply(shifted, 1.0 / self.temperature, out=weights)
                np.exp(weights, out=weights)
            totals = weights.sum(axis=1, dtype=np.float64)
            tokens = [self._draw(weights[r], float(totals[r]), rngs[lo + r]) for r in range(hi - lo)]
        return [(token, float(shifted[r, token] - log_norm[r])) for r, token in enumerate(tokens)]

    def _draw(self, weights: np.ndarray, total: float, rng) -> int:
        """One token from the nucleus of `weights` (unnormalised probabilities summing to `total`)."""
        target = self.top_p * total
        for floor in self.FLOORS:
            ids = np.flatnonzero(weights > floor * total)
            kept = weights[ids]
            if kept.sum(dtype=np.float64) >= target or floor == 0.0:
                break
        order = np.argsort(-kept, kind="stable")  # most likely first; ties by token id
        ids, cumulative = ids[order], np.cumsum(kept[order], dtype=np.float64)
        # Keep tokens up to and including the one whose cumulative mass reaches top_p.
        size = min(int(np.searchsorted(cumulative, target)) + 1, len(ids))
        at = int(np.searchsorted(cumulative[:size], rng.random() * cumulative[size - 1], side="right"))
        return int(ids[min(at, size - 1)])


@functools.lru_cache(maxsize=1)
def _helper_thread(pid: int) -> concurrent.futures.ThreadPoolExecutor:
    """One worker thread for the sampler's second half of rows, made on first use in process `pid`
    (a forked child does not inherit the parent's thread, so it gets its own)."""
    return concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rrr-sampler")


def _stream_cells(tokens: int) -> int:
    """The KV cells a stream gets for `tokens` tokens: rounded up to 256, as llama.cpp pads them."""
    return -(-tokens // 256) * 256


def _find_stop(text: str, stops: list[str], start: int) -> int | None:
    """Index of the earliest stop string in `text` at or after `start` (None when there is none)."""
    best = None
    for stop in stops:
        at = text.find(stop, start)
        if at != -1 and (best is None or at < best):
            best = at
    return best


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
