"""`make demo` and `make demo FLEET=2` as a new user sees them: the pages the demo prints open in
Chromium and every link of every page reachable from them leads to a page the demo wrote.

The demo runs as `make demo` runs it (devtools/demo.py, its own throwaway PostgreSQL and Azurite),
with `--output` pointing into the test's folder instead of demo-output/.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from test_pages_browser import CHROMIUM, Watched, browser  # noqa: F401  (the module's browser fixture)
from test_stack import ROOT, user_env

pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not __import__("os").environ.get("CI"),
    reason=f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run installs it)")]


def run_demo(folder: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "devtools" / "demo.py"), "--output", str(folder), *args],
                          cwd=ROOT, env=user_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode in (0, 1), done.stdout + done.stderr  # 1: a check warned or failed, not the demo
    assert "Traceback" not in done.stderr, done.stderr
    return done.stdout


def printed_pages(out: str) -> list[Path]:
    """The HTML pages whose path the demo printed for the user to open."""
    return [Path(p) for p in dict.fromkeys(re.findall(r"(/\S+\.html)\b", out))]


def broken_links(browser, starts: list[Path]) -> tuple[list[Path], list[str], list[str]]:  # noqa: F811
    """Open each page reachable from `starts` in Chromium, following every `<a href>` (previous/next
    month included); (pages opened, links whose target does not exist, browser problems)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = Watched(context.new_page())
    todo, seen, broken = list(starts), [], []
    try:
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.append(path)
            page.page.goto(path.as_uri())
            for href in page.hrefs():
                parts = urlsplit(href)
                target = Path(unquote(parts.path))
                if parts.scheme != "file" or not target.is_file():
                    broken.append(f"{path.name} -> {href}")
                elif target not in seen:
                    todo.append(target)
    finally:
        context.close()
    return seen, broken, page.problems


@pytest.mark.parametrize("fleet", [1, 2])
def test_the_demo_site_has_no_broken_link(browser, tmp_path, fleet):  # noqa: F811
    out = run_demo(tmp_path, *(["--fleet", str(fleet)] if fleet > 1 else []))
    site = tmp_path / "site"
    starts = printed_pages(out)
    assert site / "index.html" in starts, out  # the demo names its index ...
    assert all(p.is_file() and p.parent == site for p in starts), out  # ... and only pages of its site
    seen, broken, problems = broken_links(browser, starts)
    assert broken == [] and problems == []
    runs = list(site.glob("run-*.html"))
    assert len(runs) == fleet and set(runs) <= set(seen)  # a run per target, each reached by a link
    month_pages = 12 * (1 + fleet) if fleet > 1 else 12  # fleet pages and each target's months
    frameworks = 4 * 2  # each framework's controls of the month and of the year, linked from the index
    assert len(seen) == 1 + month_pages + fleet + frameworks and sorted(seen) == sorted(site.iterdir())


@pytest.mark.parametrize("months", ["1", "12"])
def test_a_single_page_written_alone_has_no_broken_link(browser, env_patch, base_env, tmp_path, months):  # noqa: F811
    """`report --format html > 2026-11.html` (docs/monthly-checklist.md's one page, to print or mail): nothing is
    written next to it, so it links nowhere; what the links said is still there as text."""
    import io

    from checks.cli import main
    from checks.engine.config import Settings
    from checks.journal.store import Journal
    from pages_seed import seed
    from test_report import assert_balanced_html

    env_patch(base_env)
    ids = seed(Journal.from_settings(Settings.from_env(base_env)))
    out = io.StringIO()
    main(["report", "--month", ids.month, "--months", months, "--format", "html"], out=out, env=base_env)
    page = tmp_path / f"{ids.month}.html"
    page.write_text(out.getvalue(), encoding="utf-8")
    seen, broken, problems = broken_links(browser, [page])
    assert seen == [page] and broken == [] and problems == []
    shown = ids.problem_run if months == "1" else ids.month
    assert shown in out.getvalue() and "Overview" in out.getvalue() and "<a " not in out.getvalue()
    assert_balanced_html(out.getvalue())
    assert 'class="no-print"></p>' not in out.getvalue()  # no empty previous/next line left
