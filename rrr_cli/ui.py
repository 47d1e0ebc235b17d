"""Terminal output shared by the commands: results on stdout, messages and progress on stderr."""

from __future__ import annotations

import sys

from rich.console import Console

stderr = Console(stderr=True, highlight=False)
stdout = Console(highlight=False)


def error_line(message: str) -> None:
    """One line naming the problem, on stderr."""
    stderr.print(f"[bold red]rrr: error:[/] {message}", soft_wrap=True, markup=True)


def notice(message: str) -> None:
    stderr.print(f"[dim]rrr:[/] {message}", soft_wrap=True)


def progress(transient: bool = True, disable: bool | None = None):
    """A rich progress bar on stderr; disabled automatically when stderr is not a terminal."""
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    if disable is None:
        disable = not sys.stderr.isatty()
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        transient=transient,
        disable=disable,
    )
