"""The shape of the code: no import cycle, the core's layers, small modules.

Read statically (ast), so a lazy import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {
    "src/runners_on_demand": "runners_on_demand",
    "simulator": "simulator",
    "steps": "steps",
}
# Modules of src/ may be a few hundred lines; none should pass this.
MAX_LINES = 400


def modules() -> dict[str, Path]:
    """Every module of src/, simulator/ and steps/ by dotted name."""
    found: dict[str, Path] = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [package, *path.relative_to(ROOT / folder).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imported(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The modules of `known` that `name` imports, anywhere in its text."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([node.module] if node.module else [])])
            submodules = [f"{base}.{alias.name}" for alias in node.names]
            named = [sub for sub in submodules if sub in known]
            # `from pkg import a, b`: the submodules when all are modules, else pkg itself too.
            yield from named if len(named) == len(submodules) else [base, *named]


def graph() -> dict[str, set[str]]:
    found = modules()
    known = set(found)
    return {
        name: {target for target in imported(name, path, known) if target in known} - {name}
        for name, path in found.items()
    }


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = [stack.pop()]
            while component[-1] != node:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


class TestImportGraph:
    def test_no_cycle_in_src_simulator_or_steps(self) -> None:
        assert cycles(graph()) == []

    def test_the_cycle_finder_finds_one(self) -> None:
        assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

    @pytest.mark.parametrize("port", ["ports.github", "ports.nomad", "ports.protocols"])
    def test_the_ports_import_no_reconciler_code(self, port: str) -> None:
        edges = graph()[f"runners_on_demand.{port}"]
        assert not [name for name in edges if name.startswith("runners_on_demand.reconcile")]

    def test_the_pure_core_makes_no_io(self) -> None:
        pure = ["decision", "delivery", "payload", "events", "names", "contract", "observed"]
        pure += ["tables", "nomad_acl", "runner_jobs"]
        pure += ["reconcile.model", "reconcile.units", "reconcile.plan", "reconcile.settings"]
        pure += ["listen.scope", "listen.settings", "listen.protocol", "listen.fleet"]
        pure += ["reconcile.stored", "reconcile.heard", "quiet_log"]
        io = {"httpx", "asyncio", "os", "socket", "time", "starlette", "uvicorn"}
        for name in pure:
            path = modules()[f"runners_on_demand.{name}"]
            tree = ast.parse(path.read_text(encoding="utf-8"))
            imports = {
                alias.name.partition(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.Import)
                for alias in node.names
            } | {
                (node.module or "").partition(".")[0]
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom)
            }
            assert not imports & io, f"{name} imports {imports & io}"


def test_no_module_in_src_is_long() -> None:
    long = {
        str(path.relative_to(ROOT)): lines
        for path in (ROOT / "src").rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
