"""What the code and infra tell a reader to go and read must exist: a README section (`README: Restore drill`,
`README "Networks"`) must be a heading of README.md, a docs page (`docs/restore-drill.md`) must exist, and a
section of it (`docs/deployment.md, "Networks"`, `docs/security.md#permissions`) must be one of its headings.

The README was split into docs/ pages: messages and comments that still sent readers to README sections
pointed at headings that were gone. Scanned: the messages (string constants, joined as Python joins them)
and comments of checks/, infra/, devtools/, bench/, function_app.py, the Makefile and the sample settings.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCANNED = [*sorted((ROOT / "checks").rglob("*.py")), *sorted((ROOT / "checks").rglob("*.html")),
           *sorted(p for p in (ROOT / "infra").rglob("*") if p.is_file()),
           *sorted((ROOT / "devtools").rglob("*.py")), *sorted((ROOT / "bench").rglob("*.py")),
           ROOT / "function_app.py", ROOT / "Makefile", ROOT / "local.settings.sample.json"]

# README, README.md, the README's; then `: Section` (unquoted) or a quoted "Section"
README_REF = re.compile(r"""README(?:\.md)?`?(?:'s)?(?P<sep>\s*[,:]\s*|\s+(?:section\s+)?)"""
                        r"""(?:"(?P<quoted>[^"\n]+)"|“(?P<curly>[^”\n]+)”|(?P<bare>[A-Z][\w'-]*(?: [\w'-]+)*))""")
DOCS_REF = re.compile(r"""docs/(?P<page>[\w./-]+?\.md)(?:#(?P<anchor>[\w-]+)|,\s*"(?P<section>[^"\n]+)")?""")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)


def headings(page: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # code blocks hold `# comments`
    return [h.strip() for h in HEADING.findall(text)]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def names_heading(name: str, page: Path) -> bool:
    """`name` is a heading of `page`, or the start of one ("Public mode" for "Public mode (opt-in: ...)")."""
    name = " ".join(name.split()).lower()
    return any(h.lower() == name or h.lower().startswith(name + " ") or h.lower().startswith(name + ":")
               for h in headings(page))


def broken_references(text: str) -> list[str]:
    """The references of `text` that lead nowhere, as written."""
    broken = []
    for m in README_REF.finditer(text):
        name = m["quoted"] or m["curly"] or (m["bare"] if ":" in m["sep"] else None)
        if name and not names_heading(name, ROOT / "README.md"):
            broken.append(m.group(0))
    for m in DOCS_REF.finditer(text):
        page = ROOT / "docs" / m["page"]
        if not page.is_file():
            broken.append(m.group(0))
        elif m["anchor"] and m["anchor"] not in {slug(h) for h in headings(page)}:
            broken.append(m.group(0))
        elif m["section"] and not names_heading(m["section"], page):
            broken.append(m.group(0))
    return broken


def texts_of(path: Path) -> list[str]:
    """The file's text (comments included) and, for Python, each string constant as Python joins it
    (a message split over two source lines is one constant)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".py":
        return [text]
    constants = [n.value for n in ast.walk(ast.parse(text)) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return [text, *constants]


def test_every_readme_or_docs_section_named_by_code_or_infra_exists():
    broken = {str(p.relative_to(ROOT)): sorted(set(bad)) for p in SCANNED if p.is_file()
              if (bad := [b for t in texts_of(p) for b in broken_references(t)])}
    assert broken == {}, "point readers at a docs/ page and one of its headings (README.md keeps only its own)"


def test_a_reference_to_a_section_that_is_gone_is_found():
    # the messages and comments as they were before the README split was followed through
    assert broken_references("add the firewall rule yourself (README: Restore drill).") == ["README: Restore drill"]
    assert broken_references("""on purpose (README "Networks").""") == ['README "Networks"']
    assert broken_references("""why: README, "Blob activity").""") == ['README, "Blob activity"']
    assert broken_references("""the policy unlocked; `README.md` "Deploy" locks it""") == ['README.md` "Deploy"']
    assert broken_references("""(docs/deployment.md, "Nowhere")""") == ['docs/deployment.md, "Nowhere"']
    assert broken_references("see docs/no-such-page.md") == ["docs/no-such-page.md"]
    assert broken_references("see docs/incident-restore.md#no-such-anchor") == ["docs/incident-restore.md#no-such-anchor"]
    # and what leads somewhere is left alone
    assert broken_references("""README, "Quick start"; the README's two commands; README: Documentation""") == []
    assert broken_references("""(docs/deployment.md, "Networks"), docs/restore-drill.md, """
                             """docs/incident-restore.md#permissions, docs/deployment.md, "Public mode\"""") == []
