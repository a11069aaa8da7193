"""The documentation set, for the tests that check it against the code: README.md (short: what the tool is,
the two commands, the on-call path, links) and the pages under docs/ it links to."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"


def doc_files() -> list[Path]:
    """README.md first, then every page under docs/, sorted."""
    return [README, *sorted(DOCS.rglob("*.md"))]


def page(name: str) -> str:
    """The text of one docs/ page, e.g. page("incident-restore")."""
    return (DOCS / f"{name}.md").read_text(encoding="utf-8")


def all_text() -> str:
    """README.md and every docs/ page, joined: for what must be documented somewhere."""
    return "\n\n".join(path.read_text(encoding="utf-8") for path in doc_files())


def section(text: str, title: str, level: int = 2) -> str:
    """The section of `text` under the heading `title` at `level` (`## Title` for 2), up to the next heading
    of that level or above; headings inside code blocks (a shell comment) do not count. ValueError when
    there is none."""
    lines, fence, start = text.split("\n"), False, None
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fence = not fence
        heading = not fence and line.startswith("#") and line.split(" ", 1)[0].strip("#") == ""
        depth = len(line.split(" ", 1)[0]) if heading else 0
        if start is None and heading and depth == level and line[depth + 1:] == title:
            start = i
        elif start is not None and heading and depth <= level:
            return "\n".join(lines[start:i])
    if start is None:
        raise ValueError(f"no heading {'#' * level} {title}")
    return "\n".join(lines[start:])
