"""The house (DESIGN.md): every lstmkit module imports only from rows below its own, and no
modules import each other in a circle.

The imports are read from the source with `ast`: top-level imports and those inside functions
alike (a lazy import is still a dependency); only imports under `if TYPE_CHECKING:` are left
out, since they never run. ROWS below assigns each module to its row of docs/ARCHITECTURE.md's
table; when a module moves or is renamed, edit ROWS (the test names any module it cannot place).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "lstmkit"

# Lowest row first. Each row holds groups; a group lists module names, a name ending in ".*"
# standing for a module or package and everything under it ("lstmkit.training.*" holds
# lstmkit/training.py today and a lstmkit/training/ package's modules alike). A module may import a lower row's modules and,
# without a cycle, its own group's. Groups of one row are side by side: none imports another's
# (ops and data; the task models).
ROWS: list[dict[str, list[str]]] = [
    {"leaves": ["lstmkit._version", "lstmkit.checks", "lstmkit.schema", "lstmkit.keras_names",
                "lstmkit.atomic"]},
    {"ops": ["lstmkit.ops.*"],
     "data": ["lstmkit.data", "lstmkit.storage", "lstmkit.sequences", "lstmkit.classification",
              "lstmkit.ucr", "lstmkit.datasets.*", "lstmkit.tokenizers", "lstmkit.utils"]},
    {"files": ["lstmkit.saving"]},
    {"layers": ["lstmkit.layers"]},
    {"training": ["lstmkit.training.*", "lstmkit.callbacks", "lstmkit.distributed", "lstmkit.inference",
                  "lstmkit.losses", "lstmkit.metrics", "lstmkit.optimizers"]},
    {"model": ["lstmkit.models", "lstmkit.model_inputs", "lstmkit.trace", "lstmkit.onnx_export",
               "lstmkit.keras_import"]},
    {"forecast": ["lstmkit.forecast.*"], "classify": ["lstmkit.classify.*"], "seq2seq": ["lstmkit.seq2seq"],
     "text": ["lstmkit.text"], "sklearn": ["lstmkit.sklearn"], "package": ["lstmkit"]},
    {"figures": ["lstmkit.plot", "lstmkit.report"]},
    {"command line": ["lstmkit.cli", "lstmkit.cli_classify", "lstmkit.demo", "lstmkit.bench",
                      "lstmkit.warmup", "lstmkit.__main__"]},
]

# Imports against the rows that remain in files another change owns, each with where it is
# mended. The test fails when one of these is gone, so the list only shrinks.
KNOWN_DEBTS: set[tuple[str, str]] = set()


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _skips_type_checking(tree: ast.AST) -> list[ast.AST]:
    """The import nodes of `tree`, outside `if TYPE_CHECKING:` blocks."""
    found: list[ast.AST] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """{module: the lstmkit modules it imports}, over every .py file under `root`."""
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _skips_type_checking(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
                continue
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:  # `from lstmkit import plot` imports the module lstmkit.plot
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def place(module: str, rows: list[dict[str, list[str]]] = ROWS) -> tuple[int, str]:
    """(row number, group) of `module`: the most specific entry of `rows` that names it."""
    best: tuple[int, int, str] | None = None
    for level, groups in enumerate(rows):
        for group, names in groups.items():
            for entry in names:
                prefix = entry[:-2] if entry.endswith(".*") else entry
                if module == prefix or (entry.endswith(".*") and module.startswith(prefix + ".")):
                    if best is None or len(prefix) > best[0]:
                        best = (len(prefix), level, group)
    if best is None:
        raise LookupError(f"module {module} has no row: add it to ROWS in tests/test_layering.py")
    return best[1], best[2]


def violations(graph: dict[str, set[str]], rows: list[dict[str, list[str]]] = ROWS) -> list[str]:
    """Each import that points up a row or sideways into another group, and each import cycle."""
    found = []
    for module in sorted(graph):
        level, group = place(module, rows)
        for target in sorted(graph[module]):
            target_level, target_group = place(target, rows)
            if target_level > level:
                found.append(f"{module} ({group}) imports {target} ({target_group}), a higher row")
            elif target_level == level and target_group != group:
                found.append(f"{module} ({group}) imports {target} ({target_group}), a group beside its own")
    found += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_one_cycle(graph, set(component)) for component in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A path from the component's first module back to itself, inside the component."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for target in sorted(graph[node] & component):
            if target == start:
                return paths[node] + [start]
            if target not in paths:
                paths[target] = paths[node] + [target]
                frontier.append(target)
    raise AssertionError("a strongly connected component always holds a cycle")


def test_every_module_has_a_row():
    graph = import_graph()
    places = {module: place(module) for module in graph}  # raises LookupError naming a module without one
    assert len(graph) > 50 and places["lstmkit.training.loop"][1] == "training"
    assert places["lstmkit.ops.gatemath"][1] == "ops" and places["lstmkit.warmup"][1] == "command line"


def test_imports_point_down_without_cycles():
    graph = import_graph()
    found = violations(graph)
    remaining = [v for v in found if not any(f"{a} (" in v and f"imports {b} (" in v for a, b in KNOWN_DEBTS)]
    assert remaining == []
    for module, target in KNOWN_DEBTS:
        assert target in graph[module], f"{module} no longer imports {target}: remove it from KNOWN_DEBTS"


def test_the_task_models_load_matplotlib_only_when_a_figure_is_drawn():
    """Forecaster.plot and SequenceClassifier.plot draw with figure modules of their own rows
    (forecast/figures.py, classify/figures.py), which load matplotlib when first called."""
    code = ("import sys, lstmkit, lstmkit.forecast, lstmkit.classify, lstmkit.seq2seq, lstmkit.text\n"
            "print('matplotlib' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False"]


def test_the_walk_sees_lazy_relative_and_from_package_imports(tmp_path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("from pkg.low import helper\n")
    (package / "low.py").write_text("def helper():\n    from pkg import high  # lazy, upward\n")
    (package / "high.py").write_text("from .sub import leaf\nimport pkg.low\n")
    (package / "sub" / "__init__.py").write_text("")
    (package / "sub" / "leaf.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high import x\nfrom .. import low\n"
    )
    graph = import_graph(package)
    assert graph == {
        "pkg": {"pkg.low"},
        "pkg.low": {"pkg.high"},
        "pkg.high": {"pkg.sub.leaf", "pkg.low"},
        "pkg.sub": set(),
        "pkg.sub.leaf": {"pkg.low"},  # the TYPE_CHECKING import is not counted
    }


def test_an_upward_import_a_sideways_import_and_a_cycle_are_each_found():
    rows = [{"bottom": ["pkg.low"], "side": ["pkg.side"]}, {"top": ["pkg.high", "pkg.top.*"]}]
    assert place("pkg.top.deep", rows) == (1, "top")
    assert violations({"pkg.high": {"pkg.low"}, "pkg.low": set(), "pkg.side": set()}, rows) == []
    assert violations({"pkg.low": {"pkg.high"}, "pkg.high": set()}, rows) == [
        "pkg.low (bottom) imports pkg.high (top), a higher row"
    ]
    assert violations({"pkg.low": {"pkg.side"}, "pkg.side": set()}, rows) == [
        "pkg.low (bottom) imports pkg.side (side), a group beside its own"
    ]
    loop = {"pkg.high": {"pkg.top.a"}, "pkg.top.a": {"pkg.top.b"}, "pkg.top.b": {"pkg.high"}}
    assert violations(loop, rows) == ["import cycle: pkg.high -> pkg.top.a -> pkg.top.b -> pkg.high"]
    with pytest.raises(LookupError, match="pkg.nowhere has no row"):
        place("pkg.nowhere", rows)
