"""Controls mapped (issue 30 item 2): the catalogue, the checks' mapping and each verdict rule (pure)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from checks.engine.controls import (CATALOGUE, CONTROLS, FRAMEWORKS, Control, UnknownFramework, check_framework,
                                    framework_controls, mapped_checks)
from checks.engine.registry import all_checks
from checks.journal.deviations import Deviation
from checks.report.control_evidence import check_period, from_deviations, period_bounds
from checks.report.controls import (FINDINGS, MET, NO_EVIDENCE, NOT_MET, PROCEDURAL, CheckSeen, DeviationSeen,
                                    DrillSeen, judge)
from checks.report.model import ReportError

NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)
OPS06, OPS08 = CONTROLS["c5:OPS-06"], CONTROLS["c5:OPS-08"]


# --- the mapping --------------------------------------------------------------------------------

def test_every_check_maps_to_a_control_of_the_catalogue():
    specs = all_checks().values()
    assert [s.id for s in specs if not s.controls] == []
    assert {c for s in specs for c in s.controls} - set(CONTROLS) == set()


def test_every_control_has_an_evidence_source_or_says_what_the_auditor_must_see():
    specs = list(all_checks().values())
    for control in CATALOGUE:
        assert mapped_checks(control.id, specs) or control.procedural, control.id
    assert {c.framework for c in CATALOGUE} == set(FRAMEWORKS)


def test_the_restore_drill_evidences_the_restore_test_controls():
    specs = list(all_checks().values())
    for cid in ("c5:OPS-08", "soc2:A1.3", "iso27001:A.5.30"):
        assert "drill.restore" in mapped_checks(cid, specs) and CONTROLS[cid].drill_required
    location = mapped_checks("hds:EXI 28", specs)
    assert "postgres.backup_residency" in location and all("residency" in cid for cid in location)


def test_a_control_without_a_check_is_procedural_with_what_to_see():
    lone = Control("c5:OPS-99", "nothing checks this", procedural="the signed register")
    view = judge(lone, (), ["2026-11"], [], [], [], ["prod"], "w")
    assert view.verdict == PROCEDURAL and view.reasons == ["the signed register"]


@pytest.mark.parametrize("given, key", [("c5", "c5"), (" C5 ", "c5"), ("ISO27001", "iso27001"), ("soc2", "soc2")])
def test_framework_names_are_read_case_blind(given, key):
    assert check_framework(given) == key


@pytest.mark.parametrize("given, hint", [("iso27k", "iso27001"), ("soc-2", "soc2"), ("c6", "c5"),
                                         ("", None), ("c5\x00", "c5"), ("x" * 5000, None)])
def test_an_unknown_framework_names_the_known_ones(given, hint):
    with pytest.raises(UnknownFramework) as caught:
        check_framework(given)
    text = str(caught.value)
    assert "one of iso27001, hds, c5, soc2, got " in text and len(text) < 300 and "\x00" not in text
    assert (f"did you mean {hint}?" in text) if hint else "did you mean" not in text


def test_each_framework_lists_its_controls():
    assert [c.reference for c in framework_controls("c5")] == ["OPS-06", "OPS-07", "OPS-08"]
    assert [c.reference for c in framework_controls("hds")] == ["EXI 21", "EXI 28"]


# --- the period -----------------------------------------------------------------------------------

@pytest.mark.parametrize("year", ["1999", "2100", "26", "２０２６", "2026\n", "-2026", "99999"])
def test_a_year_out_of_form_or_range_is_refused(year):
    with pytest.raises(ReportError, match="year must be YYYY"):
        check_period("c5", year=year, now=NOW)


def test_month_and_year_together_and_a_future_year_are_refused():
    with pytest.raises(ReportError, match="not both"):
        check_period("c5", month="2026-11", year="2026", now=NOW)
    with pytest.raises(ReportError, match="has not started"):
        check_period("c5", year="2027", now=NOW)
    with pytest.raises(ReportError, match="month must be YYYY-MM"):
        check_period("c5", month="2026-13", now=NOW)


def test_a_year_is_its_months_up_to_this_one():
    assert check_period("soc2", year="2026", now=NOW)[2] == [f"2026-{m:02d}" for m in range(1, 12)]
    assert len(check_period("soc2", year="2025", now=NOW)[2]) == 12
    assert check_period("soc2", year="2026", now=NOW, through="2026-03")[2][-1] == "2026-03"


# --- the verdict rules ------------------------------------------------------------------------------

def seen(check_id, status, month="2026-11", target="prod"):
    return CheckSeen(target, month, check_id, status, f"{check_id} said {status}", "20261101T060000Z-a1a1a1",
                     "2026-11-01T06:00:00Z")


def drill(status="pass", rto=20, rpo=30, cleanup="deleted", target="prod", at="2026-06-01T00:00:00Z", did="d1"):
    return DrillSeen(target, did, at, status, f"drill {status}", rto, rpo, cleanup)


def judge_ops06(observed, months=("2026-11",), deviations=()):
    return judge(OPS06, ("blob.soft_delete", "postgres.retention"), list(months), observed, [], list(deviations),
                 ["prod"], "w")


def test_every_mapped_check_passing_is_met():
    view = judge_ops06([seen("blob.soft_delete", "pass"), seen("postgres.retention", "pass")])
    assert view.verdict == MET and view.reasons == [] and len(view.evidence) == 2


@pytest.mark.parametrize("status", ["fail", "error"])
def test_a_failed_check_makes_the_control_not_met_and_says_which(status):
    view = judge_ops06([seen("blob.soft_delete", status), seen("postgres.retention", "pass")])
    assert view.verdict == NOT_MET
    assert view.reasons == [f"blob.soft_delete {status} for prod in run 20261101T060000Z-a1a1a1: "
                            f"blob.soft_delete said {status}"]


def test_a_warning_is_a_finding():
    view = judge_ops06([seen("blob.soft_delete", "warn"), seen("postgres.retention", "pass")])
    assert view.verdict == FINDINGS and "blob.soft_delete warn" in view.reasons[0]


def test_nothing_ran_is_no_evidence_and_another_month_does_not_count():
    assert judge_ops06([]).verdict == NO_EVIDENCE
    assert judge_ops06([seen("blob.soft_delete", "pass", month="2026-10")]).verdict == NO_EVIDENCE
    assert judge_ops06([seen("blob.versioning", "fail")]).verdict == NO_EVIDENCE  # not mapped to it here


def test_a_year_is_not_met_when_a_month_was_and_has_findings_for_months_without_evidence():
    year = ["2026-09", "2026-10", "2026-11"]
    failed = judge_ops06([seen("blob.soft_delete", "fail", "2026-09"), seen("blob.soft_delete", "pass", "2026-11")],
                         year)
    assert failed.verdict == NOT_MET and failed.months == [("2026-09", NOT_MET), ("2026-10", NO_EVIDENCE),
                                                          ("2026-11", MET)]
    gap = judge_ops06([seen("blob.soft_delete", "pass", m) for m in ("2026-09", "2026-11")], year)
    assert gap.verdict == FINDINGS and gap.reasons == ["no evidence in 2026-10"]
    assert gap.evidence == []  # the year lists what did not pass; each month links its checklist
    whole = judge_ops06([seen("blob.soft_delete", "pass", m) for m in year], year)
    assert whole.verdict == MET


def judge_ops08(drills, targets=("prod",), deviations=()):
    return judge(OPS08, ("drill.restore",), ["2026-11"], [], drills, list(deviations), list(targets),
                 "2025-12 to 2026-11")


def test_ops08_without_a_drill_in_the_window_is_not_met():
    view = judge_ops08([])
    assert view.verdict == NOT_MET and view.reasons == ["no restore drill of prod in 2025-12 to 2026-11"]


def test_a_drill_not_required_only_gives_a_finding_when_missing():
    a813 = CONTROLS["iso27001:A.8.13"]
    view = judge(a813, ("blob.soft_delete", "drill.restore"), ["2026-11"], [seen("blob.soft_delete", "pass")], [], [],
                 ["prod"], "w")
    assert view.verdict == FINDINGS and view.reasons == ["no restore drill of prod in w"]


def test_ops08_with_a_complete_passing_drill_is_met():
    assert judge_ops08([drill()]).verdict == MET


def test_the_latest_drill_decides():
    failed_last = [drill("fail", at="2026-10-01T00:00:00Z", did="d2"), drill(at="2026-06-01T00:00:00Z")]
    view = judge_ops08(failed_last)
    assert view.verdict == NOT_MET and "the latest restore drill of prod, d2, fail" in view.reasons[0]
    assert judge_ops08(list(reversed(failed_last))).verdict == NOT_MET
    passed_last = [drill(at="2026-10-01T00:00:00Z", did="d2"), drill("error", at="2026-06-01T00:00:00Z")]
    assert judge_ops08(passed_last).verdict == MET


@pytest.mark.parametrize("changes, words", [({"rpo": None}, "did not measure the RPO"),
                                            ({"rto": None}, "did not measure the RTO"),
                                            ({"cleanup": "failed: 403"}, "disposal of the restored copy"),
                                            ({"cleanup": ""}, "disposal of the restored copy"),
                                            ({"status": "warn"}, "warned")])
def test_a_drill_without_rto_rpo_or_disposal_is_a_finding(changes, words):
    view = judge_ops08([drill(**changes)])
    assert view.verdict == FINDINGS and any(words in r for r in view.reasons)


@pytest.mark.parametrize("parity, disposal, verdict, words", [
    ("pass", "proven", MET, None),
    (None, None, MET, None),  # drills that keep no such record: the cleanup text decides
    ("fail", "proven", NOT_MET, "was more open than production"),
    ("warn", "proven", FINDINGS, "access rules differ from production's"),
    ("", "proven", FINDINGS, "access parity with production not recorded"),
    ("pass", "pending", FINDINGS, "disposal of the restored copy not proven yet"),
])
def test_access_parity_and_proof_of_disposal_of_the_latest_drill(parity, disposal, verdict, words):
    seen_drill = DrillSeen("prod", "d1", "2026-06-01T00:00:00Z", "pass", "ok", 20, 30, "deleted", True, parity, disposal)
    view = judge_ops08([seen_drill])
    assert view.verdict == verdict and (view.reasons == [] if words is None else words in view.reasons[0])


def test_every_target_needs_its_own_drill():
    view = judge_ops08([drill(target="a")], targets=("a", "b"))
    assert view.verdict == NOT_MET and view.reasons == ["no restore drill of b in 2025-12 to 2026-11"]


def deviation(status="open", overdue=False, check_id="blob.soft_delete"):
    return DeviationSeen("prod", check_id, "2026-10-01T00:00:00Z", "2026-10-15T00:00:00Z", status, "ops", overdue,
                         "" if status == "open" else "2026-11-02T00:00:00Z")


def test_an_open_overdue_deviation_makes_the_control_not_met():
    passing = [seen("blob.soft_delete", "pass"), seen("postgres.retention", "pass")]
    view = judge_ops06(passing, deviations=[deviation(overdue=True)])
    assert view.verdict == NOT_MET and view.reasons[0].endswith("due 2026-10-15T00:00:00Z: overdue")
    assert view.deviations == [deviation(overdue=True)]
    assert judge_ops06(passing, deviations=[deviation()]).verdict == FINDINGS
    assert judge_ops06(passing, deviations=[deviation("closed", overdue=True)]).verdict == FINDINGS
    assert judge_ops06(passing, deviations=[deviation("closed")]).verdict == MET
    other = judge_ops06(passing, deviations=[deviation(overdue=True, check_id="postgres.backup_recent")])
    assert other.verdict == MET and other.deviations == []


def make_deviation(first_seen, due, closed=None, target="prod"):
    return Deviation(id="dev-0000000000000000-0001", target=target, check_id="blob.soft_delete", severity="high",
                     first_run_id="20261001T060000Z-a1a1a1", first_seen=first_seen, first_status="fail",
                     summary="off", due=due, owner="ops", closed_at=closed)


def test_deviations_of_the_period_and_whether_they_were_overdue_then():
    nov = period_bounds(["2026-11"])
    d = lambda day, month=11: datetime(2026, month, day, tzinfo=timezone.utc)  # noqa: E731
    open_late = make_deviation(d(1, 10), d(15, 10))
    open_in_time = make_deviation(d(1), d(30))
    closed_late_in_nov = make_deviation(d(1, 10), d(15, 10), closed=d(5))
    closed_before = make_deviation(d(1, 9), d(15, 9), closed=d(20, 10))
    opened_after = make_deviation(d(1, 12), d(15, 12))
    other_target = make_deviation(d(1, 10), d(15, 10), target="staging")
    got = from_deviations([open_late, open_in_time, closed_late_in_nov, closed_before, opened_after, other_target],
                          ["prod"], nov, NOW)
    assert [(g.status, g.overdue) for g in got] == [("open", True), ("open", False), ("closed", True)]
    # a month in the past: open then, overdue at the month's end though it is closed now
    october = from_deviations([closed_late_in_nov], ["prod"], period_bounds(["2026-10"]), NOW + timedelta(days=30))
    assert [(g.status, g.overdue) for g in october] == [("open", True)]
