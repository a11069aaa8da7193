"""Monthly checklist built from journal entities written into Azurite."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from checks.engine.config import Settings
from checks.journal.store import Journal
from checks.engine.model import CheckResult, Run, Severity, Status
from checks.report.checklist import (NO_EVIDENCE, PARTIAL, TICKED, ReportError, build_month, month_range, month_report,
                           overview, sign_off)
from checks.report.render import render

UTC = timezone.utc
P, W, F, E, S = Status.PASS, Status.WARN, Status.FAIL, Status.ERROR, Status.SKIPPED

BACKUP = ("postgres.backup_recent", P, "newest backup 3 h old",
          {"last_backup_at": "2026-10-01T03:12:00Z", "backup_name": "Backup_2026-10-01T03:12:00"})
RETENTION = ("postgres.retention", P, "retention 14 days", {"retention_days": 14,
                                                             "earliest_restore": "2026-09-17T06:00:00Z"})
SOFT_DELETE = ("blob.soft_delete", P, "soft delete on, 30 days", {"enabled": True, "retention_days": 30})
DB = [("database.connectivity", P, "connected in 12 ms", {}),
      ("database.migration", P, "at revision abc123", {}),
      ("database.essential_counts", P, "3 tables counted", {}),
      ("database.signed_document", P, "newest signed document readable", {})]
FULL = [BACKUP, RETENTION, SOFT_DELETE, *DB]


def make_run(run_id: str, started: datetime, results, trigger="timer", dry_run=False) -> Run:
    run = Run(run_id=run_id, trigger=trigger, started_at=started, finished_at=started + timedelta(seconds=30),
              dry_run=dry_run)
    for check_id, status, summary, details in results:
        run.results.append(CheckResult(check_id, check_id.split(".")[1].replace("_", " "), status, Severity.HIGH,
                                       summary, dict(details), f"fix {check_id}", started, 25))
    return run


def assert_balanced_html(text: str) -> None:
    """Every non-void tag is closed in order (the document is well formed)."""
    from html.parser import HTMLParser

    class Parser(HTMLParser):
        def __init__(self):
            super().__init__()
            self.stack, self.errors = [], []

        def handle_starttag(self, tag, attrs):
            if tag not in ("meta", "br", "link"):
                self.stack.append(tag)

        def handle_endtag(self, tag):
            if self.stack and self.stack[-1] == tag:
                self.stack.pop()
            else:
                self.errors.append(tag)

    parser = Parser()
    parser.feed(text)
    assert parser.stack == [] and parser.errors == []


def at(day, hour=6, month=10):
    return datetime(2026, month, day, hour, tzinfo=UTC)


class CountingTable:
    """Wraps the real TableClient to count the queries the report issues."""

    def __init__(self, inner):
        self.inner, self.queries = inner, []

    def query_entities(self, query_filter, **kwargs):
        self.queries.append((query_filter, dict(kwargs.get("parameters") or {})))
        return self.inner.query_entities(query_filter, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def settings(base_env):
    return Settings.from_env(base_env)


@pytest.fixture
def journal(settings):
    return Journal.from_settings(settings)


def test_full_month_ticks_all_five_boxes_with_evidence(journal):
    timer = make_run("20261001T060000Z-aaaaa1", at(1), FULL)
    dry = make_run("20261015T090000Z-aaaaa2", at(15, 9), DB, trigger="cli", dry_run=True)
    drill = make_run("20261020T080000Z-aaaaa3", at(20, 8), [
        ("drill.restore", P, "restored and verified in 42 min",
         {"rto_minutes": 42, "restore_point": "2026-10-20T07:00:00Z", "target_server": "medicapp-db-restore-1020"})],
        trigger="drill")
    for run in (timer, dry, drill):
        journal.write_run(run)

    report = month_report(journal, "2026-10", now=at(28))
    assert [b.state for b in report.boxes] == [TICKED] * 5 and report.complete
    backup = report.box("backup")
    assert backup.evidence.run_id == timer.run_id and backup.evidence.at == "2026-10-01T06:00:00Z"
    assert backup.evidence.results[0]["values"] == {"last_backup_at": "2026-10-01T03:12:00Z",
                                                    "backup_name": "Backup_2026-10-01T03:12:00"}
    assert report.box("retention").evidence.results[0]["values"]["retention_days"] == 14
    assert report.box("soft_delete").evidence.results[0]["values"] == {"enabled": True, "retention_days": 30}
    # the newest run with database checks decides: the CLI dry run of the 15th (not the drill run)
    dry_box = report.box("dry_run")
    assert dry_box.evidence.run_id == dry.run_id and dry_box.evidence.dry_run is True
    assert [r["check_id"] for r in dry_box.evidence.results] == sorted(c[0] for c in DB)
    journal_box = report.box("journal")
    assert journal_box.evidence.run_id == drill.run_id
    assert journal_box.evidence.results[0]["values"]["runs"] == 3
    assert report.problems == []
    assert report.drill.rto_minutes == 42 and report.drill.target_server == "medicapp-db-restore-1020"
    assert report.drill.run_id == drill.run_id and report.drill.status == "pass"
    assert [r.run_id for r in report.runs] == [drill.run_id, dry.run_id, timer.run_id]

    md = render(report, "md")
    assert "**5 of 5 boxes ticked.**" in md
    assert "| [x] | Recent PostgreSQL backup visible | ticked | run 20261001T060000Z-aaaaa1 (timer), " \
           "2026-10-01 06:00 UTC; postgres.backup\\_recent pass: last backup at: 2026-10-01T03:12:00Z" in md
    assert "pass: RTO 42 min, restore point 2026-10-20T07:00:00Z, target server medicapp-db-restore-1020" in md
    data = json.loads(render(report, "json"))
    assert data["complete"] is True and data["boxes"][2]["evidence"]["results"][0]["values"]["retention_days"] == 30


def test_month_with_failed_check_lists_it_with_remediation(journal):
    early = make_run("20261002T060000Z-bbbbb1", at(2), FULL)
    failing = [BACKUP, ("postgres.retention", W, "retention 7 days, below the 14 wanted", {"retention_days": 7}),
               ("blob.soft_delete", F, "soft delete is off", {"enabled": False, "retention_days": None}),
               *DB[:2], ("database.essential_counts", E, "cannot count public.patients: permission denied", {}),
               DB[3]]
    late = make_run("20261012T060000Z-bbbbb2", at(12), failing, trigger="http")
    journal.write_run(early)
    journal.write_run(late)

    report = month_report(journal, "2026-10")
    states = {b.key: b.state for b in report.boxes}
    assert states == {"backup": TICKED, "retention": "warning", "soft_delete": "failed", "dry_run": "error",
                      "journal": TICKED}
    assert report.ticked == 2 and not report.complete
    soft = report.box("soft_delete")
    assert soft.evidence.run_id == late.run_id and not soft.ticked
    assert soft.remarks[0] == "fail: soft delete is off"
    assert f"passed earlier in run {early.run_id}" in soft.remarks[1]
    assert any("database.essential_counts error: cannot count public.patients" in r
               for r in report.box("dry_run").remarks)
    assert [(p.check_id, p.status) for p in report.problems] == [
        ("blob.soft_delete", "fail"), ("database.essential_counts", "error"), ("postgres.retention", "warn")]
    assert report.problems[0].remediation == "fix blob.soft_delete" and report.problems[0].run_id == late.run_id
    assert report.drill is None

    md = render(report, "md")
    assert "| [ ] | Blob Storage soft delete on | FAILED |" in md
    assert "- **FAIL** `blob.soft_delete`" in md and "  - Remediation: fix blob.soft\\_delete" in md
    assert "no restore drill recorded this month" in md
    html = render(report, "html")
    assert "Remediation: fix blob.soft_delete" in html and '<span class="status s-failed">FAILED</span>' in html
    assert_balanced_html(html)


def test_problem_fixed_later_in_the_month_is_marked_resolved(journal):
    bad = make_run("20261003T060000Z-ccccc1", at(3), [("blob.soft_delete", F, "soft delete is off", {"enabled": False})])
    good = make_run("20261004T060000Z-ccccc2", at(4), [SOFT_DELETE])
    journal.write_run(bad)
    journal.write_run(good)
    report = month_report(journal, "2026-10")
    assert report.box("soft_delete").state == TICKED
    assert report.box("soft_delete").evidence.run_id == good.run_id
    assert [(p.run_id, p.resolved_by) for p in report.problems] == [(bad.run_id, good.run_id)]


def test_month_without_run_has_no_evidence_anywhere(journal):
    journal.write_run(make_run("20261101T060000Z-ddddd1", at(1, month=11), FULL))  # another month
    report = month_report(journal, "2026-09")
    assert [b.state for b in report.boxes] == [NO_EVIDENCE] * 5 and report.ticked == 0
    assert all(b.evidence is None for b in report.boxes)
    assert report.box("journal").remarks == ["no run recorded in the journal this month"]
    assert report.runs == [] and report.problems == [] and report.drill is None
    md = render(report, "md")
    assert "**0 of 5 boxes ticked.**" in md and md.count("**no evidence**") == 5
    assert "No run recorded." in md


def test_skipped_checks_are_no_evidence_and_partial_dry_run(journal):
    run = make_run("20261005T060000Z-eeeee1", at(5), [
        ("postgres.backup_recent", S, "PG_SERVER_NAME not set", {}),
        *DB[:3], ("database.signed_document", S, "SIGNED_DOCUMENT_TABLE not set", {})])
    journal.write_run(run)
    report = month_report(journal, "2026-10")
    backup = report.box("backup")
    assert backup.state == NO_EVIDENCE and backup.remarks == ["postgres.backup_recent was skipped: PG_SERVER_NAME not set"]
    assert report.box("retention").remarks == ["no run of the month included postgres.retention"]
    dry = report.box("dry_run")
    assert dry.state == PARTIAL and not dry.ticked and dry.evidence.run_id == run.run_id
    assert dry.remarks == ["database.signed_document gave no evidence (SIGNED_DOCUMENT_TABLE not set)"]


def test_drill_run_database_checks_are_not_dry_run_evidence(journal):
    drill = make_run("20261021T080000Z-fffff1", at(21, 8), [
        *DB, ("drill.restore", F, "restore did not finish within 6 h",
              {"rto_minutes": None, "restore_point": "latest", "target_server": "medicapp-db-restore-x"})],
        trigger="drill")
    journal.write_run(drill)
    report = month_report(journal, "2026-10")
    assert report.box("dry_run").state == NO_EVIDENCE
    assert report.box("journal").state == TICKED
    assert report.drill.status == "fail" and report.drill.rto_minutes is None
    assert [p.check_id for p in report.problems] == ["drill.restore"]


def test_check_entities_without_run_summary_are_ignored(journal):
    run = make_run("20261006T060000Z-abcabc", at(6), FULL)
    from checks.journal.store import check_entity
    for result in run.results:  # an interrupted write: checks but no summary
        journal.upsert(check_entity(run, result))
    report = month_report(journal, "2026-10")
    assert report.ticked == 0 and report.runs == []
    assert report.notes == ["1 incomplete run without a run summary ignored: 20261006T060000Z-abcabc"]


def test_script_in_names_and_summaries_is_escaped(journal):
    evil = "<script>alert('x')</script>"
    run = make_run("20261007T060000Z-0e0e0e", at(7), [
        ("blob.soft_delete", F, f"container {evil} has soft delete off", {"enabled": False}),
        ("drill.restore", P, "ok", {"rto_minutes": 5, "restore_point": "latest", "target_server": evil})])
    run.results[0].remediation = f"enable it on {evil}"
    journal.write_run(run)
    sign_off(journal, "2026-10", f"Mallory {evil}", comment=f"looks fine {evil} | ` [x](javascript:alert(1))",
             now=at(8))
    report = month_report(journal, "2026-10")
    assert report.signoffs[0].by == f"Mallory {evil}"  # stored as given, escaped on output

    html = render(report, "html")
    assert "<script" not in html.lower()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "Mallory &lt;script&gt;" in html and "enable it on &lt;script&gt;" in html
    assert "http://" not in html and "https://" not in html and "src=" not in html  # self-contained
    assert re.findall(r"<link[^>]*>", html) == ['<link rel="icon" href="data:,">']  # no external asset
    assert "@media print" in html and "Content-Security-Policy" in html
    assert_balanced_html(html)

    md = render(report, "md")
    assert "<script" not in md.lower() and "Mallory &lt;script&gt;" in md
    assert "\\[x\\](javascript:alert(1))" in md and "\\|" in md  # no link, no broken table cell

    ov = overview(journal, "2026-10", 2, now=at(9))
    for fmt in ("md", "html"):
        assert "<script" not in render(ov, fmt).lower()


def test_twelve_month_overview_reads_one_partition_per_month(settings):
    requests = []
    journal = Journal.from_settings(settings, raw_request_hook=lambda r: requests.append(
        (r.http_request.method, r.http_request.url)))
    counting = CountingTable(journal.table_client)
    journal._table = counting
    journal.write_run(make_run("20260105T060000Z-111111", datetime(2026, 1, 5, 6, tzinfo=UTC), FULL))
    for day in (1, 15):
        journal.write_run(make_run(f"202610{day:02d}T060000Z-22222{day % 10}", at(day), FULL))
    journal.write_run(make_run("20261101T060000Z-333333", at(1, month=11), [SOFT_DELETE]))
    sign_off(journal, "2026-10", "A. Auditor", now=at(2, month=11))
    counting.queries.clear()
    requests.clear()

    ov = overview(journal, "2026-11", 12, now=at(26, month=11))
    assert [m.month for m in ov.months] == month_range("2026-11", 12)
    assert ov.months[0].month == "2025-12" and ov.months[-1].month == "2026-11"
    assert len(counting.queries) == 12  # one query per month partition, no table scan
    assert all(q == ("PartitionKey eq @pk", {"pk": m}) for q, m in zip(counting.queries, month_range("2026-11", 12)))
    gets = [u for method, u in requests if method == "GET"]
    assert len(gets) == 12 and all("PartitionKey" in u for u in gets)

    rows = {m["month"]: m for m in ov.to_dict()["months"]}
    assert rows["2026-10"]["boxes_ticked"] == 5 and rows["2026-10"]["signed_off_by"] == ["A. Auditor"]
    assert rows["2026-01"]["complete"] is True and rows["2026-01"]["runs"] == 1
    assert rows["2026-11"]["boxes"] == {"backup": NO_EVIDENCE, "retention": NO_EVIDENCE, "soft_delete": TICKED,
                                        "dry_run": NO_EVIDENCE, "journal": TICKED}
    assert rows["2026-05"]["boxes_ticked"] == 0 and rows["2026-05"]["drill"] is None
    md = render(ov, "md")
    assert md.count("\n| 20") == 12
    assert "| 2026-10 | ✔ | ✔ | ✔ | ✔ | ✔ | 5/5 | 13 no evidence | – | A. Auditor |" in md
    html = render(ov, "html")
    assert html.count('<th scope="row"><a href="month-20') == 12
    assert_balanced_html(html)


def test_signoff_is_stored_never_overwritten_and_shown(journal):
    journal.write_run(make_run("20261001T060000Z-5a5a5a", at(1), FULL))
    first, report = sign_off(journal, "2026-10", "Dr. A. Example", comment="reviewed, all fine", now=at(2))
    second, _ = sign_off(journal, "2026-10", "Dr. A. Example", comment="second look", now=at(2))  # same instant
    assert first.current and report.complete and first.boxes_ticked == 5
    rows = [r for r in journal.partition("2026-10") if r["Kind"] == "signoff"]
    assert len(rows) == 2 and len({r["RowKey"] for r in rows}) == 2
    assert all(re.fullmatch(r"signoff-20261002T060000000000Z-[0-9a-f]{6}", r["RowKey"]) for r in rows)
    assert journal.list_runs("2026-10")[0]["run_id"] == "20261001T060000Z-5a5a5a" and len(journal.list_runs("2026-10")) == 1

    # a later run changes the month: the earlier sign-offs are shown as given on an older report
    journal.write_run(make_run("20261010T060000Z-5b5b5b", at(10), [("blob.soft_delete", F, "off", {})]))
    report = month_report(journal, "2026-10")
    assert sorted(s.comment for s in report.signoffs) == ["reviewed, all fine", "second look"]  # same instant
    assert [s.current for s in report.signoffs] == [False, False]
    third, _ = sign_off(journal, "2026-10", "B. Reviewer", now=at(11))
    report = month_report(journal, "2026-10")
    assert [s.by for s in report.signoffs][-1] == "B. Reviewer" and report.signoffs[-1].current  # oldest first
    assert third.run_count == 2 and third.boxes_ticked == 4
    md = render(report, "md")
    assert "Signed off by **B. Reviewer** on 2026-10-11 06:00 UTC via cli: 4 of 5 boxes ticked, 2 runs\n" in md
    assert "Signed off by **Dr. A. Example** on 2026-10-02 06:00 UTC via cli: 5 of 5 boxes ticked, 1 run — " \
           "**the report changed after this sign-off**. Comment: reviewed, all fine" in md


@pytest.mark.parametrize("month,by,comment,fragment", [
    ("2026-13", "A", "", "YYYY-MM"),
    ("2026-12", "A", "", "has not started"),
    ("2026-10", "   ", "", "must not be empty"),
    ("2026-10", "x" * 101, "", "too long: 101"),
    ("2026-10", "A\x1b[31m", "", "control characters"),
    ("2026-10", "A", "y" * 501, "too long: 501"),
    ("2026-10", "A", "bell\x07", "control characters"),
    ("2026-10", 42, "", "must be a string"),
])
def test_signoff_validation(journal, month, by, comment, fragment):
    with pytest.raises(ReportError, match=re.escape(fragment)):
        sign_off(journal, month, by, comment, now=at(26, month=11))
    assert journal.partition("2026-10") == []


def test_build_month_is_pure_and_tolerates_a_malformed_entity():
    rows = [{"PartitionKey": "2026-10", "RowKey": "1-r", "Kind": "run", "RunId": "20261001T060000Z-999999",
             "Trigger": "timer", "StartedAt": "2026-10-01T06:00:00+00:00", "Status": "pass"},
            {"Kind": "check", "RunId": "20261001T060000Z-999999", "CheckId": "blob.soft_delete", "Status": "bogus"},
            {"Kind": "check", "RunId": "20261001T060000Z-999999", "CheckId": "postgres.retention", "Status": "pass",
             "StartedAt": "2026-10-01T06:00:01+00:00",
             "Details": json.dumps({"retention_days": 35, "earliest_restore": "2026-08-27T06:00:00Z"})}]
    report = build_month("2026-10", rows, at(26))
    # the malformed result stands as an error of its check in its run: it never ticks, it is said
    assert report.box("retention").state == TICKED and report.box("soft_delete").state == "error"
    assert report.notes == ["unreadable entity (no RowKey): Status is not one of pass, warn, fail, error, skipped: "
                            "bogus"]
    assert report.generated_at == "2026-10-26T06:00:00Z"


def test_month_range_crosses_years():
    assert month_range("2026-02", 4) == ["2025-11", "2025-12", "2026-01", "2026-02"]
    assert month_range("2026-02", 1) == ["2026-02"]


def test_evidence_from_the_real_rules_outcomes(journal):
    """Contract with the postgres and blob families: their rules' details feed the boxes' values."""
    from checks.families.blob import SoftDeleteFacts, evaluate_soft_delete
    from checks.families.postgres import BackupFacts, BackupItem, ServerFacts, evaluate_backup_recent, evaluate_retention

    now = at(1, 6)
    settings = Settings.from_env({})
    outcomes = {
        "postgres.backup_recent": evaluate_backup_recent(BackupFacts("medicapp-db", (
            BackupItem("Backup_20261001T031200", "Full", "Automatic", at(1, 3)),), now), settings),
        "postgres.retention": evaluate_retention(ServerFacts(
            "medicapp-db", "Ready", "GeneralPurpose", "Standard_D2ds_v5", 14, "Disabled", now - timedelta(days=14),
            datetime(2025, 1, 1, tzinfo=UTC), "westeurope", "16", now), settings),
        "blob.soft_delete": evaluate_soft_delete(SoftDeleteFacts("medicappdocs", True, 30, True, 7), settings),
    }
    assert {k: o.status for k, o in outcomes.items()} == {k: P for k in outcomes}
    run = make_run("20261001T060000Z-c0c0c0", now, [(k, o.status, o.summary, o.details) for k, o in outcomes.items()])
    journal.write_run(run)
    report = month_report(journal, "2026-10")
    values = {b.key: b.evidence.results[0]["values"] for b in report.boxes[:3]}
    assert values["backup"] == {"last_backup_at": "2026-10-01T03:00:00+00:00", "backup_name": "Backup_20261001T031200"}
    assert values["retention"]["retention_days"] == 14 and values["retention"]["earliest_restore"].startswith("2026-09-17")
    assert values["soft_delete"] == {"enabled": True, "retention_days": 30}
