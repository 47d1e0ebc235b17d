"""`rrr sample`: being built (issue 2)."""

from __future__ import annotations

from typing import List, Optional

import typer

from rrr_cli.errors import NotBuiltYet


def command(
    args: Optional[List[str]] = typer.Argument(None, help="Arguments (the command is not built yet)."),
) -> None:
    """Not built yet."""
    raise NotBuiltYet("`rrr sample` is not built yet (issue 2)")
