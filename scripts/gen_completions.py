"""Regenerate completions/rrr.{bash,zsh,fish} from the CLI itself: python3 scripts/gen_completions.py"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHELLS = {"bash": "rrr.bash", "zsh": "_rrr", "fish": "rrr.fish"}


def generate(shell: str) -> str:
    """The completion script Typer generates for `shell` (it calls back into `rrr` at completion time)."""
    env = {**os.environ, "_RRR_COMPLETE": f"source_{shell}"}
    result = subprocess.run([sys.executable, "-c", "from rrr_cli.cli import main; main()"],
                            env=env, capture_output=True, text=True, check=True)
    return result.stdout


def main() -> None:
    for shell, name in SHELLS.items():
        (ROOT / "completions" / name).write_text(generate(shell))
        print(f"completions/{name}")


if __name__ == "__main__":
    main()
