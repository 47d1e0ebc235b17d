"""`rrr rerank`: score candidate records and write them best first within each task."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from rrr_cli.commands import options
from rrr_cli.errors import RrrError
from rrr_cli.records import Candidate, RecordWriter, read_records
from rrr_cli.ui import help_text, notice, progress


def command(
    source: Optional[str] = typer.Argument(None, help="Candidate JSONL file, or - for stdin "
                                           "(the default when input is piped)."),
    top_k: Optional[int] = typer.Option(None, "--top-k", "-k", help="Keep only the best K of each task."),
    reranker: Optional[str] = typer.Option(None, "--reranker", "-r", help="A trained reranker's name or "
                                           "directory (default: the newest trained one that beat public "
                                           "examples + mean log-prob on held-out tasks, else those)."),
    scorer_name: Optional[str] = typer.Option(None, "--scorer", help="Rank by this scorer instead: "
                                              "public_examples, consensus (consensus-dual, consensus-mbr; "
                                              "over the examples and their mutations), mean_logprob, random, "
                                              "weighted. The records must carry the task's prompt."),
    batch_size: int = typer.Option(16, "--batch-size", help="Candidates per reward-model forward pass."),
    confidence: bool = typer.Option(True, "--confidence/--no-confidence", help="Give each task's best record "
                                    "the probability that it passes the hidden tests (runs its examples "
                                    "and their mutations in the sandbox)."),
    output: Optional[Path] = options.Output,
) -> None:
    """Score candidates and order them best first per task.

    Writes them as scored records (score, scorer, rank), best first within each task; the best of
    each task also carries `confidence`, the probability that it passes the hidden tests.

    Examples:

      rrr sample humaneval-python --limit 10 -n 8 | rrr rerank --top-k 1

      rrr rerank candidates.jsonl --reranker NAME -o ranked.jsonl

      rrr rerank candidates.jsonl --scorer consensus --top-k 1
    """
    from rrr_cli.ranking.rerank import default_scorer, rerank_stream

    if source is None:
        if sys.stdin.isatty():
            raise RrrError("no candidates: give a candidate JSONL file, or pipe candidate records into stdin")
        source = "-"
    if batch_size < 1:
        raise RrrError(f"--batch-size must be at least 1 (got {batch_size})")
    options.check_output_path(output)
    if scorer_name is not None and reranker is not None:
        raise RrrError("--scorer and --reranker are exclusive (a reranker is the scorer)")
    if scorer_name is not None:
        from rrr_cli.ranking.registry import get_scorer

        scorer = get_scorer(scorer_name)
    else:
        scorer = default_scorer(reranker, notice=notice)
    if hasattr(scorer, "batch_size"):
        scorer.batch_size = batch_size
    with RecordWriter(output) as writer, progress() as bar:
        job = bar.add_task(f"reranking ({scorer.name})", total=None)
        writer.write_all(rerank_stream(read_records(source, Candidate), scorer, top_k,
                                       batch_candidates=max(batch_size, 64),
                                       progress=lambda n: bar.advance(job, n), confidence=confidence))
    if output is not None:
        notice(f"wrote {writer.count} scored candidates to {output}")


command.__doc__ = help_text(command.__doc__)
