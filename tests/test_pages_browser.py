"""The report pages in a real browser: Debian's Chromium driven by Playwright (no browser download).

The pages come from the Function App's real HTTP functions behind a local server
(devtools/functions_server.py) over a journal on Azurite holding every status, and from the static
site written by `python -m checks report --site`. Skipped, with the reason, only where Chromium
is missing outside CI; .ci/run installs it, so in CI these tests always run.
"""
from __future__ import annotations

import io
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from checks.cli import main
from checks.engine.config import Settings
from checks.journal.store import Journal
from pages_seed import seed
from test_function_app import FUNCTIONS

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
KEY = "test-function-key"
pytestmark = [pytest.mark.browser, pytest.mark.skipif(
    not Path(CHROMIUM).exists() and not os.environ.get("CI"),
    reason=f"Chromium not found at {CHROMIUM}: apt-get install chromium (.ci/run installs it)")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page whose console errors/warnings, script errors, failed requests and HTTP errors are kept."""

    def __init__(self, page):
        self.page, self.problems = page, []
        page.on("console", lambda m: m.type in ("error", "warning") and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status}: {r.url}"))

    def hrefs(self, selector: str = "a[href]") -> list[str]:
        return self.page.eval_on_selector_all(selector, "els => els.map(e => e.href)")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    yield Watched(context.new_page())
    context.close()


@pytest.fixture
def site(env_patch, base_env):
    """(server, seeded ids): the HTTP functions on 127.0.0.1 over a seeded journal."""
    from devtools.functions_server import FunctionsServer
    env_patch(base_env)
    ids = seed(Journal.from_settings(Settings.from_env(base_env)))
    with FunctionsServer(FUNCTIONS, KEY) as server:
        yield server, ids


def link(p, name: str, within: str = "body") -> None:
    """Follow the link called `name` (exactly) inside `within`, as a person would."""
    with p.expect_navigation():
        p.locator(within).get_by_role("link", name=name, exact=True).first.click()


def _status_words(page) -> set[str]:
    return set(page.eval_on_selector_all(".status", "els => els.map(e => e.textContent.trim())"))


def test_overview_to_month_to_run_and_back(site, page):
    server, ids = site
    p = page.page
    p.goto(f"{server.base}/api/pages/index.html?code={KEY}")
    assert p.title().startswith("Backup checklist overview")
    assert p.locator("table.overview tbody tr").count() == 12
    link(p, ids.month)
    assert urlsplit(p.url).path == f"/api/pages/month-{ids.month}.html" and f"code={KEY}" in p.url
    assert p.locator("h1").inner_text() == f"Monthly backup checklist, {ids.month}"
    assert {"PASS", "WARN", "FAIL", "ERROR"} <= _status_words(p)  # evidence, problems and runs
    assert "4 of 5 boxes ticked" in p.inner_text(".summary-line") or "of 5 boxes ticked" in p.inner_text(".summary-line")
    link(p, ids.full_run, "table.runs")
    assert p.locator("h1").inner_text() == f"Run {ids.full_run}" and {"PASS", "WARN"} <= _status_words(p)
    assert p.locator("table.skipped-checks tbody tr").count() >= 1  # skipped checks: one table, not a block each
    p.go_back()
    link(p, ids.problem_run, "table.runs")
    assert {"PASS", "FAIL", "ERROR"} <= _status_words(p)
    assert "Remediation" in p.inner_text("section.result") and "fix blob.soft_delete" in p.content()
    link(p, ids.month, "nav.crumbs")
    assert p.locator("h1").inner_text().endswith(ids.month)
    link(p, f"drill {ids.drill_id}")
    assert p.locator("h1").inner_text() == f"Restore drill {ids.drill_id}" and "18.5 min" in p.inner_text("dl.facts")
    assert p.locator("table.events tbody tr").count() == 4
    link(p, "Overview", "nav.crumbs")
    assert urlsplit(p.url).path == "/api/pages/index.html"
    assert page.problems == [] and all(status == 200 for _, status in server.requests)


def _crawl(page, start: str, same: str) -> list[str]:
    """Visit every page reachable from `start` whose URL starts with `same` (not following the
    previous/next month links, which lead on forever over HTTP); the URLs visited."""
    todo, seen = [start], []
    while todo and len(seen) < 60:
        url = todo.pop()
        if url.split("#")[0] in seen:
            continue
        seen.append(url.split("#")[0])
        page.page.goto(url)
        # the inlined stylesheet applies: its hash in the CSP matches (else Chromium refuses it)
        assert page.page.evaluate("getComputedStyle(document.body).maxWidth") == "1100px", url
        # nothing wider than the window (1200 px): no sideways scrolling
        assert page.page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), url
        todo += [h for h in page.hrefs("a[href]:not([rel])") if h.startswith(same) and h.split("#")[0] not in seen]
    return seen


def test_no_console_errors_under_the_csp(site, page):
    server, ids = site
    seen = _crawl(page, f"{server.base}/api/pages/index.html?code={KEY}", f"{server.base}/api/pages/")
    assert len(seen) == 12 + 1 + 4 + 1 + 8  # overview, 12 months, 4 runs, 1 drill, 4 frameworks' month and year
    assert page.problems == []
    response = page.page.goto(f"{server.base}/api/pages/month-{ids.month}.html?code={KEY}")
    assert "script-src" not in response.headers["content-security-policy"]
    assert response.headers["content-security-policy"].startswith("default-src 'none'")


def test_keyboard_reaches_every_link(site, page):
    server, ids = site
    p = page.page
    for name in ("index.html", f"month-{ids.month}.html", f"run-{ids.problem_run}.html", f"drill-{ids.drill_id}.html"):
        p.goto(f"{server.base}/api/pages/{name}?code={KEY}")
        links = page.hrefs()
        reached = []
        for _ in range(len(links) + 3):
            p.keyboard.press("Tab")
            reached.append(p.evaluate("document.activeElement.href || document.activeElement.tagName"))
        assert links and set(links) <= set(reached), name
    # the focused link is visibly marked (outline from the stylesheet)
    p.focus("nav.crumbs a")
    assert p.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"


def test_month_prints_on_a4(site, page):
    server, ids = site
    p = page.page
    p.goto(f"{server.base}/api/pages/month-{ids.month}.html?code={KEY}")
    p.emulate_media(media="print")
    assert p.evaluate("getComputedStyle(document.querySelector('nav.crumbs')).display") == "none"
    p.set_viewport_size({"width": 718, "height": 1000})  # A4 width less the print margins, in CSS px
    assert p.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    pdf = p.pdf(format="A4", prefer_css_page_size=True)
    assert pdf.startswith(b"%PDF")
    boxes = set(re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", pdf))
    assert boxes and all(abs(float(w) - 595.9) < 1.5 and abs(float(h) - 842.9) < 1.5 for w, h in boxes)
    assert 1 <= len(re.findall(rb"/Type /Page\b", pdf)) <= 4
    assert page.problems == []


def test_script_in_a_summary_stays_inert(site, page):
    server, ids = site
    p = page.page
    p.goto(f"{server.base}/api/pages/run-{ids.problem_run}.html?code={KEY}")
    assert "<script>window.__pwned = 1</script>" in p.inner_text("table.results")  # shown as text
    assert p.evaluate("window.__pwned === undefined && document.scripts.length === 0")
    assert p.locator("img").count() == 0
    p.goto(f"{server.base}/api/pages/month-{ids.month}.html?code={KEY}")  # the sign-off comment too
    assert p.evaluate("window.__pwned === undefined && document.scripts.length === 0")
    assert page.problems == []


def test_static_site_in_the_browser(site, page, base_env, tmp_path):
    _, ids = site
    out = io.StringIO()
    assert main(["report", "--site", str(tmp_path), "--month", ids.month], out=out, env=base_env) == 0
    p = page.page
    p.goto((tmp_path / "index.html").as_uri())
    link(p, ids.month)
    link(p, ids.problem_run, "table.runs")
    assert p.evaluate("window.__pwned === undefined") and Path(urlsplit(p.url).path).name == f"run-{ids.problem_run}.html"
    link(p, "Overview", "nav.crumbs")
    assert Path(urlsplit(p.url).path).name == "index.html"
    seen = _crawl(page, (tmp_path / "index.html").as_uri(), tmp_path.as_uri())
    assert len(seen) == 12 + 1 + 4 + 1 + 8 and page.problems == []  # 8: the frameworks' controls


# --- several targets: the fleet pages (checks/report/fleet.py) ---------------------------------

@pytest.fixture
def fleet_site(env_patch, base_env):
    """(server, month, run ids): two configured targets, one complete, one failed, and a third without a run."""
    import json
    from datetime import datetime, timedelta, timezone

    from checks.engine.model import Status
    from checks.report.fleet import scopes_of
    from devtools.functions_server import FunctionsServer
    from test_report import FULL, make_run
    from test_report_fleet import TARGETS

    env = dict(base_env, TARGETS=json.dumps(TARGETS))
    env_patch(env)
    settings = Settings.from_env(env)
    journal = Journal.from_settings(settings)
    start = datetime.now(timezone.utc).replace(day=1, hour=0, minute=5, second=0, microsecond=0)
    failed = [r if r[0] != "blob.soft_delete" else (r[0], Status.FAIL, "soft delete off", {"enabled": False})
              for r in FULL]
    runs = []
    for minutes, (name, results) in enumerate((("prod", FULL), ("preprod", failed)), 1):
        run = make_run(f"{start:%Y%m%d}T00{minutes:02d}00Z-f{minutes}f{minutes}f{minutes}", start + timedelta(minutes=minutes),
                       results)
        run.target = next(s.target for s in scopes_of(settings) if s.name == name)
        journal.write_run(run)
        runs.append(run.run_id)
    with FunctionsServer(FUNCTIONS, KEY) as server:
        yield server, f"{start:%Y-%m}", runs


def test_fleet_pages_link_to_every_target_and_run_without_errors(fleet_site, page):
    server, month, runs = fleet_site
    p = page.page
    p.goto(f"{server.base}/api/pages/index.html?code={KEY}")
    assert p.title().startswith("Backup checklist of every target")
    link(p, month)
    assert urlsplit(p.url).path == f"/api/pages/fleet-{month}.html" and f"code={KEY}" in p.url
    names = p.eval_on_selector_all("table.fleet tbody th[scope=row]", "els => els.map(e => e.innerText.split('\\n')[0])")
    assert names == ["preprod", "staging", "prod"]  # worst first: a failed box, then missing, then complete
    assert "MISSING" in _status_words(p) and "FAILED" in _status_words(p)
    link(p, "preprod", "table.fleet")
    assert p.locator("h1").inner_text() == f"Monthly backup checklist of preprod, {month}"
    link(p, runs[1], "table.runs")
    assert p.locator("h1").inner_text() == f"Run {runs[1]}"
    link(p, month, "nav.crumbs")  # a month without a target: the fleet page
    assert urlsplit(p.url).path == f"/api/pages/fleet-{month}.html"
    seen = _crawl(page, f"{server.base}/api/pages/index.html?code={KEY}&lang=fr", f"{server.base}/api/pages/")
    # index, 12 fleet pages, 3 targets' month page each (the same run pages), 2 runs, 4 frameworks' month and year
    assert len(seen) == 1 + 12 + 12 * 3 + 2 + 8 and all("lang=fr" in url for url in seen)
    p.goto(f"{server.base}/api/pages/fleet-{month}.html?code={KEY}&lang=fr")
    assert "MANQUANTE" in _status_words(p) and p.locator("h1").inner_text().startswith("Checklist des sauvegardes")
    assert page.problems == [] and all(status == 200 for _, status in server.requests)
