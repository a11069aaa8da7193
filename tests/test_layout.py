"""The package layout is the architecture: these rules are read from the source with `ast`.

Lower parts: the subpackages of checks/ (engine, journal, connect, families, drill, report, restore,
and any new one). Faces: the modules directly in checks/ (cli, http_api, service, heartbeat,
drill_face, restore_cli...) and function_app.py. A new folder is a part and a new top-level module a
face without editing this test.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "checks"
REQUIRED_PARTS = ("engine", "journal", "connect", "families", "drill", "report")
REQUIRED_FACES = ("checks.cli", "checks.http_api", "checks.service", "checks.heartbeat", "function_app")
LOWER_PARTS = tuple(sorted(d.name for d in PACKAGE.iterdir() if (d / "__init__.py").is_file()))
FACES = tuple(sorted(f"checks.{f.stem}" for f in PACKAGE.glob("*.py")
                     if f.stem not in ("__init__", "__main__"))) + ("function_app",)
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 450


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
TREES = {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


def imports(tree: ast.AST, name: str) -> list[tuple[str, list[str]]]:
    """(module imported, names taken from it) for every import anywhere in the module (lazy ones too)."""
    out = []
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out.append((base, [alias.name for alias in node.names]))
    return out


def part_of(module: str) -> str | None:
    """'checks.families.blob' -> 'families'; a face or another top-level module -> its own name."""
    parts = module.split(".")
    if parts[0] == "function_app":
        return "function_app"
    if parts[0] != "checks" or len(parts) < 2:
        return None
    return parts[1]


def test_the_layout_has_the_expected_parts():
    assert set(REQUIRED_PARTS) <= set(LOWER_PARTS)
    assert set(REQUIRED_FACES) <= set(FACES)
    assert not set(LOWER_PARTS) & {part_of(f) for f in FACES}


@pytest.mark.parametrize("name", [m for m in MODULES if part_of(m) in LOWER_PARTS])
def test_lower_parts_never_import_the_faces(name):
    bad = [mod for mod, _ in imports(TREES[name], name)
           if any(mod == face or mod.startswith(face + ".") for face in FACES)]
    assert not bad, f"{name} imports face(s) {bad}"


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, tree in TREES.items():
        here = part_of(name)
        for mod, _ in imports(tree, name):
            there = part_of(mod)
            if here and there and there != here and (there in LOWER_PARTS or f"checks.{there}" in MODULES):
                graph.setdefault(here, set()).add(there)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycles_between_parts():
    assert find_cycle(import_graph()) is None, f"cycle between parts: {find_cycle(import_graph())}"


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("name", list(MODULES))
def test_no_function_over_60_lines(name):
    long = [f"{node.name} ({node.end_lineno - node.lineno + 1} lines, line {node.lineno})"
            for node in ast.walk(TREES[name]) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]
    assert not long, f"{name}: {long}"


@pytest.mark.parametrize("name", list(MODULES))
def test_no_module_over_450_lines(name):
    lines = len(MODULES[name].read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{name} has {lines} lines"


# The one deliberate exception: the change feed's Avro chunks are read with the Avro reader that
# azure-storage-blob ships (the preview azure-storage-blob-changefeed package imports the very same
# module). azure-storage-blob is pinned; tests/test_blob_activity.py reads real chunks through it.
SDK_PRIVATE_ALLOWED = {"checks.connect.changefeed": {"azure.storage.blob._shared.avro.avro_io",
                                                     "azure.storage.blob._shared.avro.datafile"}}


@pytest.mark.parametrize("name", list(MODULES))
def test_no_module_imports_another_modules_private_name(name):
    private = [f"{mod}.{n}" for mod, names in imports(TREES[name], name) if mod.startswith("checks")
               for n in names if n.startswith("_") and not n.startswith("__")]
    private += [f"{mod}" for mod, _ in imports(TREES[name], name)
                if any(part.startswith("_") and not part.startswith("__") for part in mod.split("."))
                and mod not in SDK_PRIVATE_ALLOWED.get(name, set())]
    assert not private, f"{name} imports private name(s) {private}"


def test_function_app_is_wiring_only():
    tree = ast.parse((ROOT / "function_app.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            assert node.end_lineno - node.lineno + 1 <= 8, f"function_app.{node.name} holds logic"
