"""The linked report pages without a browser: names, links, HTTP handler, static site, templates."""
from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import azure.functions as func
import pytest

from checks.cli import main
from checks.engine.config import Settings
from checks.journal.store import Journal
from checks.report import pages
from checks.report.pages import CSP, META_CSP, Links, parse_page_name
from pages_seed import seed
from test_function_app import FUNCTIONS
from test_report import assert_balanced_html


class Anchors(HTMLParser):
    def __init__(self, text: str):
        super().__init__()
        self.hrefs: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.hrefs.append(dict(attrs)["href"])


def get_page(page, **params):
    request = func.HttpRequest(method="GET", url=f"/api/pages/{page}", body=b"", params=params,
                               route_params={"page": page})
    return FUNCTIONS["pages"].get_user_function()(request)


@pytest.fixture
def seeded(env_patch, base_env):
    env_patch(base_env)
    return seed(Journal.from_settings(Settings.from_env(base_env)))


def test_links_are_relative_and_carry_the_key_only_when_given():
    assert Links().month("2026-10") == "month-2026-10.html"
    assert Links(base="pages/").run("20261001T060000Z-aaaaaa") == "pages/run-20261001T060000Z-aaaaaa.html"
    assert Links(code="k/1&x=2").overview() == "index.html?code=k%2F1%26x%3D2"  # one parameter, never two
    assert Links(lang="fr").month("2026-10") == "month-2026-10.html?lang=fr"


@pytest.mark.parametrize("name,expected", [
    ("index.html", ("index", "index")), ("month-2026-10.html", ("month", "2026-10")),
    ("run-20261001T060000Z-a1b2c3.html", ("run", "20261001T060000Z-a1b2c3")),
    ("drill-20261001T060000Z-a1b2c3.html", ("drill", "20261001T060000Z-a1b2c3")),
    ("month-2026-13.html", None), ("../index.html", None), ("run-x.html", None), ("index.htm", None), ("", None),
])
def test_page_names(name, expected):
    assert parse_page_name(name) == expected


def test_route_is_registered_behind_entra():
    import json
    binding = json.loads(FUNCTIONS["pages"].get_function_json())["bindings"][0]
    assert binding["route"] == "pages/{page}" and binding["methods"] == ["GET"] and binding["authLevel"] == "ANONYMOUS"


def test_http_pages_link_to_each_other_with_the_key(seeded):
    resp = get_page("index.html", code="KEY1")
    assert resp.status_code == 200 and resp.mimetype == "text/html" and resp.charset == "utf-8"
    assert resp.headers["Content-Security-Policy"] == CSP and "script-src" not in CSP and "'unsafe-inline'" not in CSP
    html = resp.get_body().decode()
    assert_balanced_html(html)
    hrefs = Anchors(html).hrefs
    assert f"month-{seeded.month}.html?code=KEY1" in hrefs and len([h for h in hrefs if h.startswith("month-")]) == 12
    assert all(h.endswith("?code=KEY1") for h in hrefs)

    month = get_page(f"month-{seeded.month}.html").get_body().decode()  # no key given: none in the links
    hrefs = Anchors(month).hrefs
    assert "index.html" in hrefs and all("code=" not in h for h in hrefs)
    for run_id in (seeded.full_run, seeded.problem_run, seeded.drill_id):
        assert f"run-{run_id}.html" in hrefs
    assert f"drill-{seeded.drill_id}.html" in hrefs
    assert_balanced_html(month)


def test_language_asked_in_the_url_goes_along_the_links(seeded):
    html = get_page("index.html", code="K", lang="fr").get_body().decode()
    assert '<html lang="fr">' in html
    hrefs = Anchors(html).hrefs
    assert hrefs and all(h.endswith("?code=K&lang=fr") for h in hrefs)
    month = get_page(hrefs[-1].split("?")[0], code="K", lang="fr").get_body().decode()
    assert '<html lang="fr">' in month
    assert all("lang=" not in h for h in Anchors(get_page("index.html").get_body().decode()).hrefs)
    assert get_page("index.html", lang="xx").status_code == 400


def test_run_and_drill_pages_show_results_and_history(seeded):
    run = get_page(f"run-{seeded.problem_run}.html").get_body().decode()
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in run and "<script" not in run and "<img" not in run
    assert "fix blob.soft_delete" in run and "permission denied" in run  # remediation and summary
    assert '<pre>[\n &#34;a.pdf&#34;,\n &#34;b.pdf&#34;\n]</pre>' in run  # details as indented JSON
    assert f'href="month-{seeded.month}.html"' in run
    drill_run = get_page(f"run-{seeded.drill_id}.html").get_body().decode()
    assert f'href="drill-{seeded.drill_id}.html"' in drill_run
    drill = get_page(f"drill-{seeded.drill_id}.html").get_body().decode()
    assert "18.5 min" in drill and "medicapp-db-drill-1" in drill and "(random)" in drill
    assert [e in drill for e in ("restore requested", "server ready", "verification passed", "server deleted")] == [True] * 4
    assert f'href="run-{seeded.drill_id}.html"' in drill
    assert_balanced_html(run)
    assert_balanced_html(drill)


