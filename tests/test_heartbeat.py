"""The daily heartbeat behind the dead-man alert, against a real journal table in Azurite."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from checks import heartbeat
from checks.engine.config import Settings
from checks.journal.store import Journal
from checks.engine.model import CheckResult, Run, Severity, Status

NOW = datetime(2026, 3, 1, 6, 30, tzinfo=timezone.utc)


def write_run(journal: Journal, finished: datetime, run_id: str, status: Status = Status.PASS) -> None:
    started = finished - timedelta(minutes=2)
    journal.write_run(Run(run_id=run_id, trigger="timer", started_at=started, finished_at=finished,
                          results=[CheckResult("x.y", "t", status, Severity.HIGH, "s", {}, "r", started, 5)]))


def journal_for(base_env) -> Journal:
    return Journal.from_settings(Settings.from_env(base_env))


def test_months_back_covers_32_days_across_a_short_february():
    assert heartbeat.months_back(NOW, 32) == ["2026-03", "2026-02", "2026-01"]
    assert heartbeat.months_back(datetime(2026, 11, 20, tzinfo=timezone.utc), 10) == ["2026-11"]


def test_recent_run_in_an_older_partition_is_ok(base_env, caplog):
    journal = journal_for(base_env)
    write_run(journal, datetime(2026, 2, 1, 6, 5, tzinfo=timezone.utc), "20260201T060300Z-aaaaaa", Status.FAIL)
    write_run(journal, datetime(2026, 1, 1, 6, 5, tzinfo=timezone.utc), "20260101T060300Z-bbbbbb")
    with caplog.at_level(logging.INFO, logger="checks.heartbeat"):
        beat = heartbeat.heartbeat(journal, NOW)
    assert beat["state"] == "ok" and beat["run_id"] == "20260201T060300Z-aaaaaa" and beat["age_days"] == 28.0
    (line,) = [r.getMessage() for r in caplog.records if r.name == "checks.heartbeat"]
    assert line.startswith("verifier heartbeat: ok last run 20260201T060300Z-aaaaaa (fail) finished 2026-02-01T06:05")
    assert line.endswith("28.0 days ago")


def test_run_older_than_32_days_is_overdue_and_logged_as_error(base_env, caplog):
    journal = journal_for(base_env)
    write_run(journal, datetime(2026, 1, 28, 6, 0, tzinfo=timezone.utc), "20260128T055800Z-cccccc")
    with caplog.at_level(logging.INFO, logger="checks.heartbeat"):
        beat = heartbeat.heartbeat(journal, NOW)
    assert beat["state"] == "overdue" and beat["age_days"] == 32.0
    # 32 days and 30 minutes: over the limit even though it prints as 32.0
    (record,) = [r for r in caplog.records if r.name == "checks.heartbeat"]
    assert record.levelno == logging.ERROR and record.getMessage().startswith("verifier heartbeat: overdue last run")


def test_empty_journal_is_overdue(base_env):
    beat = heartbeat.heartbeat(journal_for(base_env), NOW)
    assert beat == {"state": "overdue", "message": "no run in the journal in the last 32 days",
                    "age_days": None, "run_id": None}


def test_unconfigured_journal_is_unknown_not_ok(monkeypatch, caplog):
    for name in ("AzureWebJobsStorage", "JOURNAL_ACCOUNT_URL"):
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level(logging.INFO, logger="checks.heartbeat"):
        beat = heartbeat.run_daily(NOW)
    assert beat["state"] == "unknown" and "journal not configured" in beat["message"]
    (line,) = [r.getMessage() for r in caplog.records if r.name == "checks.heartbeat"]
    assert line.startswith("verifier heartbeat: unknown journal unavailable:")


def test_age_boundary_exactly_32_days_is_ok_one_second_more_is_overdue(base_env):
    journal = journal_for(base_env)
    finished = NOW - timedelta(days=heartbeat.DEAD_MAN_DAYS)
    write_run(journal, finished, "20260128T062800Z-dddddd")
    assert heartbeat.heartbeat(journal, NOW)["state"] == "ok"
    assert heartbeat.heartbeat(journal, NOW + timedelta(seconds=1))["state"] == "overdue"


# --- issue 28 item 5: only full timer runs, per target; the drill age ----------------------------------------

def write_target_run(journal: Journal, finished: datetime, run_id: str, trigger: str = "timer", target: str = "",
                     override: bool = False, dry_run: bool = False) -> None:
    from checks.engine.target import Target

    started = finished - timedelta(minutes=2)
    run = Run(run_id=run_id, trigger=trigger, started_at=started, finished_at=finished, dry_run=dry_run,
              results=[CheckResult("x.y", "t", Status.PASS, Severity.HIGH, "s", {}, "r", started, 5)])
    run.target = Target(name=target, override=override) if target else None
    journal.write_run(run)


def test_a_run_by_hand_or_against_an_override_keeps_nobody_alive(base_env):
    """Pins the old defect: an HTTP or CLI run (one check, by hand) reset the dead man for a month."""
    journal = journal_for(base_env)
    write_target_run(journal, datetime(2026, 1, 20, 6, 0, tzinfo=timezone.utc), "20260120T055800Z-aaaaaa")
    write_target_run(journal, datetime(2026, 2, 27, 9, 0, tzinfo=timezone.utc), "20260227T085800Z-bbbbbb", "http")
    write_target_run(journal, datetime(2026, 2, 28, 9, 0, tzinfo=timezone.utc), "20260228T085800Z-cccccc", "cli")
    write_target_run(journal, datetime(2026, 2, 28, 10, 0, tzinfo=timezone.utc), "20260228T095800Z-dddddd",
                     target="production", override=True)
    beat = heartbeat.heartbeat(journal, NOW)
    assert beat["state"] == "overdue" and beat["run_id"] == "20260120T055800Z-aaaaaa"


def test_the_daily_beat_is_per_target_and_a_silent_target_is_overdue(base_env, env_patch, caplog):
    targets = '[{"name": "prod-a"}, {"name": "prod-b"}]'
    env_patch(base_env | {"TARGETS": targets})
    journal = journal_for(base_env)
    write_target_run(journal, datetime(2026, 2, 28, 6, 0, tzinfo=timezone.utc), "20260228T055800Z-aaaaaa",
                     target="prod-a")
    with caplog.at_level(logging.INFO, logger="checks.heartbeat"):
        beat = heartbeat.run_daily(NOW)
    assert {name: b["state"] for name, b in beat["targets"].items()} == {"prod-a": "ok", "prod-b": "overdue"}
    assert beat["state"] == "overdue" and beat["drills"] == {"state": "off"}
    lines = sorted(r.getMessage() for r in caplog.records if r.name == "checks.heartbeat")
    assert lines[0] == "verifier drill age: off restore drill disabled (RESTORE_DRILL_ENABLED=false)"
    assert lines[1].startswith("verifier heartbeat: ok last run 20260228T055800Z-aaaaaa") and \
        lines[1].endswith("(target prod-a)")
    assert lines[2] == "verifier heartbeat: overdue no run in the journal in the last 32 days (target prod-b)"


def drill_done(drill_id: str, finished: str, target: str = "", state: str = "succeeded"):
    from checks.drill.state import Drill
    return Drill(drill_id=drill_id, state=state, trigger="timer", source_server="db", resource_group="rg-drills",
                 target_server="db-restore", requested_at=finished, restore_point="", restore_point_mode="latest",
                 expires_at=finished, finished_at=finished, target_name=target)


def test_drill_age_is_overdue_from_drill_max_age_months_and_counts_only_successes(caplog):
    eleven = drill_done("20250401T060000Z-aaaaaa", "2025-04-01T07:00:00+00:00", "prod-a")
    twelve = drill_done("20250301T060000Z-bbbbbb", "2025-03-01T07:00:00+00:00", "prod-b")
    failed = drill_done("20260201T060000Z-cccccc", "2026-02-01T07:00:00+00:00", "prod-b", state="failed")
    own = drill_done("20260101T060000Z-dddddd", "2026-01-01T07:00:00+00:00")  # recorded without a target name
    drills = [failed, own, eleven, twelve]
    with caplog.at_level(logging.INFO, logger="checks.heartbeat"):
        got = {name: heartbeat.drill_age(drills, NOW, name, "production", 12)
               for name in ("prod-a", "prod-b", "production", "prod-c")}
    assert {n: (g["state"], g["months"]) for n, g in got.items()} == {
        "prod-a": ("ok", 11), "prod-b": ("overdue", 12), "production": ("ok", 2), "prod-c": ("overdue", None)}
    levels = {r.getMessage().rsplit("(target ", 1)[1]: r.levelno for r in caplog.records}
    assert levels == {"prod-a)": logging.WARNING, "prod-b)": logging.ERROR, "production)": logging.WARNING,
                      "prod-c)": logging.ERROR}


def test_drill_max_age_months_is_validated():
    from checks.engine.config import ConfigError

    assert Settings.from_env({}).drill_max_age_months == 12
    assert Settings.from_env({"DRILL_MAX_AGE_MONTHS": "6"}).drill_max_age_months == 6
    for bad in ("0", "121", "twelve", "-1", "1e3"):
        try:
            Settings.from_env({"DRILL_MAX_AGE_MONTHS": bad})
        except ConfigError as exc:
            assert "DRILL_MAX_AGE_MONTHS" in str(exc)
        else:
            raise AssertionError(bad)


def test_the_daily_run_reads_the_drills_in_the_journal_when_drills_are_on(base_env, env_patch, caplog):
    env_patch(base_env | {"RESTORE_DRILL_ENABLED": "true", "DRILL_MAX_AGE_MONTHS": "3"})
    journal = journal_for(base_env)
    journal.upsert(drill_done("20251101T060000Z-aaaaaa", "2025-11-01T07:00:00+00:00", "production").to_entity())
    with caplog.at_level(logging.INFO, logger="checks.heartbeat"):
        beat = heartbeat.run_daily(NOW)
    assert beat["drills"]["production"]["state"] == "overdue" and beat["drills"]["production"]["months"] == 4
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("verifier drill age:")]
    assert line == ("verifier drill age: overdue last successful drill 20251101T060000Z-aaaaaa finished "
                    "2025-11-01T07:00:00+00:00, 4 months ago (target production)")


def test_a_discovered_fleet_beats_for_each_discovered_target_and_a_failed_discovery_is_unknown(
        base_env, env_patch, monkeypatch, caplog):
    from checks.connect import discovery
    from checks.dispatch import targets as dispatch_targets
    from checks.engine.fleet import FleetTarget

    env_patch(base_env | {"DISCOVER_TAG": "backup-verify", "AZURE_SUBSCRIPTION_ID": "00000000-0000-0000-0000-000000000001"})
    monkeypatch.setattr(dispatch_targets, "_found", {})
    monkeypatch.setattr(discovery, "discover_fleet", lambda settings: (FleetTarget("found-a"),))
    journal = journal_for(base_env)
    write_target_run(journal, datetime(2026, 2, 28, 6, 0, tzinfo=timezone.utc), "20260228T055800Z-aaaaaa",
                     target="found-a")
    assert {n: b["state"] for n, b in heartbeat.run_daily(NOW)["targets"].items()} == {"found-a": "ok"}

    def broken(settings):
        raise discovery.DiscoveryError("Resource Graph: 403")
    monkeypatch.setattr(dispatch_targets, "_found", {})
    monkeypatch.setattr(discovery, "discover_fleet", broken)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="checks.heartbeat"):
        assert heartbeat.run_daily(NOW)["state"] == "unknown"
    (record,) = [r for r in caplog.records if r.name == "checks.heartbeat"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "verifier heartbeat: unknown target discovery failed: Resource Graph: 403"
