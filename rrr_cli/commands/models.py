"""`rrr models list|pull|path`: being built (issue 2)."""

import typer

from rrr_cli.errors import NotBuiltYet

app = typer.Typer(help="The model catalog and the local copies.", no_args_is_help=True)


@app.command("list")
def list_() -> None:
    """Not built yet."""
    raise NotBuiltYet("`rrr models list` is not built yet (issue 2)")
