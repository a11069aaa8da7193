"""Every literal text given to a translation function is in the extracted catalog.

Babel's Python extractor (devtools/i18n.py extract) does not see a `_()`/`msg()` call nested inside
another translation call's arguments, nor one inside an f-string, nor a call of a translating function
it has no keyword for (`tr(...)` called by its own name, a translator's `.gettext(...)`): such a text has
no catalog entry, so no French, and stays English in French output without any test noticing. This test
reads every module of checks/ with `ast`, finds every call of a translation function (by its name, or by
the local name it was imported under from checks.engine.i18n) whose message id is a literal, and checks
that id against the catalog Babel extracts: whatever form hides a call from Babel, it is named here.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from devtools import i18n as catalog_tools  # noqa: E402

MODULES = sorted((ROOT / "checks").rglob("*.py"))
I18N_MODULES = {"checks.engine.i18n", "checks.engine.valueparse"}
# which argument is the message id, for every translating function (Babel's keywords and checks/engine/i18n.py's
# own names, which a module may call directly or import under another name)
MSGID_ARG = {name: (spec[-1] - 1 if spec and len(spec) == 1 else 0) for name, spec in catalog_tools.KEYWORDS.items()}
MSGID_ARG.update({"tr": 0, "gettext": 0, "ngettext": 0})


def literal(node: ast.AST) -> str | None:
    """A message id written as a literal: a string, or literal strings joined with `+`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = literal(node.left), literal(node.right)
        return left + right if left is not None and right is not None else None
    return None


def local_names(tree: ast.AST) -> dict[str, str]:
    """Local name -> translating function: the functions' own names, plus `import ... as` aliases."""
    names = {name: name for name in MSGID_ARG}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in I18N_MODULES:
            for alias in node.names:
                if alias.name in MSGID_ARG:
                    names[alias.asname or alias.name] = alias.name
    return names


def translation_calls(path: Path) -> list[tuple[int, str, str]]:
    """(line, function as written, literal message id) of every translating call in a module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = local_names(tree)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        written = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        if isinstance(func, ast.Attribute) and written not in ("gettext", "ngettext"):
            continue  # a method is a translator's only for gettext/ngettext (t.gettext(...))
        function = names.get(written or "")
        if function is None:
            continue
        position = MSGID_ARG[function]
        if len(node.args) > position:
            text = literal(node.args[position])
            if text is not None and text:
                out.append((node.lineno, node.col_offset, written, text))
    return [(line, written, text) for line, _, written, text in sorted(out)]


@pytest.fixture(scope="module")
def catalog():
    return catalog_tools.extract()


def test_every_literal_message_id_is_in_the_extracted_catalog(catalog):
    missing = []
    for path in MODULES:
        for line, written, text in translation_calls(path):
            if catalog.get(text) is None:
                missing.append(f"{path.relative_to(ROOT)}:{line}: {written}({text!r})")
    assert not missing, "texts Babel does not extract (nested in another translation call, inside an f-string, " \
                        "or a function it has no keyword for): they stay English in French output:\n" + \
                        "\n".join(missing)


def test_the_scan_sees_the_forms_babel_misses(tmp_path):
    """The walker itself: a nested call, one inside an f-string, `tr` by its own name and an alias."""
    module = tmp_path / "sample.py"
    module.write_text("from checks.engine.i18n import tr as _, msg as m\n"
                      "a = _('outer {x}', x=_('nested'))\n"
                      "b = f\"{m('in an f-string')}\"\n"
                      "c = tr('called by its own name')\n"
                      "d = t.gettext('by a translator') + other.get('not one')\n", encoding="utf-8")
    assert [(w, t) for _, w, t in translation_calls(module)] == [
        ("_", "outer {x}"), ("_", "nested"), ("m", "in an f-string"), ("tr", "called by its own name"),
        ("gettext", "by a translator")]
