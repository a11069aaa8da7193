"""Report outputs never land in git: pages and checklists hold data about patients' records.

`report --site` without DIR writes under reports/ (git-ignored), and every output the README's and
docs' examples write (`> FILE`, `--site [DIR]`) is ignored by .gitignore, checked with git itself.
"""
from __future__ import annotations

import io
import re
import shlex
import subprocess
from pathlib import Path

from checks.cli import DEFAULT_SITE_DIR, main

ROOT = Path(__file__).resolve().parent.parent


def documented_commands() -> list[str]:
    """Every `python -m checks ...` line of the README's and docs' code blocks and inline code."""
    commands = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = doc.read_text(encoding="utf-8")
        blocks = [re.sub(r"\\\n\s*", "", b) for b in re.findall(r"```[a-z]*\n(.*?)```", text, re.S)]
        lines = [line for block in blocks for line in block.splitlines()]
        lines += re.findall(r"(?<!`)`(python -m checks [^`\n]+)`", text)
        commands += [line.split(" #")[0].strip() for line in lines if "python -m checks" in line]
    return commands


def written_paths(command: str) -> list[str]:
    """The files a command writes, relative to where it runs: its `> FILE` and a page of its `--site [DIR]`."""
    line = re.sub(r"\s*\[[^\]]*\]", "", command)  # a synopsis' optional parts
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # an unbalanced quote in prose
        words = line.split()
    paths = []
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else ""
        if word in (">", ">>", "--out") and following:
            paths.append(following)
        elif word.startswith(">") and len(word) > 1:
            paths.append(word.lstrip(">"))
        elif word == "--site":
            folder = following if following and not following.startswith("-") else DEFAULT_SITE_DIR
            paths.append(str(Path(folder, "index.html")))
    return [p for p in paths if p not in ("DIR/index.html", "/dev/null")]  # a synopsis' placeholder


def test_every_report_output_of_the_docs_is_git_ignored():
    outputs = {path for command in documented_commands() for path in written_paths(command)}
    assert len(outputs) >= 3, outputs  # the README's examples: one page, a site, the default site
    assert str(Path(DEFAULT_SITE_DIR, "index.html")) in outputs  # the README shows `--site` without DIR
    tracked = [p for p in outputs if subprocess.run(["git", "check-ignore", "-q", "--no-index", p], cwd=ROOT).returncode]
    assert tracked == []  # `git add -A` would commit these


def test_site_without_dir_writes_under_reports(base_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    assert main(["report", "--site", "--month", "2026-11"], out=out, env=base_env) == 0
    index = tmp_path / "reports" / "site" / "index.html"
    assert index.is_file() and str(Path("reports", "site", "index.html")) in out.getvalue()
    assert subprocess.run(["git", "check-ignore", "-q", "--no-index", str(ROOT / "reports" / "site" / "index.html")],
                          cwd=ROOT).returncode == 0
