"""The import contract: layers import only downward, only the runtime (and the Ray Data
integration) imports ray, and no two modules import each other, directly or around a loop.

Read from the source (every import statement, at module level or inside a function, except
those under ``if TYPE_CHECKING:``), so a lazy import counts as much as an eager one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "raypachy"

#: Lower ranks are imported by higher ones, never the other way round. Packages of one rank
#: stay out of each other (rank 0, the shared leaves, may use each other).
RANKS = {
    "errors": 0, "_version": 0, "limits": 0, "secrets": 0, "_private": 0, "_procs": 0, "tls": 0,
    "storage": 1,
    "pfs": 2,
    "pps": 3,
    "pachd": 4,
    "runtime": 5,
    "server": 6, "client": 6,  # front doors over pachd, and the API over HTTP
    "fs": 7, "deploy": 7,
    "data": 8,  # Ray Data over fsspec and the client
    "cli": 9,
    "": 10,  # raypachy/__init__.py: the lazy public names
}  # fmt: skip

#: Who may import ray: what runs on Ray (and Ray Data's datasources).
RAY_USERS = {"runtime", "data"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) for each import outside ``if TYPE_CHECKING:``."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")
                if path.name != "__init__.py":
                    package.pop()
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in MODULES else base), node.lineno


GRAPH = {m: sorted(set(_imports(m))) for m in MODULES}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_package_has_a_rank() -> None:
    assert {_layer(m) for m in MODULES} <= set(RANKS), set(map(_layer, MODULES)) - set(RANKS)


def test_layers_import_only_downward() -> None:
    wrong = []
    for module, imports in GRAPH.items():
        for target, line in imports:
            if target.split(".")[0] != "raypachy" or target == "raypachy._version":
                continue
            if target == "raypachy" and module != "raypachy":
                target = "raypachy._version"  # `from raypachy import __version__`
            mine, theirs = _layer(module), _layer(target)
            if mine != theirs and RANKS[theirs] >= RANKS[mine] and RANKS[mine] > 0:
                wrong.append(f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_only_the_runtime_and_ray_data_import_ray() -> None:
    wrong = [
        f"{MODULES[module].relative_to(PACKAGE.parent)}:{line} {target}"
        for module, imports in GRAPH.items()
        for target, line in imports
        if target.split(".")[0] == "ray" and _layer(module) not in RAY_USERS
    ]
    assert not wrong, "ray imported outside the runtime:\n" + "\n".join(wrong)


def _cycles() -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w, _ in GRAPH[v]:
            if w not in GRAPH:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_between_modules() -> None:
    assert _cycles() == []


def test_the_checks_see_a_cycle_and_an_upward_import() -> None:
    """The contract above is only as good as its reading of imports: it must see these."""
    assert any(t == "raypachy.pachd.verbs" for t, _ in GRAPH["raypachy.runtime.actors"])
    lazy = [t for t, _ in GRAPH["raypachy.runtime.controller"] if t == "raypachy.pps.worker"]
    assert lazy, "a function-level import is read too"
    GRAPH["raypachy.storage"] = [*GRAPH["raypachy.storage"], ("raypachy.pps.model", 1)]
    GRAPH["raypachy.pps.model"] = [*GRAPH["raypachy.pps.model"], ("raypachy.storage", 1)]
    try:
        assert ["raypachy.pps.model", "raypachy.storage"] in _cycles()
        try:
            test_layers_import_only_downward()
        except AssertionError as e:
            assert "raypachy.pps" in str(e)
        else:
            raise AssertionError("an upward import went unnoticed")
    finally:
        GRAPH["raypachy.storage"] = GRAPH["raypachy.storage"][:-1]
        GRAPH["raypachy.pps.model"] = GRAPH["raypachy.pps.model"][:-1]
