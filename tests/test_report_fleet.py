"""Several targets in the report: each target's checklist, the fleet overview (one query for the
month), sign-off per target, on journal entities written into Azurite."""
from __future__ import annotations

import dataclasses
import io
import json
import re

import azure.functions as func
import pytest

from checks.cli import main
from checks.engine.config import Settings
from checks.engine.target import Target
from checks.journal.store import Journal
from checks.report.checklist import month_report
from checks.report.fleet import fleet_overview, scopes_of
from checks.report.render import render
from test_report import BACKUP, DB, FULL, RETENTION, SOFT_DELETE, CountingTable, assert_balanced_html, at, make_run
from test_report_cli_http import fn

SUB = "00000000-0000-0000-0000-000000000000"
MONTH = "2026-10"


def _target(name: str, server: str, account: str) -> dict:
    return {"name": name, "postgres": {"subscription": SUB, "resource_group": f"rg-{name}", "server": server},
            "storage": {"resource_group": f"rg-{name}", "account": account}}


TARGETS = [_target("prod", "medicapp-db", "medicappdocs"), _target("preprod", "medicapp-db-pre", "medicapppre"),
           _target("staging", "medicapp-db-stg", "medicappstg")]
FAILED_BACKUP = ("postgres.backup_recent", "fail", "newest backup 300 h old", {"last_backup_at": "2026-09-19T03:00:00Z"})


def cli(args, env):
    out = io.StringIO()
    return main(args, out=out, env=env), out.getvalue()


@pytest.fixture
def env(base_env):
    return dict(base_env, TARGETS=json.dumps(TARGETS))


@pytest.fixture
def settings(env):
    return Settings.from_env(env)


def target_of(settings, name: str) -> Target:
    return next(s.target for s in scopes_of(settings) if s.name == name)


def run_of(settings, name: str | None, run_id: str, started, results, target: Target | None = None, **kw):
    from checks.engine.model import Status
    results = [(c, Status(s) if isinstance(s, str) else s, summary, d) for c, s, summary, d in results]
    run = make_run(run_id, started, results, **kw)
    run.target = target if target is not None else target_of(settings, name)
    return run


@pytest.fixture
def fleet_journal(settings):
    """prod: complete; preprod: backup failed (newest run), earlier pass; staging: no run;
    'retired': a target journaled this month that is no longer configured."""
    journal = Journal.from_settings(settings)
    journal.write_run(run_of(settings, "prod", "20261001T060000Z-a00001", at(1), FULL))
    journal.write_run(run_of(settings, "preprod", "20261002T060000Z-b00001", at(2), FULL))
    journal.write_run(run_of(settings, "preprod", "20261003T060000Z-b00002", at(3),
                             [FAILED_BACKUP, RETENTION, SOFT_DELETE, *DB]))
    retired = Target(name="retired", subscription=SUB, resource_group="rg-old", server="old-db")
    journal.write_run(run_of(settings, None, "20261004T060000Z-c00001", at(4), FULL, target=retired))
    return journal


def test_fleet_overview_is_one_query_worst_first_with_missing_and_retired_targets(settings, fleet_journal):
    requests = []
    journal = Journal.from_settings(settings, raw_request_hook=lambda r: requests.append(r.http_request.method))
    journal._table = counting = CountingTable(journal.table_client)
    fleet = fleet_overview(journal, MONTH, settings, now=at(26))
    assert counting.queries == [("PartitionKey eq @pk", {"pk": MONTH})]  # one query for every target
    assert requests == ["GET"]
    rows = fleet.to_dict()["rows"]
    assert [(r["target"], r["configured"], r["missing"], r["worst"]) for r in rows] == [
        ("preprod", True, False, "failed"), ("staging", True, True, "missing"), ("prod", True, False, "ticked"),
        ("retired", False, False, "ticked")]
    preprod, staging, prod, retired = rows
    assert preprod["boxes"]["backup"] == "failed" and preprod["boxes_ticked"] == 4 and preprod["runs"] == 2
    assert staging["boxes"] == {b: "no evidence" for b in staging["boxes"]} and staging["complete"] is False
    assert prod["complete"] and prod["runs"] == 1 and prod["page"] == f"month-{MONTH}-prod.html"
    assert retired["page"] is None and "old-db" in retired["label"]
    assert fleet.complete is False  # staging missing, preprod failed; the retired target does not count
    summary = fleet.to_dict()
    assert (summary["targets"], summary["targets_complete"], summary["targets_missing"]) == (3, 1, 1)


