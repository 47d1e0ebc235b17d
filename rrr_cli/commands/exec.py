"""`rrr exec`: not built yet (issue 3)."""

from __future__ import annotations

from typing import List, Optional

import typer

from rrr_cli.errors import NotBuiltYet


def command(
    args: Optional[List[str]] = typer.Argument(None, help="Arguments (the command is not built yet)."),
) -> None:
    """Not built yet: this command arrives with issue 3."""
    raise NotBuiltYet("`rrr exec` is not built yet (tracked in issue 3)")
