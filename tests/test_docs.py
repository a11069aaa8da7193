"""The documentation set: a short README that links to every docs/ page, and links that lead somewhere.

(The commands the docs show are run as printed by tests/test_stack.py, their report outputs checked by
tests/test_report_outputs.py; the settings and the on-call rights by tests/test_config.py,
tests/test_cli_polish.py and tests/test_permissions.py.)
"""
from __future__ import annotations

import ast
import contextlib
import fnmatch
import functools
import io
import re
import shlex
from pathlib import Path

from docs_text import DOCS, README, ROOT, doc_files

LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")


def prose(text: str) -> str:
    """The text outside code blocks and inline code: what a Markdown viewer renders as links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a page: lower case, punctuation dropped, spaces to hyphens,
    a repeated one numbered."""
    seen: dict[str, int] = {}
    found = set()
    for title in re.findall(r"^#{1,6} +(.+?) *$", prose_headings(text), re.M):
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").lower()).replace(" ", "-")
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def prose_headings(text: str) -> str:
    """The text outside code blocks, inline code kept (a heading's `code` is part of its anchor)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


def broken_links(path: Path) -> list[str]:
    broken = []
    for target in LINK.findall(prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z]+:", target):  # https:, mailto:: not ours to check offline
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if ROOT in dest.parents else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    return broken


def test_every_relative_link_of_readme_and_docs_resolves():
    broken = {str(path.relative_to(ROOT)): b for path in doc_files() if (b := broken_links(path))}
    assert broken == {}
    assert sum(len(LINK.findall(prose(p.read_text(encoding="utf-8")))) for p in doc_files()) >= 20  # links found


def test_broken_links_are_found(tmp_path):
    page = tmp_path / "page.md"
    (tmp_path / "other.md").write_text("# Other\n\n## Public mode (opt-in: `PUBLIC_MODE=true`)\n")
    page.write_text("[a](other.md) [b](other.md#public-mode-opt-in-public_modetrue) [c](missing.md)\n"
                    "[d](other.md#nowhere) [e](#here)\n\n## Here\n\n```\n[f](in-code.md)\n```\n")
    found = broken_links(page)
    assert len(found) == 2 and found[0].startswith("missing.md") and found[1].startswith("other.md#nowhere")


def test_readme_is_short_and_links_every_docs_page():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 80  # two screens
    linked = {(README.parent / target.partition("#")[0]).resolve() for target in LINK.findall(prose(text))}
    pages = sorted(DOCS.rglob("*.md"))
    assert len(pages) >= 15
    assert [str(p.relative_to(ROOT)) for p in pages if p.resolve() not in linked] == []


def test_readme_shows_the_two_commands_and_the_on_call_path():
    text = README.read_text(encoding="utf-8")
    assert "make demo" in text and "make test" in text
    on_call = text[text.index("## On call"):].split("\n## ", 1)[0]
    for step in ("restore postgres --point", "--apply --by", "restore status"):
        assert step in on_call, step


def test_check_catalogue_is_generated_from_the_registry():
    from checks.engine.controls import CONTROLS
    from checks.engine.registry import all_checks
    from devtools import catalogue
    text = (DOCS / "checks.md").read_text(encoding="utf-8")
    assert text == catalogue.render(), "docs/checks.md differs from the registry: run `python -m devtools.catalogue`"
    for spec in all_checks().values():  # the generator leaves none out
        entry = text[text.index(f"\n### {spec.id}\n"):].split("\n### ", 2)[1]
        assert spec.severity.value in entry and " ".join(spec.remediation.split()) in entry, spec.id
        row = next(line for line in text.splitlines() if line.startswith(f"| `{spec.id}` |"))
        assert spec.controls and all(f"`{c}`" in row.split(" | ")[-1] for c in spec.controls), spec.id  # controls column
        assert all(CONTROLS[c].reference in entry.split("**Controls**: ")[1] for c in spec.controls), spec.id


def shown(value) -> str:
    """A default as docs/configuration.md writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def setting_rows(text: str) -> dict[str, list[str]]:
    """name -> the cells of its row (default, form, meaning) in the settings table."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            for name in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", cells[0]):
                rows[name] = cells[1:]
    return rows


def default_disagreements(text: str) -> list[str]:
    from checks.engine.config import VARIABLES
    rows, wrong = setting_rows(text), []
    names = {var.name for _, var in VARIABLES}
    for _, var in VARIABLES:
        if var.name not in rows:
            continue  # tests/test_config.py requires every variable to have a row
        cells = rows[var.name]
        if len(cells) != 3 or not all(cells):
            wrong.append(f"{var.name}: expected | `NAME` | default | form | meaning |, got {cells}")
            continue
        literal = re.fullmatch(r"`([^`]*)`", cells[0])
        unset = var.default in (None, (), {}, "")
        if literal and literal.group(1) not in names and literal.group(1) != shown(var.default):
            wrong.append(f"{var.name}: documented default {cells[0]}, the code's is {shown(var.default)!r}")
        elif cells[0] == "–" and not unset:
            wrong.append(f"{var.name}: documented without default, the code's is {shown(var.default)!r}")
        elif literal and unset and literal.group(1) not in names:
            wrong.append(f"{var.name}: documented default {cells[0]}, the code has none")
    return wrong


def test_configuration_page_gives_the_codes_default_and_a_form_for_every_setting():
    assert default_disagreements((DOCS / "configuration.md").read_text(encoding="utf-8")) == []


def test_a_documented_default_that_differs_from_the_code_is_found():
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    changed = text.replace("| `BLOB_LIST_CAP` | `5000` |", "| `BLOB_LIST_CAP` | `500` |")
    changed = changed.replace("| `LTR_MAX_AGE_DAYS` | `35` |", "| `LTR_MAX_AGE_DAYS` | – |")
    assert changed != text
    assert [w.split(":")[0] for w in default_disagreements(changed)] == ["LTR_MAX_AGE_DAYS", "BLOB_LIST_CAP"]


@functools.lru_cache(maxsize=None)
def functions_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}


def unknown_tests(cell: str) -> list[str]:
    """The names in a faults row's test cell (`test_file :: test_a, test_b`; a file alone; a glob `test_blob_*`)
    that are neither a test file nor a function of the file named before them."""
    unknown, current = [], None
    for token, marker in re.findall(r"(test_[\w*]+)(?:\.py)?(\s*::)?", cell):
        files = sorted((ROOT / "tests").glob(f"{token}.py"))
        if marker:
            current = files[0] if len(files) == 1 else None
            unknown += [] if current else [f"{token} (no such test file)"]
        elif not (current and fnmatch.filter(functions_of(current), token)) and not files:
            unknown.append(f"{current.stem} :: {token}" if current else f"{token} (no such test file)")
    return unknown


def fault_rows(text: str) -> list[list[str]]:
    rows = [line.strip().strip("|").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    return [cells for cells in rows if cells[0].strip() != "fault or bad input"]


def test_every_test_the_faults_table_names_exists():
    rows = fault_rows((DOCS / "faults.md").read_text(encoding="utf-8"))
    assert len(rows) >= 100 and all(len(cells) >= 3 for cells in rows)
    unknown = {cells[0][:80]: bad for cells in rows if (bad := unknown_tests(cells[-1]))}
    assert unknown == {}


def test_a_faults_row_naming_a_missing_test_is_found():
    assert unknown_tests("test_docs :: test_a_faults_row_naming_a_missing_test_is_found, test_docs") == []
    assert unknown_tests("test_runner, test_blob_* ; test_docs :: test_readme_*") == []
    assert unknown_tests("test_docs :: test_no_such_thing; test_nowhere :: test_x") == [
        "test_docs :: test_no_such_thing", "test_nowhere (no such test file)", "test_x (no such test file)"]


# placeholders of the docs' synopses, given a value the parser takes; a synopsis with `...`, `<...>` or VERB
# stands for many commands and is left out
PLACEHOLDERS = {"M": "2026-11", "ID": "20261126T092114Z-3f9a1c", "NAME": "medicapp-db", "DIR": "reports/site",
                "N": "3", "FILE": "local.settings.json", "TEXT": "why", "RG": "rg-medicapp"}


def parsed_commands(lines: list[str]) -> list[list[str]]:
    """The argument lists of documented `python -m checks ...` lines, each `a|b` alternative spelled out."""
    commands = []
    for line in lines:
        line = re.sub(r"^\$ ", "", line.strip())
        if not line.startswith("python -m checks") or re.search(r"\.\.\.|<|\bVERB\b", line):
            continue
        line = re.split(r" \| | >>? ?| #", re.sub(r"\s*\[[^\]]*\]", "", line))[0]
        words = [PLACEHOLDERS.get(w, w) for w in shlex.split(line)[3:]]
        choices = [i for i, w in enumerate(words) if re.fullmatch(r"[a-z]+(\|[a-z]+)+", w)]
        variants = [words]
        for i in choices:
            variants = [v[:i] + [alt] + v[i + 1:] for v in variants for alt in v[i].split("|")]
        commands += variants
    return commands


def parse_errors(commands: list[list[str]]) -> list[str]:
    from checks.cli import build_parser
    errors = []
    for words in commands:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                build_parser().parse_args(words)
            except SystemExit as stop:
                if stop.code:
                    errors.append(f"python -m checks {' '.join(words)}: {err.getvalue().strip().splitlines()[-1]}")
    return errors


def test_every_documented_command_is_what_the_cli_parses():
    """Prose and code blocks alike (tests/test_stack.py runs the code blocks' commands on a real stack):
    a verb, flag or value the CLI does not take is found here."""
    from test_report_outputs import documented_commands
    commands = parsed_commands(documented_commands())
    assert len(commands) >= 50
    assert parse_errors(commands) == []


def test_a_documented_command_the_cli_does_not_take_is_found():
    commands = parsed_commands(["python -m checks drill start|stop", "python -m checks run --check-all",
                                "$ python -m checks journal --month M  # fine", "python -m checks restore ..."])
    assert [" ".join(c) for c in commands] == ["drill start", "drill stop", "run --check-all", "journal --month 2026-11"]
    errors = parse_errors(commands)
    assert len(errors) == 2 and "drill stop" in errors[0] and "--check-all" in errors[1]