def test_a_target_never_ticks_on_another_targets_runs(settings, fleet_journal):
    journal = Journal.from_settings(settings)
    journal.write_run(run_of(settings, "prod", "20261010T060000Z-a00002", at(10), [BACKUP]))
    rows = {r.name: r for r in fleet_overview(journal, MONTH, settings, now=at(26)).rows}
    assert rows["staging"].report.runs == [] and rows["staging"].missing  # prod's newer runs are not staging's
    assert [r.run_id for r in rows["preprod"].report.runs] == ["20261003T060000Z-b00002", "20261002T060000Z-b00001"]
    remark = rows["preprod"].report.box("backup").remarks[-1]
    assert "passed earlier in run 20261002T060000Z-b00001" in remark  # its own earlier pass, not prod's


def test_runs_journaled_before_targets_had_names_match_by_resources(settings, base_env):
    journal = Journal.from_settings(settings)
    unnamed = dataclasses.replace(target_of(settings, "preprod"), name="")
    journal.write_run(run_of(settings, None, "20261005T060000Z-d00001", at(5), FULL, target=unnamed))
    journal.write_run(make_run("20261006T060000Z-d00002", at(6), FULL))  # no target recorded at all
    rows = {r.name: r for r in fleet_overview(journal, MONTH, settings, now=at(26)).rows}
    assert [r.run_id for r in rows["preprod"].report.runs] == ["20261005T060000Z-d00001"]
    assert rows["preprod"].report.complete and rows["prod"].missing
    assert rows[""].configured is False and rows[""].report.target_name == "(target not recorded)"


def test_cli_report_target_shows_only_that_targets_checklist(env, fleet_journal, capsys):
    code, out = cli(["report", "--month", MONTH, "--target", "preprod", "--format", "json"], env)
    data = json.loads(out)
    assert code == 1 and data["target_name"] == "preprod" and "medicapp-db-pre" in data["target"]
    assert [r["run_id"] for r in data["runs"]] == ["20261003T060000Z-b00002", "20261002T060000Z-b00001"]
    assert data["boxes"][0]["state"] == "failed" and data["boxes_ticked"] == 4
    code, out = cli(["report", "--month", MONTH, "--target", "prod"], env)
    assert code == 0 and "# Monthly backup checklist of prod — 2026-10" in out and "**5 of 5 boxes ticked.**" in out
    assert "b00001" not in out and "c00001" not in out
    code, out = cli(["report", "--month", MONTH, "--target", "prod", "--months", "2", "--format", "json"], env)
    assert code == 1 and [m["boxes_ticked"] for m in json.loads(out)["months"]] == [0, 5]
    assert cli(["report", "--month", MONTH, "--target", "qa"], env)[0] == 2
    assert "unknown target qa; known targets: prod, preprod, staging" in capsys.readouterr().err
    assert cli(["report", "--target", "prod", "--fleet"], env)[0] == 2
    assert cli(["report", "--fleet", "--months", "3"], env)[0] == 2


