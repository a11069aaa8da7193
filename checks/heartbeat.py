"""Daily heartbeat for the dead-man alert: how old is the newest completed run in the journal?

A log search alert reads at most two days of logs, so it cannot see a month-long silence by
itself. Once a day the app logs one line, on logger `checks.heartbeat`, that the alert in
infra/modules/alerts.bicep reads:
  verifier heartbeat: ok last run <id> (<status>) finished <iso>, <n> days ago
  verifier heartbeat: overdue last run <id> ... <n> days ago   (older than DEAD_MAN_DAYS)
  verifier heartbeat: overdue no run in the journal in the last 32 days
  verifier heartbeat: unknown journal unavailable: <reason>
The alert fires on a newest line that is not `ok`, and when no line arrived in two days.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from checks.engine.model import something_ran
from checks.journal.store import Journal, JournalUnavailable
from checks.engine.timeutil import month_of, parse_iso
from checks.engine.redact import redact

log = logging.getLogger("checks.heartbeat")

DEAD_MAN_DAYS = 32
PREFIX = "verifier heartbeat:"


def months_back(now: datetime, days: int) -> list[str]:
    """Journal partitions (YYYY-MM) that cover the last `days` days, newest first."""
    months: list[str] = []
    day = now.astimezone(timezone.utc)
    oldest = day - timedelta(days=days)
    while True:
        month = month_of(day)
        if month not in months:
            months.append(month)
        if day <= oldest:
            return months
        day = max(oldest, day.replace(day=1) - timedelta(seconds=1))


def last_completed_run(journal: Journal, now: datetime, days: int = DEAD_MAN_DAYS) -> dict[str, Any] | None:
    """The newest run summary in the journal within `days` days (any trigger) in which a check
    ran, or None: a run where everything was skipped checked nothing and keeps no one alive."""
    for month in months_back(now, days):
        runs = [r for r in journal.list_runs(month) if something_ran(r["counts"])]
        if runs:
            return max(runs, key=lambda r: r["finished_at"])
    return None


def heartbeat(journal: Journal | None, now: datetime, days: int = DEAD_MAN_DAYS) -> dict[str, Any]:
    """Log the heartbeat line and return it as data (state: ok, overdue or unknown)."""
    try:
        if journal is None:
            raise JournalUnavailable("journal not configured")
        run = last_completed_run(journal, now, days)
    except JournalUnavailable as exc:
        state, text = "unknown", f"journal unavailable: {redact(str(exc))}"
        log.warning("%s %s %s", PREFIX, state, text, extra={"heartbeat": state})
        return {"state": state, "message": text}
    if run is None:
        state, age = "overdue", None
        text = f"no run in the journal in the last {days} days"
    else:
        finished = parse_iso(run["finished_at"])
        elapsed = now - finished
        age = round(elapsed.total_seconds() / 86400, 1)
        state = "ok" if elapsed <= timedelta(days=days) else "overdue"
        text = f"last run {run['run_id']} ({run['status']}) finished {run['finished_at']}, {age} days ago"
    # an ok beat is a WARNING: at LOG_LEVEL=warning or error it must still reach the dead-man alert
    (log.warning if state == "ok" else log.error)("%s %s %s", PREFIX, state, text, extra={"heartbeat": state})
    return {"state": state, "message": text, "age_days": age, "run_id": run and run["run_id"]}


def run_daily(now: datetime | None = None) -> dict[str, Any]:
    """The daily timer: settings → journal → heartbeat line. Never raises (the host would retry)."""
    from checks.engine.config import ConfigError
    from checks.service import load_settings, open_journal

    now = now or datetime.now(timezone.utc)
    try:
        journal = open_journal(load_settings())
    except (ConfigError, JournalUnavailable) as exc:
        return heartbeat(_Unavailable(str(exc)), now)
    return heartbeat(journal, now)


class _Unavailable:
    """Stands in for a journal that could not be opened: the heartbeat reports `unknown`."""

    def __init__(self, reason: str):
        self.reason = reason

    def list_runs(self, month: str) -> list[dict[str, Any]]:
        raise JournalUnavailable(self.reason)
