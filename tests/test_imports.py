"""The package's import structure: every module imports on its own, and no module imports
(at module level or inside a function) another that imports it back, directly or round a cycle."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dlrun"


def module_names() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


def imports_of(module: str, source: str, known: set[str]) -> set[str]:
    """The dlrun modules `source` imports anywhere in its body (`from dlrun import x` counts as
    dlrun.x when x is a module); the package itself and the module's own packages are left out."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    parents = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
    return {name for name in found if name in known and name != module and name not in parents}


def import_graph() -> dict[str, set[str]]:
    known = set(module_names())
    graph = {}
    for name in known:
        path = SRC / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = SRC / name.replace(".", "/") / "__init__.py"
        graph[name] = imports_of(name, path.read_text(), known)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph` as a path a -> ... -> a, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    source = "from dlrun import b\ndef f():\n    from dlrun.c import x\n    import dlrun.d\n"
    assert imports_of("dlrun.a", source, {"dlrun", "dlrun.a", "dlrun.b", "dlrun.c", "dlrun.d"}) == {"dlrun.b", "dlrun.c", "dlrun.d"}


def test_the_import_graph_is_acyclic() -> None:
    graph = import_graph()
    assert {"dlrun.cli", "dlrun.launch", "dlrun.train", "dlrun.evaluate"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_every_module_imports_alone() -> None:
    """Each module in a clean slate of dlrun modules (third-party ones stay cached: one process);
    `dlrun.__main__` is left out: importing it runs the command."""
    names = [name for name in module_names() if name != "dlrun.__main__"]
    assert len(names) > 50
    code = (
        "import importlib, sys\n"
        f"names = {names!r}\n"
        "failed = []\n"
        "for name in names:\n"
        "    for loaded in [m for m in sys.modules if m == 'dlrun' or m.startswith('dlrun.')]:\n"
        "        del sys.modules[loaded]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as err:\n"
        "        failed.append(f'{name}: {type(err).__name__}: {err}')\n"
        "print('\\n'.join(failed))\n"
        "sys.exit(1 if failed else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(SRC)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