def test_cli_fleet_overview_in_md_html_json_and_french(env, fleet_journal):
    code, out = cli(["report", "--month", MONTH, "--format", "json"], env)  # several targets: the fleet
    assert code == 1 and [r["target"] for r in json.loads(out)["rows"]] == ["preprod", "staging", "prod", "retired"]
    code, md = cli(["report", "--month", MONTH, "--all-targets"], env)
    lines = [line for line in md.splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[0] for line in lines] == ["| preprod", "| staging — **MISSING**: no run this month",
                                                       "| prod", "| retired (no longer configured)"]
    assert lines[0].startswith("| preprod | ✘ FAILED | ✔ | ✔ | ✔ | ✔ | 4/5 | 2 | – |")
    assert "**1 of 3 targets has every box ticked.** **1 target without a run this month.**" in md
    code, html = cli(["report", "--month", MONTH, "--fleet", "--format", "html"], env)
    assert_balanced_html(html)
    # one page written alone: each target named, without links to pages nobody wrote (--site links them)
    assert re.findall(r'<th scope="row">([a-z]+)', html) == ["preprod", "staging", "prod", "retired"]
    assert "<a " not in html
    assert "<script" not in html and 'class="status s-missing">MISSING' in html
    code, fr = cli(["--lang", "fr", "report", "--month", MONTH, "--fleet"], env)
    assert "# Checklist des sauvegardes de toutes les cibles — 2026-10" in fr
    assert "MANQUANTE" in fr and "plus configurée" in fr and "| Cible |" in fr
    assert "**1 cible sur 3 a toutes les cases cochées.** **1 cible sans exécution ce mois-ci.**" in fr
    code, fr_html = cli(["report", "--month", MONTH, "--fleet", "--format", "html", "--lang", "fr"], env)
    assert '<html lang="fr">' in fr_html and "Checklist des sauvegardes de toutes les cibles, 2026-10" in fr_html


def test_signoff_per_target_is_stored_with_its_name_and_shown_in_the_fleet(env, settings, fleet_journal, capsys):
    assert cli(["signoff", "--month", MONTH, "--by", "A"], env)[0] == 2  # several targets: name one
    assert "known targets: prod, preprod, staging" in capsys.readouterr().err
    code, out = cli(["signoff", "--month", MONTH, "--target", "prod", "--by", "Dr. P"], env)
    assert code == 0 and out.startswith(f"Signed off {MONTH} for prod by Dr. P at ") and "5 of 5 boxes" in out
    code, out = cli(["signoff", "--month", MONTH, "--target", "preprod", "--by", "Dr. Q"], env)
    assert "4 of 5 boxes ticked, 2 runs" in out and f"report --month {MONTH} --target preprod" in out
    stored = [r for r in fleet_journal.partition(MONTH) if r["Kind"] == "signoff"]
    assert sorted((r["TargetName"], r["SignedBy"]) for r in stored) == [("preprod", "Dr. Q"), ("prod", "Dr. P")]
    rows = {r["target"]: r for r in fleet_overview(fleet_journal, MONTH, settings).to_dict()["rows"]}
    assert rows["prod"]["signed_off_by"] == ["Dr. P"] and rows["preprod"]["signed_off_by"] == ["Dr. Q"]
    assert rows["staging"]["signed_off_by"] == [] and rows["prod"]["signoff_current"]
    # a later run of preprod changes preprod's report only: prod's sign-off stays current
    fleet_journal.write_run(run_of(settings, "preprod", "20261020T060000Z-b00003", at(20), FULL))
    rows = {r["target"]: r for r in fleet_overview(fleet_journal, MONTH, settings).to_dict()["rows"]}
    assert rows["prod"]["signoff_current"] and not rows["preprod"]["signoff_current"]
    _, md = cli(["report", "--month", MONTH, "--target", "preprod"], env)
    assert "Signed off by **Dr. Q**" in md and "Dr. P" not in md


