"""The RPO rule (checks/drill/rpo.py) and where its figures go: the drill's verdict, the journal
details and the monthly report. The measurement on two real clusters is in tests/test_drill.py."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from checks.drill.rpo import RpoFacts, evaluate_rpo, rpo_figures
from checks.drill.verify import DrillFacts, evaluate_drill, recorded_facts
from checks.engine.config import Settings
from checks.engine.model import Status
from checks.journal.store import Journal
from checks.report.checklist import month_report, overview
from checks.report.render import render
from test_report import make_run

T = datetime(2026, 11, 1, 6, 30, tzinfo=timezone.utc)
PROBE = "public.consultations.created_at"


@pytest.mark.parametrize("newest,restored,production,status,rpo,lost", [
    (T - timedelta(seconds=90), 3, 3, Status.PASS, 90.0, 0),
    (T, 3, 3, Status.PASS, 0.0, 0),  # boundary: a row exactly at T belongs to the restore
    (T + timedelta(seconds=1), 3, 3, Status.FAIL, -1.0, 0),  # just after T: not restored to T
    (T - timedelta(seconds=90), 2, 3, Status.FAIL, 90.0, 1),
    (T - timedelta(seconds=90), 4, 3, Status.WARN, 90.0, 0),  # production deleted a row since T
    (None, 0, 3, Status.WARN, None, None),
])
def test_evaluate_rpo(newest, restored, production, status, rpo, lost):
    got, line, record = evaluate_rpo(RpoFacts(PROBE, T, newest, restored, production))
    assert got is status, line
    assert record["rpo_seconds"] == rpo and record["rows_lost"] == lost
    assert record["restore_point"] == "2026-11-01T06:30:00Z"


def test_unmeasured_rpo_warns_with_the_reason():
    status, line, record = evaluate_rpo(RpoFacts(PROBE, T, error="table public.consultations not found"))
    assert status is Status.WARN and "not found" in line and record["error"]


def drill_facts(rpo: RpoFacts | None) -> DrillFacts:
    return DrillFacts("medicapp-db-restore-20261101", {"database.connectivity": ("pass", "ok")},
                      {"public.patients": 10}, {"public.patients": 10}, "abc", "abc", rto_minutes=34,
                      restore_point="2026-11-01T06:30:00Z", rpo=rpo)


def test_drill_verdict_folds_in_the_rpo_and_survives_the_journal_record():
    settings = Settings.from_env({})
    good = evaluate_drill(drill_facts(RpoFacts(PROBE, T, T - timedelta(seconds=90), 3, 3)), settings)
    assert good.status is Status.PASS and "RPO 90 s" in good.summary
    lost = evaluate_drill(drill_facts(RpoFacts(PROBE, T, T - timedelta(seconds=90), 1, 3)), settings)
    assert lost.status is Status.FAIL and "2 rows" in lost.summary
    # a later invocation re-judges from the recorded verification: same verdict, same figures
    again = evaluate_drill(recorded_facts("medicapp-db-restore-20261101", lost.details["verification"], 34,
                                          "2026-11-01T06:30:00Z", ""), settings)
    assert again.status is Status.FAIL and again.details["verification"]["rpo"] == lost.details["verification"]["rpo"]
    assert rpo_figures(lost.details["verification"]) == {"rpo_seconds": 90.0, "rows_lost": 2}
    assert rpo_figures({}) == {"rpo_seconds": None, "rows_lost": None}
    assert "rpo" not in evaluate_drill(drill_facts(None), settings).details["verification"]


def test_monthly_report_and_overview_show_rpo_and_loss(base_env):
    journal = Journal.from_settings(Settings.from_env(base_env))
    journal.write_run(make_run("20261101T060000Z-rpo001", T, [
        ("drill.restore", Status.PASS, "restored and verified",
         {"rto_minutes": 34, "rpo_seconds": 90.0, "rows_lost": 0, "restore_point": "2026-11-01T06:30:00Z",
          "target_server": "medicapp-db-restore-20261101"})], trigger="drill"))
    report = month_report(journal, "2026-11", now=T + timedelta(days=1))
    assert (report.drill.rpo_seconds, report.drill.rows_lost) == (90.0, 0)
    assert "RTO 34 min, RPO 90.0 s, rows lost up to the restore point: 0" in render(report, "md")
    assert "RPO 90.0 s" in render(report, "html")
    ov = overview(journal, "2026-11", 1, now=T + timedelta(days=1))
    assert ov.to_dict()["months"][0]["drill"]["rpo_seconds"] == 90.0
    assert "RTO 34 min, RPO 90.0 s" in render(ov, "md")


def test_drill_page_shows_the_measured_rpo():
    from checks.drill.state import Drill
    from checks.report import pages

    rpo = evaluate_rpo(RpoFacts(PROBE, T, T - timedelta(seconds=90), 2, 3))[2]
    drill = Drill("20261101T063000Z-abc123", "failed", "cli", "medicapp-db", "rg-drills", "medicapp-db-restore-1",
                  "2026-11-01T06:40:00Z", "2026-11-01T06:30:00Z", "given", "2026-11-01T13:00:00Z",
                  verification={"status": "fail", "rpo": rpo})
    html = pages.drill_page(drill)
    assert "90.0 s; rows lost up to the restore point: 1" in html
