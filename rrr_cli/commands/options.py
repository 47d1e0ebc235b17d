"""Options shared by several commands, so each is spelled and checked the same way everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rrr_cli import config
from rrr_cli.errors import RrrError
from rrr_cli.generation.base import SamplingParams

# The confidence under which a cascade asks the bigger model: `rrr solve --cascade`'s default, and the
# default top of `rrr eval --cascade`'s sweep. `benchmarks/cascade_threshold.py` chose it on each half of
# 320 MultiPL-E tasks (0.5B -> 1.5B, sweep 0.2-0.7; both halves and all tasks chose 0.5).
CASCADE_BELOW = 0.5

Model = typer.Option(None, "--model", "-m", help="Catalog name or path to a GGUF file / HF directory "
                     "(default: models.default, qwen2.5-coder-0.5b-instruct).")
Backend = typer.Option(None, "--backend", help="auto | llama.cpp | hf | vllm (default: auto).")
Temperature = typer.Option(None, "--temperature", "-t", help="Sampling temperature; 0 is greedy (default: 0.8).")
TopP = typer.Option(None, "--top-p", help="Nucleus sampling mass in (0, 1] (default: 0.95).")
MaxTokens = typer.Option(None, "--max-tokens", help="Most tokens per candidate (default: 512).")
Seed = typer.Option(None, "--seed", help="Seed of candidate 0; candidate j uses seed+j (default: 0).")
PromptStyle = typer.Option(None, "--prompt-style",
                           help="auto | chat | completion (default: auto, chat for Python and completion elsewhere).")
Limit = typer.Option(None, "--limit", help="At most this many tasks from each source.")
Split = typer.Option(None, "--split", help="MBPP split: test (default), train, validation, prompt, "
                     "train+validation, all.")
Output = typer.Option(None, "--output", "-o", help="Write JSONL here (atomically) instead of stdout.")
Stop = typer.Option(None, "--stop", help="An extra stop sequence (repeatable).")
Threads = typer.Option(None, "--threads", help="CPU threads for sampling; 0 = every core, 1 is best on a "
                       "busy shared machine (default: sample.threads, 0).")
NCtx = typer.Option(None, "--n-ctx", help="Tokens of context per candidate, prompt + completion "
                    "(default: sample.n_ctx, 4096).")


def sampling_params(section: str, n: Optional[int], temperature: Optional[float], top_p: Optional[float],
                    max_tokens: Optional[int], seed: Optional[int],
                    stop: Optional[List[str]] = None) -> SamplingParams:
    """Resolve sampling options (option > env > config > default) and check their ranges."""
    n = config.resolved(f"{section}.n", n, lambda v: isinstance(v, int) and 1 <= v <= 1024,
                        "must be between 1 and 1024")
    temperature = config.resolved("sample.temperature", temperature,
                                  lambda v: isinstance(v, (int, float)) and 0 <= v <= 5,
                                  "must be between 0 and 5")
    top_p = config.resolved("sample.top_p", top_p, lambda v: isinstance(v, (int, float)) and 0 < v <= 1,
                            "must be in (0, 1]")
    max_tokens = config.resolved("sample.max_tokens", max_tokens,
                                 lambda v: isinstance(v, int) and 1 <= v <= 32768,
                                 "must be between 1 and 32768")
    seed = config.resolved("sample.seed", seed, lambda v: isinstance(v, int) and v >= 0, "must be >= 0")
    return SamplingParams(n=n, temperature=float(temperature), top_p=float(top_p), max_tokens=max_tokens,
                          stop=tuple(stop or ()), seed=seed)


def backend_settings(n_ctx: Optional[int], threads: Optional[int]) -> dict[str, int]:
    """`open_backend`'s n_ctx and threads (option > env > config > default), range-checked."""
    return {
        "n_ctx": config.resolved("sample.n_ctx", n_ctx, lambda v: isinstance(v, int) and 16 <= v <= 1 << 20,
                                 "must be between 16 and 1048576 tokens"),
        "threads": config.resolved("sample.threads", threads, lambda v: isinstance(v, int) and 0 <= v <= 1024,
                                   "must be between 0 (every core) and 1024"),
    }


def check_output_path(path: Optional[Path]) -> None:
    if path is not None and path.is_dir():
        raise RrrError(f"--output {path}: is a directory")
