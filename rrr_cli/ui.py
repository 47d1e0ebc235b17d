"""Terminal output shared by the commands: results on stdout, messages and progress on stderr.

Data on stdout (code, records, JSON, paths) is written exactly as it is, never wrapped, padded or
styled, so `rrr ... > file` and `rrr ... | next` get the same characters a terminal shows. Displays
(tables) fit the terminal there, and get the room they need when piped instead of wrapping at 80.
"""

from __future__ import annotations

import inspect
import sys

from rich.console import Console
from rich.markup import escape

stderr = Console(stderr=True, highlight=False)
# soft_wrap: text printed here is never broken into lines by rich; the terminal wraps it for display.
stdout = Console(highlight=False, soft_wrap=True)

# Wide enough for any table rrr draws; a table only takes the columns it needs.
PIPE_WIDTH = 1000


def write_data(text: str) -> None:
    """Data for the reader of stdout: exactly these characters, flushed, with no markup or wrapping."""
    sys.stdout.write(text)
    sys.stdout.flush()


def show(renderable, **print_options) -> None:
    """A display (a table, a legend) on stdout: fitted to the terminal, or unwrapped when piped."""
    if stdout.is_terminal:
        stdout.print(renderable, **{"soft_wrap": False, **print_options})  # word-wrapped to the terminal
    else:
        Console(file=sys.stdout, width=PIPE_WIDTH, highlight=False, soft_wrap=True).print(renderable, **print_options)


def help_text(doc: str | None) -> str:
    """A command's docstring as its --help should show it. Typer keeps a docstring's line breaks, so a
    paragraph wrapped at 100 columns in the source comes out ragged at 80; here each prose paragraph
    becomes one line (the help renderer wraps it to the terminal) and indented ones (examples) stay
    as written."""
    paragraphs = inspect.cleandoc(doc or "").split("\n\n")
    return "\n\n".join(p if p.startswith((" ", "\b")) else " ".join(p.split("\n")) for p in paragraphs)


def error_line(message: str) -> None:
    """One line naming the problem, on stderr (as written: `rrr[ray]` or a path's brackets are not markup)."""
    stderr.print(f"[bold red]rrr: error:[/] {escape(message)}", soft_wrap=True, markup=True)


def notice(message: str) -> None:
    stderr.print(f"[dim]rrr:[/] {escape(message)}", soft_wrap=True)


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
