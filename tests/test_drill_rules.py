"""Pure parts of the restore drill: the verification rule, the restore point, target names."""
import random
from datetime import datetime, timezone

import pytest

from checks.engine.config import Settings
from checks.drill.restore_drill import DrillFacts, choose_restore_point, evaluate_drill
from checks.engine.timeutil import months_between
from checks.drill.verify import recorded_facts
from checks.drill.state import DrillGuardError, target_names, validate_server_name

S = Settings.from_env({})  # COUNT_DROP_THRESHOLD_PERCENT 5
OK = {"database.connectivity": ("pass", "connected"), "database.signed_document": ("skipped", "not set")}
E = datetime(2026, 10, 25, 6, 0, tzinfo=timezone.utc)
L = datetime(2026, 11, 1, 5, 50, tzinfo=timezone.utc)


def facts(**kw):
    base = dict(target_server="t", restored_checks=OK, restored_counts={"p": 95}, production_counts={"p": 100},
                restored_revision="abc", production_revision="abc", rto_minutes=34.0, restore_point="x")
    base.update(kw)
    return DrillFacts(**base)


def test_pass_with_small_shortfall():
    out = evaluate_drill(facts(), S)
    assert out.status.value == "pass" and "RTO 34 min" in out.summary and "1 table ≤ production" in out.summary
    assert out.details["verification"]["counts"]["p"] == {"restored": 95, "production": 100, "shortfall_percent": 5.0}


def test_large_shortfall_warns():
    out = evaluate_drill(facts(restored_counts={"p": 80}), S)
    assert out.status.value == "warn" and "p 80/100 (-20%)" in out.summary


def test_more_rows_than_production_fails():
    out = evaluate_drill(facts(restored_counts={"p": 101}), S)
    assert out.status.value == "fail" and "p 101>100" in out.summary


def test_revision_mismatch_and_failing_check_fail():
    out = evaluate_drill(facts(restored_revision="old"), S)
    assert out.status.value == "fail" and "Alembic revision old on the restored server, abc in production" in out.summary
    out = evaluate_drill(facts(restored_checks={"database.connectivity": ("error", "cannot connect")}), S)
    assert out.status.value == "fail" and "database.connectivity error (cannot connect)" in out.summary


def test_nothing_verified_fails_and_no_counts_warns():
    out = evaluate_drill(facts(restored_checks={"database.connectivity": ("skipped", "DATABASE_URL not set")}), S)
    assert out.status.value == "fail" and "nothing was verified" in out.summary
    out = evaluate_drill(facts(restored_counts={}, production_counts={}), S)
    assert out.status.value == "warn" and "no essential table counts" in out.summary


def test_restore_point_choices():
    assert choose_restore_point("latest", E, L) == (L, "latest")
    given = datetime(2026, 10, 30, 3, 0, tzinfo=timezone.utc)
    assert choose_restore_point("2026-10-30T03:00:00Z", E, L) == (given, "given")
    with pytest.raises(DrillGuardError, match="outside the restore window"):
        choose_restore_point("2026-10-01T03:00:00Z", E, L)
    points = [choose_restore_point("random", E, L, random.Random(seed))[0] for seed in range(20)]
    assert all(E <= p <= L for p in points) and len(set(points)) > 10


def test_target_names_and_validation():
    now = datetime(2026, 11, 1, 6, 7, tzinfo=timezone.utc)
    assert target_names("medicapp-db-restore", now) == ["medicapp-db-restore-20261101",
                                                        "medicapp-db-restore-20261101-0607"]
    longest = target_names("a" * 49, now)[1]
    assert len(longest) == 63 and validate_server_name(longest) == longest
    for bad in ("ab", "A-upper", "x" * 64, "ends-", "-starts", "under_score"):
        with pytest.raises(DrillGuardError, match="invalid server name"):
            validate_server_name(bad)


def test_months_between():
    assert months_between(datetime(2026, 11, 30), datetime(2027, 2, 1)) == 3
    assert months_between(datetime(2026, 11, 1), datetime(2026, 11, 30)) == 0


# --- the whole drill's status, one rule ---------------------------------------------------------
@pytest.mark.parametrize("cleanup", ["refused: server t does not carry the drill's tags",
                                     "failed: Conflict; the sweeper deletes it after 2026-11-01T12:00:00Z"])
