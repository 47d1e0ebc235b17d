"""The shipped shell completion scripts are the ones the CLI generates now."""

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("gen_completions", ROOT / "scripts" / "gen_completions.py")
gen_completions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen_completions)


@pytest.mark.parametrize("shell,name", gen_completions.SHELLS.items())
def test_completion_script_is_current(shell, name):
    generated = gen_completions.generate(shell)
    assert "rrr" in generated and len(generated) > 100
    assert (ROOT / "completions" / name).read_text() == generated, \
        "completions are stale: run python3 scripts/gen_completions.py"
