"""`rrr rerankers`: the trained and shipped rerankers, and which one `rrr solve` and `rrr rerank` use."""

from __future__ import annotations

import json

import typer

from rrr_cli.ui import help_text, write_data

app = typer.Typer(help="List trained and shipped rerankers, and the default.",
                  no_args_is_help=True)


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show the rerankers, what they read, and which one is the default.

    For each: where it lives (trained in the cache, or shipped with rrr), what it reads, and how it did
    against the fallback (public examples + mean log-prob) on held-out tasks; then the default
    `rrr solve` and `rrr rerank` use, and why.

    Examples:

      rrr rerankers list

      rrr rerankers list --json | jq '.rerankers[] | select(.default) | .name'
    """
    from rrr_cli.ranking.rerank import beats_fallback, default_reranker, versus_fallback_text
    from rrr_cli.reranker import is_shipped, list_rerankers

    chosen, reason = default_reranker()
    rows = []
    for name, path, manifest in list_rerankers(shipped=True):
        settings = manifest.get("settings") or {}
        reads = []
        if settings:  # a folds manifest has none: its members read what they read
            reads = [{"trunk": "text (torch trunk)", "llama.cpp": "text (llama.cpp)"}.get(settings.get("states", "trunk"), "")]
            reads += ["log-probs"] * bool(settings.get("confidence")) + ["execution"] * bool(settings.get("evidence_inputs"))
        rows.append({"name": name, "where": "shipped" if is_shipped(path) else "trained", "path": str(path),
                     "created": manifest.get("created"), "reads": [r for r in reads if r],
                     "kind": manifest.get("kind", "reranker"), "beats_fallback": beats_fallback(manifest),
                     "versus_fallback": versus_fallback_text(manifest) or None,
                     "default": chosen is not None and chosen[0] == name})
    default = chosen[0] if chosen else "public examples + mean log-prob (the fallback)"
    if as_json:
        write_data(json.dumps({"default": default, "why": reason, "rerankers": rows}, indent=2) + "\n")
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("", "name", "where", "reads", "held out vs fallback"):
        table.add_column(column)
    for row in rows:
        table.add_row("*" if row["default"] else "", row["name"], row["where"], ", ".join(row["reads"]) or row["kind"],
                      row["versus_fallback"] or "not measured")
    console = Console()
    if rows:
        console.print(table)
    console.print(f"default: {default} — {reason}", highlight=False)


list_.__doc__ = help_text(list_.__doc__)
