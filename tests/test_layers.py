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


# --- imports between modules, inside every subpackage too ---------------------------------------------
# The layers above order units; inside a unit, its modules must not import each other in a circle either
# (a module-level import circle only works by import order, and a function-local one hides it).

def _module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at module level or inside a function. `from pkg import
    name` counts as an import of `pkg.name` where that is a module, else of `pkg` (its `__init__`)."""
    files = {_module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {module: set() for module in files}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                    source = f"{base}.{node.module}" if node.module else base
                else:
                    source = node.module or ""
                targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in files else source
                           for alias in node.names]
            else:
                continue
            graph[module].update(target for target in targets if target in files and target != module)
    return graph


def circles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other, directly or not (strongly connected, 2 or more,
    or one that imports itself)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(start: str) -> None:  # Tarjan's algorithm, without recursion
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            target = next(edges, None)
            if target is not None:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1 or node in graph.get(node, ()):
                    groups.append(group)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One import circle `a -> b -> ... -> a` per group of `circles`: the shortest from its first module."""
    cycles = []
    for group in circles(graph):  # the shortest way round from the group's first module back to it
        first = min(group)
        routes, queue, cycle = {first: [first]}, [first], None
        while cycle is None:
            node = queue.pop(0)
            for target in sorted(graph.get(node, set()) & group):
                if target == first:
                    cycle = [*routes[node], first]
                    break
                if target not in routes:
                    routes[target] = [*routes[node], target]
                    queue.append(target)
        cycles.append(cycle)
    return sorted(cycles)


def test_no_import_circle_between_modules():
    graph = module_graph()
    found = [f"{' -> '.join(cycle)} (the circle's modules: {', '.join(sorted(group))})"
             for cycle, group in zip(find_cycles(graph), sorted(circles(graph), key=min))]
    assert not found, "import circles (module-level or inside a function):\n" + "\n".join(found)


def test_the_circle_finder_finds_a_circle_it_is_given(tmp_path):
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []
    # A package written to disk: `low` imports `high` only inside a function, which still counts.
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub.high import top\n")
    (package / "sub" / "low.py").write_text("def bottom():\n    from pkg.sub import high\n    return high\n")
    (package / "sub" / "high.py").write_text("from .low import bottom\n\ndef top():\n    return bottom()\n")
    (package / "sub" / "side.py").write_text("import pkg.sub.low\n")
    graph = module_graph(package)
    assert graph["pkg.sub.high"] == {"pkg.sub.low"} and graph["pkg.sub.low"] == {"pkg.sub.high"}
    assert graph["pkg.sub"] == {"pkg.sub.high"} and graph["pkg.sub.side"] == {"pkg.sub.low"}
    assert find_cycles(graph) == [["pkg.sub.high", "pkg.sub.low", "pkg.sub.high"]]
    (package / "sub" / "low.py").write_text("def bottom():\n    return 1\n")
    assert find_cycles(module_graph(package)) == []


def test_the_scorer_protocol_is_the_bottom_of_ranking():
    graph = module_graph()
    assert not {m for m in graph["rrr_cli.ranking.base"] if m.startswith("rrr_cli.ranking")}
    assert not {m for m in graph if m.startswith("rrr_cli.ranking.") and "rrr_cli.ranking.registry" in graph[m]
                and m != "rrr_cli.ranking.rerank"}, "only `rerank` builds on the registry"
