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
