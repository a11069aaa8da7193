"""Controls mapped (issue 30 item 2) on the local stack: a framework's control view from an Azurite journal whose
runs and drill were written by the real code paths (tests/pages_seed.py), in English and French, through the
CLI, through function_app's decorated `report`, and as pages of the linked site."""
from __future__ import annotations

import io
import json
import re
from datetime import datetime, timezone

import azure.functions as func
import pytest

from checks.cli import main
from checks.engine.config import Settings
from checks.journal.store import Journal
from checks.report.control_evidence import framework_report, render_framework
from checks.report.controls import FINDINGS, MET, NOT_MET
from checks.report.pages import Links
from pages_seed import EVIL, seed
from test_function_app import FUNCTIONS
from test_report import assert_balanced_html

NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


@pytest.fixture
def settings(base_env):
    return Settings.from_env(base_env)


@pytest.fixture
def seeded(settings):
    journal = Journal.from_settings(settings)
    return journal, seed(journal, NOW)


def verdicts(report):
    return {v.control.reference: v.verdict for v in report.controls}


def test_the_c5_month_view_judges_each_control_from_the_journal(seeded, settings):
    journal, ids = seeded
    report = framework_report(journal, settings, "c5", month=ids.month, now=NOW)
    assert verdicts(report) == {"OPS-06": NOT_MET, "OPS-07": NOT_MET, "OPS-08": FINDINGS}
    ops06, ops07, ops08 = report.controls
    assert ops06.reasons[0].startswith(f"blob.soft_delete fail for production in run {ids.problem_run}")
    assert any(r.startswith(f"database.essential_counts error for production in run {ids.problem_run}")
               for r in ops07.reasons)
    assert [d.drill_id for d in ops08.drills] == [ids.drill_id] and ops08.drills[0].rto_minutes == 18.5
    assert ops08.reasons[0] == f"restore drill {ids.drill_id} did not measure the RPO (set RPO_PROBE)"
    assert report.window == "2025-12 to 2026-11" and not report.complete


def test_the_month_before_passes_and_a_year_shows_each_month(seeded, settings):
    journal, ids = seeded
    assert verdicts(framework_report(journal, settings, "soc2", month=ids.previous, now=NOW))["A1.2"] == MET
    year = framework_report(journal, settings, "c5", year="2026", now=NOW)
    ops06 = year.controls[0]
    assert ops06.months[-2:] == [(ids.previous, MET), (ids.month, NOT_MET)] and len(ops06.months) == 11
    assert ops06.verdict == NOT_MET  # the year lists what did not pass, each with its run
    assert {(e.check_id, e.status, e.run_id) for e in ops06.evidence} == {
        ("blob.soft_delete", "fail", ids.problem_run), ("postgres.retention", "warn", ids.full_run)}
    assert year.controls[2].verdict == FINDINGS  # OPS-08: the drill of the year, without an RPO


def test_the_page_in_english_links_runs_drills_and_months_and_escapes_the_journal(seeded, settings):
    journal, ids = seeded
    report = framework_report(journal, settings, "c5", month=ids.month, now=NOW)
    html = render_framework(report, "html", Links(), lang="en")
    assert_balanced_html(html)
    assert "<h1>BSI C5:2020: controls, 2026-11</h1>" in html and '<html lang="en">' in html
    for href in (f"run-{ids.problem_run}.html", f"drill-{ids.drill_id}.html", f"month-{ids.month}.html"):
        assert f'href="{href}"' in html
    assert "Restore tests at least once a year" in html and ">Not met<" in html and ">Met, with findings<" in html
    assert 'class="status s-not-met">Not met<' in html and "open deviations. Verdicts: met;" in html
    assert "<script>" not in html and EVIL not in html and "&lt;script&gt;" in html
    alone = render_framework(report, "html", lang="en", standalone=True)
    assert 'href="run-' not in alone and ids.problem_run in alone  # written alone: the links' text, no link


def test_the_page_in_french(seeded, settings):
    journal, ids = seeded
    report = framework_report(journal, settings, "c5", month=ids.month, now=NOW)
    html = render_framework(report, "html", Links(), lang="fr")
    assert '<html lang="fr">' in html and "BSI C5:2020 : mesures, 2026-11" in html
    assert "Tests de restauration au moins une fois par an" in html and ">Non satisfaite<" in html
    assert f"l&#39;exercice de restauration {ids.drill_id} n&#39;a pas mesuré le RPO" in html
    assert "did not measure" not in html and "Restore tests at least" not in html
    md = render_framework(report, "md", lang="fr")
    assert md.startswith("# BSI C5:2020 : mesures, 2026-11") and "Non satisfaite" in md


