"""The package's layers: every import (module-level or inside a function) points down or sideways
within a layer's own unit, never up, so the import graph between units has no cycle.

Lowest first; a unit is a subpackage of rrr_cli or a top-level module. `ranking` and `training`
stand side by side: both use the trained reranker's own module (`reranker`), neither imports the other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "rrr_cli"
LAYERS = [
    {"errors", "atomic", "ui", "__version__"},
    {"plugins"},
    {"records"},
    {"config"},
    {"models", "brackets", "pooled_states"},
    {"execution"},
    {"tasks", "generation"},
    {"metrics", "reranker"},
    {"ranking", "training"},
    {"evaluation"},
    {"selftrain"},
    {"commands"},
    {"cli", "__init__"},
    {"__main__"},
]
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> list[tuple[str, str, str]]:
    """(importing unit, imported unit, file:line) for every rrr_cli import in the package."""
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        source = _unit(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "rrr_cli":
                targets = [f"rrr_cli.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rrr_cli."):
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names if alias.name.startswith("rrr_cli.")]
            else:
                continue
            for target in targets:
                if _unit(target) != source:
                    found.append((source, _unit(target), f"{path.relative_to(ROOT.parent)}:{node.lineno}"))
    return found


def test_every_unit_has_a_layer():
    units = {_unit(".".join(p.relative_to(ROOT.parent).with_suffix("").parts)) for p in ROOT.rglob("*.py")}
    assert not units - set(LEVEL), f"give these a layer in tests/test_layers.py: {sorted(units - set(LEVEL))}"


def test_no_import_points_up_or_sideways():
    wrong = [f"{where}: {source} (layer {LEVEL[source]}) imports {target} (layer {LEVEL[target]})"
             for source, target, where in _imports()
             if source in LEVEL and target in LEVEL and LEVEL[target] >= LEVEL[source]]
    assert not wrong, "\n".join(wrong)
