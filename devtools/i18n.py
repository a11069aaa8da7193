"""Message catalogs: extract every user-visible string, update the .po files, compile the .mo files.

    python devtools/i18n.py extract    # print the message ids found (Python code, templates, check metadata)
    python devtools/i18n.py update     # merge new ids into checks/locale/<lang>/LC_MESSAGES/checks.po
    python devtools/i18n.py compile    # .po -> .mo (run by `make install`; .mo files are not committed)

Babel extracts `_()`, `N_()`, `msg()` and the counted `msgn()`/`_n()` calls from Python, `_()`/
`ngettext()`/`{% trans %}` from the Jinja2 templates, and (with the extractor below) the title, risk and
remediation of every `@check(...)`: check metadata is text a person reads too.
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "checks"
LOCALE_DIR = PACKAGE / "locale"
DOMAIN = "checks"
TRANSLATED = ("fr",)
KEYWORDS = {"_": None, "N_": None, "msg": None, "ngettext": (1, 2), "msgn": (1, 2), "_n": (1, 2),
            "tr_n": (1, 2), "N_n": (1, 2),
            # configuration errors (checks/engine/valueparse.py): the expected forms, translated where shown
            "invalid": None, "form": None, "form_n": (1, 2), "_pattern": (2,)}
METHOD_MAP = [
    ("**/templates/**.html", "jinja2"),
    ("**/templates/**.md", "jinja2"),
    ("**.py", "python"),
]
OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"},
           "**/templates/**.md": {"extensions": "jinja2.ext.i18n"}}
METADATA_FIELDS = ("title", "risk", "remediation")


def extract_check_metadata(fileobj, keywords, comment_tags, options) -> Iterator[tuple]:
    """Babel extractor: the literal title/risk/remediation keyword arguments of `check(...)` calls."""
    tree = ast.parse(fileobj.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "check":
            for keyword in node.keywords:
                if keyword.arg in METADATA_FIELDS and isinstance(keyword.value, ast.Constant) \
                        and isinstance(keyword.value.value, str):
                    yield keyword.value.lineno, None, keyword.value.value, [f"check {keyword.arg}"]


def extract():
    """A catalog of every message id in the package (Babel's extraction, no file written)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    sys.path.insert(0, str(ROOT))
    catalog = Catalog(project="medicapp-backup-verifier", domain=DOMAIN)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(PACKAGE), METHOD_MAP, OPTIONS, KEYWORDS, strip_comment_tags=True):
        catalog.add(message, None, [(f"checks/{filename}", lineno)], auto_comments=comments, context=context)
    for path in sorted(PACKAGE.rglob("*.py")):  # Babel runs one method per file: metadata separately
        with path.open("rb") as handle:
            for lineno, _, message, comments in extract_check_metadata(handle, KEYWORDS, [], {}):
                catalog.add(message, None, [(str(path.relative_to(ROOT)), lineno)], auto_comments=comments)
    return catalog


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(lang: str):
    from babel.messages.pofile import read_po
    with po_path(lang).open("rb") as handle:
        return read_po(handle, locale=lang, domain=DOMAIN)


def update() -> None:
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    template = extract()
    for lang in TRANSLATED:
        path = po_path(lang)
        catalog = read(lang) if path.exists() else Catalog(locale=lang, domain=DOMAIN)
        catalog.update(template, no_fuzzy_matching=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, omit_header=False, ignore_obsolete=True)
        missing = [m.id for m in catalog if m.id and untranslated(m)]
        print(f"{path.relative_to(ROOT)}: {len(catalog)} messages, {len(missing)} untranslated")


def untranslated(message) -> bool:
    """No translation yet (a counted message needs every plural form of the language)."""
    forms = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return not all(forms)


def compile_all() -> None:
    from babel.messages.mofile import write_mo

    for lang in TRANSLATED:
        catalog = read(lang)
        with po_path(lang).with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog)
        print(f"compiled {po_path(lang).with_suffix('.mo').relative_to(ROOT)}")


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "extract":
        for message in extract():
            if message.id:
                print(message.id if isinstance(message.id, str) else message.id[0])
    elif command == "update":
        update()
    elif command == "compile":
        compile_all()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
