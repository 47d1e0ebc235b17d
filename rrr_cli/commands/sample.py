"""`rrr sample`: candidate solutions for tasks, as JSONL records."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from rrr_cli import config
from rrr_cli.commands import options
from rrr_cli.generation.prompts import check_style
from rrr_cli.generation.sampling import sample_candidates
from rrr_cli.records import RecordWriter
from rrr_cli.tasks import load_tasks
from rrr_cli.ui import help_text, notice, progress


def command(
    sources: List[str] = typer.Argument(..., help="Task sources: a task file (task.py, Task.java, ...), "
                                        "a JSONL file of tasks, or a benchmark (humaneval-python, mbpp, ...)."),
    n: Optional[int] = typer.Option(None, "-n", help="Candidates per task (default: 10)."),
    temperature: Optional[float] = options.Temperature,
    top_p: Optional[float] = options.TopP,
    max_tokens: Optional[int] = options.MaxTokens,
    seed: Optional[int] = options.Seed,
    stop: Optional[List[str]] = options.Stop,
    model: Optional[str] = options.Model,
    backend: Optional[str] = options.Backend,
    prompt_style: Optional[str] = options.PromptStyle,
    threads: Optional[int] = options.Threads,
    n_ctx: Optional[int] = options.NCtx,
    limit: Optional[int] = options.Limit,
    split: Optional[str] = options.Split,
    output: Optional[Path] = options.Output,
) -> None:
    """Sample N candidate solutions per task, as JSONL records.

    One JSONL candidate record per line, on stdout or in --output.

    Examples:

      rrr sample humaneval-python --limit 5 -n 4 -o out.jsonl

      rrr sample examples/is_palindrome.py -n 8 -t 0.6 | rrr rerank --top-k 1

      rrr sample mbpp --split train --limit 100 -n 8 --prompt-style completion

      rrr sample humaneval-cpp --limit 10 -n 8 --threads 1 -o cpp.jsonl
    """
    from rrr_cli.generation.backends import open_backend  # heavy: loads llama.cpp

    params = options.sampling_params("sample", n, temperature, top_p, max_tokens, seed, stop)
    style = check_style(config.get("sample.prompt_style", prompt_style))
    engine_settings = options.backend_settings(n_ctx, threads)
    options.check_output_path(output)
    tasks = load_tasks(sources, limit=limit, split=split)
    if not tasks:
        notice("no tasks")
        return
    with open_backend(model, config.get("sample.backend", backend), **engine_settings) as engine, \
            RecordWriter(output) as writer, progress() as bar:
        job = bar.add_task(f"sampling {params.n} per task", total=len(tasks))
        for candidate in sample_candidates(tasks, engine, params, style,
                                           progress=lambda k: bar.advance(job, k)):
            writer.write(candidate)
    if output is not None:
        notice(f"wrote {writer.count} candidates to {output}")


command.__doc__ = help_text(command.__doc__)