def test_a_fleet_of_one_reads_exactly_as_before(base_env):
    """No TARGETS: the report, the sign-off and their outputs are those of a single-target deployment."""
    settings = Settings.from_env(base_env)
    journal = Journal.from_settings(settings)
    legacy = make_run("20261001T060000Z-e00001", at(1), FULL)  # no target recorded
    current = make_run("20261002T060000Z-e00002", at(2), [BACKUP])
    current.target = Target.from_settings(settings)
    override = make_run("20261003T060000Z-e00003", at(3), [SOFT_DELETE])
    override.target = Target(name="production", server="other-db", override=True)
    for run in (legacy, current, override):
        journal.write_run(run)
    before = month_report(journal, MONTH, at(26), Target.from_settings(settings))
    from checks.report.deviations import month_deviations  # the section of the report's target (none here)
    before.deviations = month_deviations(journal, MONTH, "production")
    for fmt in ("md", "json", "html"):
        code, out = cli(["report", "--month", MONTH, "--format", fmt], base_env)
        expected = render(before, fmt, standalone=True)
        strip = (lambda t: re.sub(r"20\d\d-\d\d-\d\d[ T]\d\d:\d\d[^\"<|]*(UTC|Z)", "", t))
        assert code == 0 and strip(out) == strip(expected), fmt
        assert cli(["report", "--month", MONTH, "--format", fmt, "--target", "production"], base_env)[1].count("\n") \
            == out.count("\n")
    assert "target_name" not in json.loads(cli(["report", "--month", MONTH, "--format", "json"], base_env)[1])
    code, out = cli(["signoff", "--month", MONTH, "--by", "Dr. A"], base_env)
    assert code == 0 and out.startswith(f"Signed off {MONTH} by Dr. A at ")
    fleet = fleet_overview(journal, MONTH, settings, now=at(26))
    assert [(r.name, r.page, r.report.ticked, [s.by for s in r.report.signoffs]) for r in fleet.rows] == [
        ("production", f"month-{MONTH}.html", 5, ["Dr. A"])]


def test_http_report_target_fleet_and_signoff(env, env_patch, fleet_journal):
    env_patch(env)
    report = fn("report")
    answer = report(func.HttpRequest("GET", "/api/report", params={"month": MONTH}, body=b""))
    assert answer.status_code == 200 and json.loads(answer.get_body())["rows"][0]["target"] == "preprod"
    answer = report(func.HttpRequest("GET", "/api/report", params={"month": MONTH, "target": "prod"}, body=b""))
    assert json.loads(answer.get_body())["complete"] is True
    answer = report(func.HttpRequest("GET", "/api/report", params={"month": MONTH, "fleet": "1", "format": "html",
                                                                    "code": "k"}, body=b""))
    assert f'href="pages/month-{MONTH}-preprod.html?code=k"' in answer.get_body().decode()
    for params in ({"target": "qa"}, {"fleet": "yes"}, {"fleet": "1", "target": "prod"}, {"fleet": "1", "months": "2"}):
        answer = report(func.HttpRequest("GET", "/api/report", params={"month": MONTH, **params}, body=b""))
        assert answer.status_code == 400, params
    signoff = fn("report_signoff")

    def post(body):
        return signoff(func.HttpRequest("POST", f"/api/report/{MONTH}/signoff", route_params={"month": MONTH},
                                        headers={"Content-Type": "application/json"}, body=json.dumps(body).encode()))
    answer = post({"by": "Dr. H"})
    assert answer.status_code == 400 and "known targets: prod, preprod, staging" in json.loads(answer.get_body())["error"]
    answer = post({"by": "Dr. H", "target": "staging"})  # staging has no run this month: nothing to sign
    assert answer.status_code == 409 and "force" in json.loads(answer.get_body())["error"]
    answer = post({"by": "Dr. H", "target": "staging", "force": True, "comment": "staging was decommissioned"})
    data = json.loads(answer.get_body())
    assert answer.status_code == 201 and data["target"] == "staging" and data["boxes_ticked"] == 0
    assert data["signoff"]["forced"] is True
    stored = [r for r in fleet_journal.partition(MONTH) if r["Kind"] == "signoff"]
    assert [(r["TargetName"], r["Via"], r["Forced"]) for r in stored] == [("staging", "http", True)]