def test_passing_drill_whose_server_was_not_cleaned_up_warns(cleanup):
    out = evaluate_drill(facts(cleanup=cleanup), S)
    assert out.status.value == "warn"
    assert out.summary.endswith(f"; server t: {cleanup}")
    assert out.details["verification"]["status"] == "pass"  # the restore itself was fine


def test_cleanup_that_worked_keeps_pass_and_a_failed_drill_stays_failed():
    assert evaluate_drill(facts(cleanup="deleted"), S).status.value == "pass"
    kept = evaluate_drill(facts(cleanup="kept until 2026-11-02T12:00:00Z (RESTORE_DRILL_KEEP)"), S)
    assert kept.status.value == "pass"
    failed = evaluate_drill(facts(restored_counts={"p": 101}, cleanup="refused: not ours"), S)
    assert failed.status.value == "fail"
    warned = evaluate_drill(facts(restored_counts={"p": 80}, cleanup="refused: not ours"), S)
    assert warned.status.value == "warn"


@pytest.mark.parametrize("kind,status", [("guard", "fail"), ("conflict", "fail"), ("restore_failed", "fail"),
                                         ("overdue", "fail"), ("azure", "error"), ("", "error")])
def test_a_drill_stopped_before_verification(kind, status):
    out = evaluate_drill(DrillFacts("t", stopped_by=kind, stop_reason="why", stop_summary="drill not started: why",
                                    cleanup="not needed (no server was created)"), S)
    assert out.status.value == status
    assert out.summary == "drill not started: why; server t: not needed (no server was created)"
    assert out.details["verification"] == {"status": "not run", "reason": "why"}


def test_recorded_verification_is_judged_the_same_way():
    """A later invocation re-judges the drill from its recorded verification: same status, same summary."""
    for variant in ({}, {"restored_counts": {"p": 80}}, {"restored_counts": {"p": 101}}, {"restored_revision": "x"}):
        first = evaluate_drill(facts(**variant), S)
        again = evaluate_drill(recorded_facts("t", first.details["verification"], 34.0, "x", ""), S)
        assert (again.status, again.summary) == (first.status, first.summary)


def test_a_drill_stored_before_stopped_by_existed_keeps_its_status():
    """Drill entities written by the previous version (no StoppedBy column) finish with the status decided then."""
    from checks.drill.restore_drill import drill_run
    from checks.drill.state import Drill

    base = Drill(drill_id="20261101T060000Z-aaaaaa", state="failed", trigger="cli", source_server="s",
                 resource_group="rg", target_server="t", requested_at="2026-11-01T06:00:00Z", restore_point="",
                 restore_point_mode="", expires_at="2026-11-01T12:00:00Z", outcome="fail",
                 error="restore failed in Azure: Failed", summary="restore failed in Azure: Failed",
                 cleanup="not needed (the server does not exist)")
    for outcome, status in (("fail", "fail"), ("error", "error")):
        entity = {k: v for k, v in base.to_entity().items() if k != "StoppedBy"}
        entity["Outcome"] = outcome
        run = drill_run(Drill.from_entity(entity), L, S)
        assert run.results[0].status.value == status
    assert Drill.from_entity(base.to_entity()).stopped_by == ""  # a current entity is taken as stored


@pytest.mark.parametrize("tags,drill_id,expected", [
    ({"created-by": "medicapp-backup-verifier", "drill-id": "d1"}, None, True),
    ({"created-by": "medicapp-backup-verifier", "drill-id": "d1"}, "d1", True),
    ({"created-by": "medicapp-backup-verifier", "drill-id": "d1"}, "d2", False),
    ({"created-by": "medicapp-backup-verifier"}, None, False),  # one of the two drill tags only
    ({"created-by": "medicapp-backup-verifier", "drill-id": ""}, None, False),
    ({"drill-id": "d1"}, None, False),
    ({"drill-id": "d1"}, "d1", False),
    ({"created-by": "someone-else", "drill-id": "d1"}, "d1", False),
    ({"created-by": "medicapp-backup-verifier", "drill-id": "d1", "purpose": "incident-restore"}, None, False),
    (None, None, False),
])
def test_a_drill_server_carries_both_drill_tags(tags, drill_id, expected):
    from checks.drill.state import is_drill_server
    assert is_drill_server(tags, drill_id) is expected
