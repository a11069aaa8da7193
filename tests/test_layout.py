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


# Broad catches (`except Exception`, `except BaseException`, a bare `except:`, or a tuple holding
# one) by module:function, each with why it must be broad. Everything else catches by type
# (STYLE: SDK errors by azure.core.exceptions type, drivers by psycopg.Error, files by OSError): a
# new broad catch fails below until it is justified here. Each allowed one logs the traceback
# (redact.log_crash) or re-raises, but the logging filter, which cannot log its own failure.
BROAD_CATCHES_ALLOWED = {
    "checks.engine.runner:execute": "a check's crash (our bug) becomes an error result; the run goes on",
    "checks.http_api:_answer": "every route's last resort: a 500 JSON answer without internals",
    "checks.fleet_run:_verify_one": "one target's crash is that target's error; the other targets go on",
    "checks.journal.deviation_log:after_run": "a crash updating deviations is a note of the run, never a lost run",
    "checks.drill.slot:claimed": "frees the drill slot whatever stopped the start, then re-raises",
    "checks.engine.redact:RedactingFilter.filter": "logging must never fail; a filter cannot log itself",
}
BROAD_CATCHES_SILENT = {"checks.engine.redact:RedactingFilter.filter"}
BROAD = {"Exception", "BaseException"}


def broad_catches(tree: ast.AST, module: str) -> dict[str, list[ast.ExceptHandler]]:
    """{"module:Class.function": [handlers]} of every broad `except` (nested functions included)."""
    found: dict[str, list[ast.ExceptHandler]] = {}

    def is_broad(kind: ast.expr | None) -> bool:
        names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
        return kind is None or any(isinstance(n, ast.Name) and n.id in BROAD for n in names)

    def visit(node: ast.AST, where: list[str]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, where + [child.name])
                continue
            if isinstance(child, ast.ExceptHandler) and is_broad(child.type):
                found.setdefault(f"{module}:{'.'.join(where) or '<module>'}", []).append(child)
            visit(child, where)

    visit(tree, [])
    return found


def all_broad_catches() -> dict[str, list[ast.ExceptHandler]]:
    trees = dict(TREES, function_app=ast.parse((ROOT / "function_app.py").read_text()))
    return {where: handlers for name, tree in trees.items() for where, handlers in broad_catches(tree, name).items()}


def test_broad_catches_are_only_the_allowed_ones():
    found = all_broad_catches()
    assert set(found) == set(BROAD_CATCHES_ALLOWED), (
        f"new broad catch(es) {sorted(set(found) - set(BROAD_CATCHES_ALLOWED))}: catch by type, or justify it in "
        f"BROAD_CATCHES_ALLOWED; allowed but gone: {sorted(set(BROAD_CATCHES_ALLOWED) - set(found))}")
    assert all(len(handlers) == 1 for handlers in found.values()), found


def test_allowed_broad_catches_log_the_traceback_or_re_raise():
    for where, (handler,) in all_broad_catches().items():
        calls = {n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
                 for n in ast.walk(handler) if isinstance(n, ast.Call)}
        re_raises = any(isinstance(n, ast.Raise) and n.exc is None for n in ast.walk(handler))
        assert "log_crash" in calls or re_raises or where in BROAD_CATCHES_SILENT, where


def test_the_broad_catch_finder_finds_every_form():
    source = ("def a():\n    try: pass\n    except Exception: pass\n"
              "class B:\n    def m(self):\n        def inner():\n            try: pass\n"
              "            except (ValueError, BaseException): pass\n"
              "def c():\n    try: pass\n    except: pass\n"
              "def typed():\n    try: pass\n    except (ValueError, OSError): pass\n"
              "try: pass\nexcept Exception: pass\n")
    assert set(broad_catches(ast.parse(source), "m")) == {"m:a", "m:B.m.inner", "m:c", "m:<module>"}