def test_pages_and_static_site_for_several_targets(env, env_patch, fleet_journal, tmp_path):
    env_patch(env)
    pages = fn("pages")

    def page(name, **params):
        return pages(func.HttpRequest("GET", f"/api/pages/{name}", route_params={"page": name}, params=params, body=b""))
    fleet = page(f"fleet-{MONTH}.html").get_body().decode()
    assert f'href="month-{MONTH}-preprod.html"' in fleet and "retired" in fleet
    assert page(f"month-{MONTH}.html").get_body().decode() == fleet  # a month without a target = every target
    target = page(f"month-{MONTH}-preprod.html").get_body().decode()
    assert "Monthly backup checklist of preprod, 2026-10" in target and f'href="fleet-{MONTH}.html"' in target
    assert f'href="month-2026-09-preprod.html" rel="prev"' in target
    assert page(f"month-{MONTH}-qa.html").status_code == 404
    index = page("index.html", month=MONTH, months="2").get_body().decode()
    assert f'href="fleet-{MONTH}.html"' in index and index.count('<th scope="row">') == 2
    code, out = cli(["report", "--site", str(tmp_path / "site"), "--month", MONTH, "--months", "2"], env)
    names = {p.name for p in (tmp_path / "site").iterdir()}
    assert code == 0 and {f"fleet-{MONTH}.html", f"month-{MONTH}-staging.html", "fleet-2026-09.html"} <= names
    assert f"month-{MONTH}.html" not in names
    for path in (tmp_path / "site").iterdir():  # every link of the site leads to a page it wrote
        for href in re.findall(r'href="([^"#?]+)', path.read_text()):
            assert href.startswith("data:") or href in names, (path.name, href)


def test_static_site_of_several_targets_reads_each_month_once(settings, fleet_journal, tmp_path):
    from checks.report.site import write_site
    journal = Journal.from_settings(settings)
    journal._table = counting = CountingTable(journal.table_client)
    written = write_site(journal, tmp_path, MONTH, 3, now=at(26), settings=settings)
    months = ["2026-08", "2026-09", "2026-10"]
    partitions = sorted(p["pk"] for q, p in counting.queries if q == "PartitionKey eq @pk")
    year = [f"2026-{m:02d}" for m in range(1, 11)]  # the framework pages' year: its months before the range too
    assert partitions == sorted(year + ["deviation", "drill"]) and len(counting.queries) == len(year) + 2
    names = {p.name for p in written}
    assert {f"month-{m}-{t}.html" for m in months for t in ("prod", "preprod", "staging")} <= names
    assert {f"fleet-{m}.html" for m in months} <= names and "index.html" in names


def test_each_entity_is_attributed_once_whatever_the_number_of_targets(base_env, monkeypatch):
    """50 targets, one run each: the month's entities are split among the targets in one pass
    (pure, no journal): reading a run's target columns is not repeated per target."""
    from checks.journal.store import check_entity, run_entity
    targets = [_target(f"t{i:02d}", f"db{i}", f"acct{i}") for i in range(50)]
    settings = Settings.from_env(dict(base_env, TARGETS=json.dumps(targets)))
    rows = []
    for i, scope in enumerate(scopes_of(settings)):
        run = run_of(settings, scope.name, f"20261001T0600{i:02d}Z-{i:06x}", at(1), FULL)
        rows += [run_entity(run)] + [check_entity(run, r) for r in run.results]
    calls = []
    original = Target.from_columns.__func__
    monkeypatch.setattr(Target, "from_columns", classmethod(lambda cls, row: calls.append(1) or original(cls, row)))

    class Rows:
        def partition(self, key):
            return rows
    fleet = fleet_overview(Rows(), MONTH, settings, now=at(26))
    assert fleet.complete and len(fleet.rows) == 50
    runs = sum(1 for r in rows if r["Kind"] == "run")
    assert len(calls) <= len(rows) + 2 * runs  # one read per entity to split, one per run summary in build_month


