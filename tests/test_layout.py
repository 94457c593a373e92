"""The package's layout: imports point down the layers only, and no module imports itself back.

Every ``import`` and ``from ... import`` in ``dgtools/`` counts, whether it runs at import time, inside a
function or under ``TYPE_CHECKING``: a lazy import is still a dependency.  Each unit (a top-level
module or subpackage of ``dgtools``) may import only the units listed for it below; the modules
of one unit may import each other, but no chain of imports, across units or within one, may come
back to where it started.  A new top-level module or subpackage must be added here, with what it
may import: that is the moment to decide where it sits.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dgtools"

#: unit -> the units it may import, bottom (exceptions) to top (cli).
ALLOWED: dict[str, set[str]] = {
    "exceptions": set(),
    "_version": set(),
    "_aio": set(),
    "_lazy": set(),
    "_frames": set(),
    "_extras": {"exceptions"},
    "options": {"exceptions"},
    "pricing": {"exceptions", "options"},
    "audio": {"exceptions"},
    "tables": {"exceptions", "_version"},
    "analysis": {"tables", "_frames", "exceptions"},
    "io": {"tables", "analysis", "_frames", "exceptions", "_extras"},  # _extras: pysubs2 for to_ass
    "evaluate": {
        "tables",
        "analysis",
        "io",
        "pricing",
        "_frames",
        "exceptions",
        "_extras",
    },  # WER via jiwer; io: RTTM/STM references; pricing: compare_runs cost
    "plotting": {"analysis", "tables", "_frames", "exceptions"},
    "accessor": {"analysis", "io", "plotting", "tables", "_frames", "exceptions"},
    "widgets": {"plotting", "analysis", "io", "tables", "_frames", "_extras", "exceptions", "batch"},
    "api": {"options", "exceptions", "_extras", "_version"},
    "store": {"options", "tables", "exceptions"},
    "engines": {"api", "audio", "options", "exceptions", "_extras", "_lazy"},
    "server": {"engines", "options", "pricing", "_extras", "exceptions", "_version", "_lazy"},
    "batch": {
        "api",
        "manage",
        "store",
        "engines",
        "tables",
        "audio",
        "options",
        "pricing",
        "exceptions",
        "_extras",
        "_aio",
    },
    "callbacks": {"store", "tables", "exceptions", "_extras", "_aio"},  # the callback receiver
    "doctor": {"api", "options", "exceptions"},
    "manage": {"api", "exceptions"},  # the Manage API: projects, keys, tokens, requests, usage, balances
    "live": {
        "api",
        "batch",
        "server",
        "tables",
        "options",
        "audio",
        "engines",
        "exceptions",
        "_extras",
        "_aio",
    },
    "speech": {  # text to speech: the send loop of batch, the wire of api, the local server's voice offline
        "api",
        "batch",
        "live",
        "store",
        "server",
        "engines",
        "audio",
        "options",
        "pricing",
        "exceptions",
        "_extras",
        "_aio",
        "_lazy",
        "_version",
    },
    "cli": {
        "dgtools",
        "batch",
        "callbacks",
        "live",
        "speech",
        "store",
        "tables",
        "io",
        "plotting",
        "doctor",
        "manage",
        "server",
        "audio",
        "pricing",
        "options",
        "exceptions",
        "_version",
        "_extras",
    },
    "__main__": {"cli"},
    "dask": {  # dgtools.dask: Dask flattening (tables, store) and fan-out transcription (batch, api ...)
        "tables",
        "store",
        "batch",
        "api",
        "audio",
        "options",
        "pricing",
        "exceptions",
        "_extras",
        "_aio",
        "_lazy",
    },
    "spark": {
        "tables",
        "dask",
        "exceptions",
        "_extras",
    },  # dgtools.spark: mapInArrow over the tables' builder
    "dgtools": {  # the package's __init__: re-exports the public names, lazily
        "exceptions",
        "_version",
        "_lazy",
        "accessor",
        "api",
        "batch",
        "callbacks",
        "evaluate",
        "live",
        "manage",
        "speech",
        "tables",
        "options",
        "pricing",
        "store",
        "widgets",
    },
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(target: str) -> str | None:
    """The dgtools module an imported name lives in (the longest module prefix), or None if not dgtools'."""
    while target:
        if target in MODULES:
            return target
        target = target.rpartition(".")[0]
    return None


def _imports(module: str) -> Iterator[tuple[str, int]]:
    """``(imported dgtools module, line)`` for every import statement of ``module``."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found = _resolve(alias.name)
                if found:
                    yield found, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            if not (prefix == "dgtools" or prefix.startswith("dgtools.")):
                continue
            for alias in node.names:  # `from pkg import submodule` imports the submodule
                found = _resolve(f"{prefix}.{alias.name}") or _resolve(prefix)
                if found:
                    yield found, node.lineno


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


GRAPH = {m: sorted({t for t, _ in _imports(m) if t != m}) for m in MODULES}


def test_every_unit_has_a_place_in_the_layers() -> None:
    units = {_unit(m) for m in MODULES}
    assert sorted(units - set(ALLOWED)) == [], "add the new unit to ALLOWED, with what it may import"
    assert sorted(set(ALLOWED) - units) == [], "ALLOWED names a unit that no longer exists"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down_the_layers(module: str) -> None:
    unit = _unit(module)
    wrong = [
        f"{module}:{line} imports {target}"
        for target, line in _imports(module)
        if _unit(target) != unit and _unit(target) not in ALLOWED.get(unit, set())
    ]
    assert wrong == [], f"{unit} may import only {sorted(ALLOWED.get(unit, set()))}"


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, []):
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

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    # A package's __init__ re-exports its modules; a module importing its own package's __init__
    # would be a cycle through it, so such edges count like any other.
    assert _cycles(GRAPH) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_too_long(module: str) -> None:
    lines = MODULES[module].read_text(encoding="utf-8").count("\n")
    assert lines <= LONG_MODULES.get(module, 700), f"{module} has {lines} lines: split it by job"


#: Modules allowed past ~700 lines because one job needs them whole (README, "How the code is laid out").
LONG_MODULES: dict[str, int] = {}