def test_json_gives_each_control_text_in_both_languages(seeded, settings):
    journal, ids = seeded
    data = json.loads(render_framework(framework_report(journal, settings, "hds", month=ids.month, now=NOW), "json"))
    exi28 = next(c for c in data["controls"] if c["reference"] == "EXI 28")
    assert exi28["text"]["fr"].startswith("Les données de santé, sauvegardes comprises")
    assert "postgres.backup_residency" in exi28["checks"] and exi28["verdict"] == "no evidence"
    assert data["framework"] == "hds" and data["period"] == ids.month


# --- the CLI ----------------------------------------------------------------------------------------

def run_cli(args, env):
    out = io.StringIO()
    return main(args, out=out, env=env), out.getvalue()


def test_cli_report_framework(seeded, base_env):
    _journal, ids = seeded
    code, out = run_cli(["report", "--framework", "C5", "--month", ids.month], base_env)
    assert code == 1 and "## OPS-08 — Met, with findings" in out and "RPO –," in out
    code, out = run_cli(["report", "--framework", "iso27001", "--month", ids.month, "--format", "json", "--lang",
                         "fr"], base_env)
    assert code == 1 and json.loads(out)["controls"][0]["id"] == "iso27001:A.8.13"


@pytest.mark.parametrize("args, fragment", [
    (["--framework", "c6"], "did you mean c5?"),
    (["--framework", "iso27k"], "did you mean iso27001?"),
    (["--framework", "c5\x00"], "'c5\\x00'"),
    (["--year", "2026"], "--year needs --framework"),
    (["--framework", "c5", "--year", "1999"], "year must be YYYY"),
    (["--framework", "c5", "--year", "9999"], "year must be YYYY"),
    (["--framework", "c5", "--year", "2026", "--month", "2026-11"], "not both"),
    (["--framework", "c5", "--months", "3"], "--months does not go with --framework"),
    (["--framework", "c5", "--site", "x"], "--site does not go with --framework"),
])
def test_cli_bad_input_exits_two_before_any_journal_is_opened(capsys, args, fragment):
    code, out = run_cli(["report", *args], {"AzureWebJobsStorage": "UseDevelopmentStorage=true;BlobEndpoint=x"})
    err = capsys.readouterr().err
    assert code == 2 and out == "" and fragment in err and "Traceback" not in err


# --- HTTP through function_app ------------------------------------------------------------------------

def get(params):
    return func.HttpRequest(method="GET", url="/api/report", body=b"", params=params)


def test_http_report_framework(seeded, env_patch, base_env):
    env_patch(base_env)
    _journal, ids = seeded
    report = FUNCTIONS["report"].get_user_function()
    resp = report(get({"framework": "soc2", "month": ids.month}))
    assert resp.status_code == 200 and resp.mimetype == "application/json"
    assert [c["id"] for c in json.loads(resp.get_body())["controls"]] == ["soc2:A1.2", "soc2:A1.3"]
    resp = report(get({"framework": "c5", "month": ids.month, "format": "html", "lang": "fr"}))
    body = resp.get_body().decode()
    assert resp.status_code == 200 and resp.mimetype == "text/html" and "Non satisfaite" in body
    assert f'href="pages/run-{ids.problem_run}.html?lang=fr"' in body
    assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")


@pytest.mark.parametrize("params, fragment", [
    ({"framework": "iso"}, "framework must be one of"),
    ({"framework": "c5", "year": "20260"}, "year must be YYYY"),
    ({"year": "2026"}, "year needs framework"),
    ({"framework": "c5", "month": "2026-11", "year": "2026"}, "not both"),
    ({"framework": "c5", "months": "3"}, "unknown field(s): months"),
    ({"framework": "c5", "format": "pdf"}, "format must be one of"),
])
def test_http_bad_input_is_400_json_before_the_journal_is_read(env_patch, params, fragment):
    env_patch({"AzureWebJobsStorage": "UseDevelopmentStorage=true;BlobEndpoint=x"})
    resp = FUNCTIONS["report"].get_user_function()(get(params))
    assert resp.status_code == 400 and resp.mimetype == "application/json"
    assert fragment in json.loads(resp.get_body())["error"]


# --- the linked site ----------------------------------------------------------------------------------