def test_a_failed_delivery_is_not_a_result_noted_in_the_journal(env, settings, fleet_journal):
    """The queue gave up on staging's message: the run the poison handler journals holds one
    fleet.delivery error. It ticks no box, not even the journal's; the overview says the target was
    not verified because its delivery failed (md, html, json, French), ranked as an error."""
    from checks.dispatch.handler import poisoned_run, poisoned_text
    from checks.dispatch.message import FleetMessage
    message = FleetMessage(MONTH, "staging")
    fleet_journal.write_run(poisoned_run(message, settings, poisoned_text(message, 5), 5, at(2)))
    rows = {r["target"]: r for r in fleet_overview(fleet_journal, MONTH, settings, now=at(26)).to_dict()["rows"]}
    staging = rows["staging"]
    assert staging["boxes"]["journal"] == "no evidence" and staging["boxes_ticked"] == 0
    assert (staging["delivery_failed"], staging["missing"], staging["worst"]) == (True, False, "delivery failed")
    assert (staging["runs"], staging["delivery_failures"], staging["problems"]) == (0, 1, 1)
    assert not rows["prod"]["delivery_failed"] and rows["prod"]["runs"] == 1
    from checks.report.pages import fleet_index_page  # the month's "without a run" counts it
    index = fleet_index_page([fleet_overview(fleet_journal, MONTH, settings, now=at(26))])
    assert '<span class="status s-missing">1</span>' in index
    report = month_report(fleet_journal, MONTH, at(26), target_of(settings, "staging"))
    assert report.box("journal").remarks == [f"not verified: the queue gave up on the run of {MONTH} (attempt 1) "
                                             "after 5 deliveries"]
    code, out = cli(["report", "--month", MONTH, "--format", "json"], env)
    data = json.loads(out)
    assert [r["target"] for r in data["rows"]] == ["preprod", "staging", "prod", "retired"]  # after FAILED, as an error
    assert data["targets_delivery_failed"] == 1 and data["targets_missing"] == 0
    code, md = cli(["report", "--month", MONTH, "--fleet"], env)
    (line,) = [x for x in md.splitlines() if x.startswith("| staging")]
    assert line.startswith("| staging — **NOT VERIFIED**: delivery failed: the queue gave up on its run | ✘ no evidence")
    assert "| 0/5 | 0 |" in line and "**1 target not verified: delivery failed.**" in md
    _, html = cli(["report", "--month", MONTH, "--fleet", "--format", "html"], env)
    assert_balanced_html(html)
    assert '<span class="status s-error">NOT VERIFIED</span> delivery failed: the queue gave up on its run' in html
    _, fr = cli(["--lang", "fr", "report", "--month", MONTH, "--fleet"], env)
    assert "**NON VÉRIFIÉE**" in fr and "livraison" in fr
    _, page = cli(["--lang", "fr", "report", "--month", MONTH, "--target", "staging"], env)
    assert f"non vérifiée : la file a renoncé à l'exécution de {MONTH} (tentative 1) après 5 livraisons" in page


def test_with_discover_tag_the_report_is_about_the_discovered_targets(base_env, monkeypatch):
    """DISCOVER_TAG without TARGETS: the queue journals the discovered targets' runs under their names;
    the report's targets are those (not the deployment's own one, which would call every run foreign)."""
    from checks.connect import discovery
    from checks.dispatch import targets as dispatch_targets
    from checks.report.fleet import checklist_for
    from checks.report.model import ReportError
    env = dict(base_env, DISCOVER_TAG="backup-verify", AZURE_SUBSCRIPTION_ID=SUB)
    settings = Settings.from_env(env)
    found = tuple(t for t in Settings.from_env(dict(base_env, TARGETS=json.dumps(TARGETS[:2]))).targets)
    monkeypatch.setattr(dispatch_targets, "_found", {})
    monkeypatch.setattr(discovery, "discover_targets", lambda ctx: found)
    journal = Journal.from_settings(settings)
    prod = Target.from_settings(found[0].settings_for(settings))
    journal.write_run(run_of(settings, None, "20261001T060000Z-f00001", at(1), FULL, target=prod))
    fleet = checklist_for(journal, MONTH, settings, now=at(26))  # several discovered targets: the overview
    assert [(r.name, r.configured, r.report.ticked, r.missing) for r in fleet.rows] == [
        ("preprod", True, 0, True), ("prod", True, 5, False)]
    assert checklist_for(journal, MONTH, settings, target="prod", now=at(26)).complete
    monkeypatch.setattr(dispatch_targets, "_found", {})

    def refused(ctx):
        raise discovery.DiscoveryError("access denied (403)", "Grant Reader on the subscription")
    monkeypatch.setattr(discovery, "discover_targets", refused)
    with pytest.raises(ReportError, match="could not be discovered: access denied"):
        checklist_for(journal, MONTH, settings, now=at(26))
