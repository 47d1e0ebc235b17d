"""The `rrr` command line: a thin shell over the library. Each subcommand lives in rrr_cli/commands/."""

from __future__ import annotations

import errno
import importlib
import sys
import warnings

import typer

from rrr_cli import __version__
from rrr_cli.commands import eval as eval_command
from rrr_cli.commands import exec as exec_command
from rrr_cli.commands import models, plugins, rerank, rerankers, sample, selftrain, solve
from rrr_cli.commands import train_reranker
from rrr_cli.errors import RrrError
from rrr_cli.ui import error_line

app = typer.Typer(
    name="rrr",
    help="Reinforced re-ranking: sample several candidate programs from a small code model, run "
    "them, and pick the best with a learned reranker that trains itself.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rrr {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """rrr: small code models that write correct code."""


app.command("sample", no_args_is_help=True)(sample.command)
app.command("rerank")(rerank.command)
app.command("exec")(exec_command.command)
app.command("eval")(eval_command.command)
app.command("selftrain")(selftrain.command)
app.command("train-reranker", no_args_is_help=True)(train_reranker.command)
app.command("solve", no_args_is_help=True)(solve.command)
app.add_typer(models.app, name="models")
app.add_typer(rerankers.app, name="rerankers")
app.command("plugins")(plugins.command)


# Library chatter that says nothing to an rrr user: peft saving an adapter without the base model's
# config beside it (rrr records the base in its manifests), a transformers deprecation inside peft.
QUIET_WARNINGS = ("Could not find a config file in", "`is_gradient_checkpointing` is deprecated")


def main() -> None:
    for message in QUIET_WARNINGS:
        warnings.filterwarnings("ignore", message=message)
    try:
        # Without standalone mode Typer *returns* exit codes (130 for Ctrl-C) instead of raising them.
        code = app(prog_name="rrr", standalone_mode=False)
        if code == 130:
            error_line("interrupted")
        if isinstance(code, int) and code:
            sys.exit(code)
    except RrrError as exc:
        error_line(str(exc))
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        error_line("interrupted")
        sys.exit(130)
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `| head`); that is not an error.
        sys.stderr.close()
        sys.exit(0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        error_line("aborted")
        sys.exit(1)
    except OSError as exc:
        # The machine, not rrr: a full disk, a read-only or forbidden folder. The write that failed was
        # atomic (a temporary file beside the target), so what was there before is intact.
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        error_line(f"{where}{exc.strerror or errno.errorcode.get(exc.errno, 'I/O error')}")
        sys.exit(1)
    except Exception as exc:
        if isinstance(exc, _usage_errors()):  # carries its own message (or the usage box) and exit code
            exc.show()
            sys.exit(exc.exit_code)
        raise


# OSErrors that say something about the user's machine rather than a bug in rrr.
ENVIRONMENT_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EMFILE}


def _usage_errors() -> tuple[type[BaseException], ...]:
    """Click's usage-error base class, wherever this Typer takes click from: recent Typer releases vendor their
    own copy (`typer._click`), older ones raise the separate `click` package's classes."""
    found = []
    for module in ("typer._click.exceptions", "click.exceptions"):
        try:
            found.append(importlib.import_module(module).ClickException)
        except (ImportError, AttributeError):
            continue
    return tuple(found)