def test_the_site_has_each_framework_linked_from_the_index_and_every_link_resolves(seeded, settings, tmp_path):
    from checks.report.site import write_site
    journal, ids = seeded
    written = write_site(journal, tmp_path, ids.month, 12, now=NOW, settings=settings)
    names = {p.name for p in written}
    frameworks = {f"framework-{k}-{p}.html" for k in ("c5", "iso27001", "hds", "soc2") for p in (ids.month, "2026")}
    assert frameworks <= names
    index = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert all(f'href="{name}"' in index for name in frameworks)
    for name in frameworks:
        page = (tmp_path / name).read_text(encoding="utf-8")
        assert_balanced_html(page)
        for href in re.findall(r'<a href="([^"]+)"', page):
            assert (tmp_path / href).is_file(), f"{name} -> {href}"
    assert f'href="drill-{ids.drill_id}.html"' in (tmp_path / f"framework-c5-{ids.month}.html").read_text()


def test_a_framework_page_over_http_pages(seeded, env_patch, base_env):
    env_patch(base_env)
    _journal, ids = seeded
    pages = FUNCTIONS["pages"].get_user_function()
    ok = pages(func.HttpRequest(method="GET", url="/api/pages/x", body=b"", params={},
                                route_params={"page": "framework-iso27001-2026.html"}))
    assert ok.status_code == 200 and "ISO/IEC 27001:2022: controls, 2026" in ok.get_body().decode()
    bad = pages(func.HttpRequest(method="GET", url="/api/pages/x", body=b"", params={},
                                 route_params={"page": "framework-c5-2101.html"}))
    assert bad.status_code == 400 and "year must be YYYY" in json.loads(bad.get_body())["error"]


# --- deviations, opened by the run code -----------------------------------------------------------------

def test_an_overdue_deviation_opened_by_a_run_makes_its_controls_not_met(settings):
    from checks.engine.model import Status
    from checks.engine.target import Target
    from checks.journal.deviation_log import update
    from test_report import make_run

    journal, production = Journal.from_settings(settings), Target.from_settings(settings)
    opened = datetime(2026, 9, 2, 6, tzinfo=timezone.utc)  # high: due 30 days later, 2026-10-02
    failed = make_run("20260902T060000Z-e1e1e1", opened, [("storage.key_access", Status.FAIL, "shared key on", {})])
    passed = make_run("20261005T060000Z-e2e2e2", datetime(2026, 10, 5, 6, tzinfo=timezone.utc),
                      [("blob.soft_delete", Status.PASS, "on", {})])
    for run in (failed, passed):
        run.target = production
        journal.write_run(run)
        update(journal, run, production, settings.deviation_due_days, now=run.started_at)
    september = framework_report(journal, settings, "c5", month="2026-09", now=NOW)
    assert september.controls[0].verdict == NOT_MET  # the failure itself; its deviation not due yet then
    assert [(d.check_id, d.status, d.overdue) for d in september.controls[0].deviations] == [
        ("storage.key_access", "open", False)]
    october = framework_report(journal, settings, "c5", month="2026-10", now=NOW)
    ops06, ops07 = october.controls[:2]
    assert ops06.verdict == NOT_MET and ops06.reasons == [
        "deviation of storage.key_access for production open since 2026-09-02T06:00:00Z, due "
        "2026-10-02T06:00:00Z: overdue"]
    assert ops07.deviations == []  # storage.key_access evidences OPS-06, not OPS-07
    html = render_framework(october, "html", Links(), lang="fr")
    assert "ouvert, en retard" in html and "<code>storage.key_access</code>" in html


def test_a_site_ending_in_a_month_of_next_year_still_writes_every_framework_page(settings, tmp_path):
    """`report --site --month` a month ahead of today (allowed for the month pages): the year page covers that
    year up to the site's month instead of refusing the whole site."""
    from checks.report.site import write_site
    journal = Journal.from_settings(settings)
    ahead = f"{datetime.now(timezone.utc).year + 1}-02"
    names = {p.name for p in write_site(journal, tmp_path, ahead, 2, settings=settings)}
    assert f"framework-c5-{ahead[:4]}.html" in names and f"framework-soc2-{ahead}.html" in names
    year_page = (tmp_path / f"framework-c5-{ahead[:4]}.html").read_text()
    assert f'href="month-{ahead[:4]}-01.html"' in year_page and f'href="month-{ahead}.html"' in year_page
