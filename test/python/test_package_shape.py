"""The package's shape (issue 19): no import cycle, imports at module top, no private name used outside its module,
and the PlatformIO hook's module loads no numpy (its no-change path must stay about 1 ms).

The graph is built from the source with ``ast``, every ``import`` counted wherever it is written (a function-level
import is still a dependency), so a cycle cannot hide behind a late import.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "scripts" / "tinygmm"

# Imports allowed inside functions: each keeps numpy/sklearn/pandas (or matplotlib) off a light path.
LATE_IMPORTS_ALLOWED = {
    # `import tinygmm` stays light (the PlatformIO hook imports the package): export_model is loaded on first use
    ("tinygmm", "tinygmm.export.api"),
    # the report's modules import matplotlib and plotly, the optional tinygmm[report] extra: `tinygmm report`
    # checks they are installed first, so that the other commands work without them
    ("tinygmm.cli.report", "tinygmm.report.build"),
    ("tinygmm.cli.report", "tinygmm.report.source"),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    base = importer.split(".") if is_package else importer.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def type_only(tree: ast.Module) -> set[int]:
    """The import nodes under a top-level ``if TYPE_CHECKING:`` (annotations only, never run)."""
    return {
        id(m)
        for n in tree.body
        if isinstance(n, ast.If) and isinstance(n.test, ast.Name) and n.test.id == "TYPE_CHECKING"
        for m in ast.walk(n)
    }


def imports(name: str, path: Path, known: dict[str, Path]) -> list[tuple[str, bool, str]]:
    """(imported module, at module top?, name imported) for every run-time import of a tinygmm module."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    skip = type_only(tree)
    found = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and not (node.module or "").startswith("tinygmm"):
                continue
            target = resolve(name, path.name == "__init__.py", node) if node.level else node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub if sub in known else target, id(node) in top, alias.name))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tinygmm"):
                    found.append((alias.name, id(node) in top, ""))
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    return {
        name: {target for target, _, _ in imports(name, path, known) if target != name} for name, path in known.items()
    }


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_import_graph_is_acyclic():
    edges = graph()
    assert len(edges) > 30 and all(t.startswith("tinygmm") for ts in edges.values() for t in ts)
    assert find_cycle(edges) is None, " -> ".join(find_cycle(edges) or [])


def test_the_cycle_finder_finds_a_cycle():
    """The check above can fail: a two-module loop and a longer one are found."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_imports_are_at_module_top_except_the_listed_light_paths():
    known = modules()
    late = {
        (name, target) for name, path in known.items() for target, at_top, _ in imports(name, path, known) if not at_top
    }
    assert late <= LATE_IMPORTS_ALLOWED, sorted(late - LATE_IMPORTS_ALLOWED)


def test_no_private_name_is_used_outside_its_module():
    known = modules()
    used = []
    for name, path in known.items():
        for target, _, imported in imports(name, path, known):
            if imported.startswith("_") and not imported.startswith("__"):
                used.append(f"{name} imports {target}.{imported}")
        tree = ast.parse(path.read_text())
        aliases = _module_aliases(tree)
        for node in ast.walk(tree):
            # module.attr where module is an imported tinygmm module alias: `D._decode`
            if (
                isinstance(node, ast.Attribute)
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                used.append(f"{name} uses {aliases[node.value.id]}.{node.attr}")
    assert used == [], used


def _module_aliases(tree: ast.Module) -> dict[str, str]:
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("tinygmm")):
            for alias in node.names:
                out[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tinygmm"):
                    out[alias.asname or alias.name] = alias.name
    return {k: v for k, v in out.items() if v.islower()}


def test_importing_the_hook_loads_no_numpy():
    """The hook's no-change path (about 1 ms) must not pay for numpy, scikit-learn or pandas."""
    code = (
        "import sys, tinygmm.platformio.hook\n"
        "heavy = sorted(m for m in ('numpy', 'sklearn', 'pandas', 'scipy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_hook_check_can_fail():
    """The same probe sees numpy when a module does import it."""
    code = "import sys, tinygmm.fit.sweep\nprint('numpy' in sys.modules)\n"
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