@pytest.mark.parametrize("page,params,status,fragment", [
    ("nothing.html", {}, 404, "no page 'nothing.html'"),
    ("run-20200101T000000Z-000000.html", {}, 404, "run 20200101T000000Z-000000 not found"),
    ("drill-20200101T000000Z-000000.html", {}, 404, "restore drill 20200101T000000Z-000000 not found"),
    ("index.html", {"month": "2026-13"}, 400, "month must be YYYY-MM"),
    ("index.html", {"months": "99"}, 400, "months must be an integer between 1 and 36"),
])
def test_http_pages_errors(seeded, page, params, status, fragment):
    resp = get_page(page, **params)
    assert resp.status_code == status and fragment in resp.get_body().decode()


def test_report_html_links_into_the_pages_folder(seeded):
    request = func.HttpRequest(method="GET", url="/api/report", body=b"",
                               params={"month": seeded.month, "format": "html", "code": "K"})
    html = FUNCTIONS["report"].get_user_function()(request).get_body().decode()
    hrefs = Anchors(html).hrefs
    assert f"pages/run-{seeded.problem_run}.html?code=K" in hrefs and "pages/index.html?code=K" in hrefs


def test_static_site_has_the_same_pages_and_links(seeded, base_env, tmp_path):
    out = io.StringIO()
    assert main(["report", "--site", str(tmp_path / "site"), "--month", seeded.month], out=out, env=base_env) == 0
    site = tmp_path / "site"
    names = sorted(p.name for p in site.iterdir())
    assert out.getvalue() == f"Wrote {len(names)} pages to {site}; open {site / 'index.html'}\n"
    runs = {f"run-{r}.html" for r in (seeded.full_run, seeded.problem_run, seeded.drill_id, seeded.old_run)}
    frameworks = {f"framework-{key}-{period}.html" for key in ("c5", "iso27001", "hds", "soc2")
                  for period in (seeded.month, seeded.month[:4])}  # each framework's controls, month and year
    assert set(names) == {"index.html", f"drill-{seeded.drill_id}.html", *runs, *frameworks} | {
        f"month-{m}.html" for m in pages_months(seeded.month)}
    for name in names:  # every link leads to a written page
        for href in Anchors((site / name).read_text()).hrefs:
            assert (site / href).is_file(), (name, href)
    # the same links as over HTTP, but for the next month, which has no page in the site's range
    http = Anchors(get_page(f"month-{seeded.month}.html").get_body().decode()).hrefs
    following = f"month-{pages._neighbours(seeded.month)[1]}.html"
    assert following in http
    assert Anchors((site / f"month-{seeded.month}.html").read_text()).hrefs == [h for h in http if h != following]


def pages_months(last: str) -> list[str]:
    from checks.report.checklist import month_range
    return month_range(last, 12)


def test_site_usage_errors(base_env, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["report", "--site", str(blocker)], out=io.StringIO(), env=base_env) == 2
    assert "exists and is not a directory" in capsys.readouterr().err and blocker.read_text() == "x"
    assert main(["report", "--site", str(tmp_path / "s"), "--months", "0"], out=io.StringIO(), env=base_env) == 2


def test_templates_translate_every_visible_string():
    """Literal text in the templates is markup only: every word goes through _() (issue 20 adds
    the catalogues), checked on the templates' syntax trees."""
    env = pages.environment()
    untranslated = []
    for name in env.list_templates(extensions=["html"]):
        source = env.loader.get_source(env, name)[0]
        text = re.sub(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", "\u00a4", source, flags=re.S)  # Jinja parts out
        text = re.sub(r"<code>.*?</code>|<!DOCTYPE html>|<[^>]*>|&\w+;", "", text, flags=re.S)  # markup out
        untranslated += [(name, line.strip()) for line in text.splitlines() if re.search(r"[A-Za-z]", line)]
    assert untranslated == []
    # newstyle gettext marks the message safe: only literals may be messages, never journal data;
    # the two labels allowed are constants of the code (BOXES, PROTECTION_CHECKS), catalogued by issue 20
    sources = "".join(env.loader.get_source(env, n)[0] for n in env.list_templates(extensions=["html"]))
    assert set(re.findall(r"\b_\(\s*[^\s\"'][^)]*\)", sources)) <= {"_(box.label)", "_(p.label)"}
    messages = [m[2][0] if isinstance(m[2], tuple) else m[2] for name in env.list_templates(extensions=["html"])
                for m in env.extract_translations(env.loader.get_source(env, name)[0])]
    assert "Failures and warnings" in messages and "Restore drill %(id)s" in messages and len(messages) > 80


def test_css_hash_in_the_policy_matches_the_inlined_stylesheet():
    import base64
    import hashlib
    html = pages.month_page(_empty_month())
    css = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(css.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in META_CSP and f'content="{META_CSP}"' in html.replace("&#39;", "'")
    assert "@page { size: A4" in css and "frame-ancestors" not in META_CSP


def _empty_month():
    from checks.report.checklist import build_month
    return build_month("2026-10", [])
