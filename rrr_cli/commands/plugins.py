"""`rrr plugins`: the backends, scorers and languages installed, rrr's own and the plugins'."""

from __future__ import annotations

import json
from typing import Optional

import typer

from rrr_cli import plugins
from rrr_cli.errors import RrrError
from rrr_cli.ui import help_text, show, write_data


def _status(plugin: plugins.Plugin) -> str:
    """ok, or why the plugin cannot be used here (it failed to load, what it needs is not installed,
    its toolchain is missing), or for a language how its verdicts are decided where that is weaker."""
    if plugin.kind == "language":
        from rrr_cli.execution.languages import languages, toolchain_missing

        if plugin.name in languages():
            missing = toolchain_missing(plugin.name)
            if missing:
                return missing
            if not languages()[plugin.name].tests_done:
                return "ok (no tests_done: a run that exits 0 passes, finished or not)"
            return "ok"
    elif plugin.kind in ("backend", "scorer"):
        factory = plugins.callable_or_report(plugin.kind, plugin.name)
        if factory is not None:
            return plugins.missing_requirement(factory) or "ok"
    return f"broken: {plugins.broken(plugin.kind, plugin.name)}" if plugins.broken(plugin.kind, plugin.name) else "ok"


def command(
    kind: Optional[str] = typer.Option(None, "--kind", help="Only this kind: backend, scorer or language."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the installed backends, scorers and languages.

    Shows each one's name, kind, package, version and status. rrr registers its own through the same entry points a plugin package uses (rrr.backends,
    rrr.scorers, rrr.languages); a plugin that fails to load is listed as broken, and rrr runs without it.

    Examples:

      rrr plugins

      pip install ./plugins/rrr-go && rrr plugins --kind language

      rrr plugins --json | jq '.[] | select(.package != "rrr")'
    """
    if kind is not None and kind not in plugins.GROUPS:
        raise RrrError(f"--kind: unknown kind {kind!r} (known: {', '.join(plugins.GROUPS)})")
    rows = [{"name": p.name, "kind": p.kind, "package": p.package, "version": p.version,
             "entry_point": p.value, "status": _status(p)}
            for p in plugins.all_plugins() if kind is None or p.kind == kind]
    if as_json:
        write_data(json.dumps(rows, indent=2) + "\n")
        return
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in ("name", "kind", "package", "version", "status"):
        table.add_column(column, no_wrap=column != "status")
    for row in rows:
        # As written: an install hint's `rrr[gpu]` is not markup.
        table.add_row(*(escape(row[key]) for key in ("name", "kind", "package", "version", "status")))
    show(table)


command.__doc__ = help_text(command.__doc__)
