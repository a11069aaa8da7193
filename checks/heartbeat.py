"""Daily heartbeat for the dead-man and drill-age alerts: how old is each target's newest full timer run,
and its newest successful restore drill?

A log search alert reads at most two days of logs, so it cannot see a month-long silence by
itself. Once a day the app logs, on logger `checks.heartbeat`, one line per target that the alerts in
infra/modules/alerts.bicep read (WARNING when ok, ERROR otherwise: seen at every LOG_LEVEL):
  verifier heartbeat: ok last run <id> (<status>) finished <iso>, <n> days ago (target <name>)
  verifier heartbeat: overdue last run <id> ... <n> days ago (target <name>)   (older than DEAD_MAN_DAYS)
  verifier heartbeat: overdue no run in the journal in the last 32 days (target <name>)
  verifier heartbeat: unknown journal unavailable: <reason> (target <name>)
  verifier drill age: ok|overdue last successful drill <id> finished <iso>, <n> months ago (target <name>)
  verifier drill age: overdue no successful drill in the journal (target <name>)
  verifier drill age: off restore drill disabled (RESTORE_DRILL_ENABLED=false)
Targets: TARGETS, else the discovered fleet (DISCOVER_TAG; a failed discovery is one `unknown` line), else
TARGET_NAME. Only a full timer run counts (trigger `timer`, not a dry run, not against an override): a hand-made run
of one check keeps nobody alive. The dead-man alert fires on a target whose newest line is not `ok`, and
when no line arrived in two days; the drill-age alert on an `overdue` drill line (DRILL_MAX_AGE_MONTHS).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from checks.engine.model import something_ran
from checks.journal.store import Journal, JournalUnavailable
from checks.engine.timeutil import month_of, months_between, parse_iso
from checks.engine.redact import redact

log = logging.getLogger("checks.heartbeat")

DEAD_MAN_DAYS = 32
PREFIX = "verifier heartbeat:"
DRILL_PREFIX = "verifier drill age:"


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


def full_timer_run(run: dict[str, Any], target: str | None, own: str = "") -> bool:
    """A run that keeps `target` alive (None: any target): the timer's, not a dry run, not against an override,
    a check ran. A run recorded without a target name counts for `own` (the deployment's TARGET_NAME)."""
    recorded = run.get("target") or {}
    if run.get("trigger") != "timer" or run.get("dry_run") or recorded.get("override"):
        return False
    return something_ran(run["counts"]) and (target is None or (recorded.get("name") or own) == target)


def last_completed_run(journal: Journal, now: datetime, days: int = DEAD_MAN_DAYS, target: str | None = None,
                       own: str = "") -> dict[str, Any] | None:
    """The newest full timer run of `target` (None: any target) within `days` days, or None: a run where
    everything was skipped checked nothing, and a run by hand (HTTP, CLI, one check) proves no schedule."""
    for month in months_back(now, days):
        runs = [r for r in journal.list_runs(month) if full_timer_run(r, target, own)]
        if runs:
            return max(runs, key=lambda r: r["finished_at"])
    return None


def heartbeat(journal: Journal | None, now: datetime, days: int = DEAD_MAN_DAYS, target: str | None = None,
              own: str = "") -> dict[str, Any]:
    """Log the heartbeat line of `target` (None: any target, no suffix) and return it as data (state: ok,
    overdue or unknown)."""
    suffix = f" (target {target})" if target is not None else ""
    try:
        if journal is None:
            raise JournalUnavailable("journal not configured")
        run = last_completed_run(journal, now, days, target, own)
    except JournalUnavailable as exc:
        state, text = "unknown", f"journal unavailable: {redact(str(exc))}"
        log.error("%s %s %s%s", PREFIX, state, text, suffix, extra={"heartbeat": state, "target": target})
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
    (log.warning if state == "ok" else log.error)("%s %s %s%s", PREFIX, state, text, suffix,
                                                  extra={"heartbeat": state, "target": target})
    return {"state": state, "message": text, "age_days": age, "run_id": run and run["run_id"]}


def drill_age(drills: Sequence[Any], now: datetime, target: str, own: str, max_months: int) -> dict[str, Any]:
    """Log how long ago `target` last had a successful restore drill (overdue from `max_months`) and return it."""
    from checks.drill.state import SUCCEEDED  # lazy: the heartbeat without drills loads no drill code

    done = [d for d in drills if d.state == SUCCEEDED and (d.target_name or own) == target and d.finished_at]
    if not done:
        state, months, text = "overdue", None, "no successful drill in the journal"
    else:
        last = max(done, key=lambda d: d.finished_at)
        months = months_between(parse_iso(last.finished_at), now)
        state = "ok" if months < max_months else "overdue"
        text = f"last successful drill {last.drill_id} finished {last.finished_at}, {months} months ago"
    (log.warning if state == "ok" else log.error)("%s %s %s (target %s)", DRILL_PREFIX, state, text, target,
                                                  extra={"drill_age": state, "target": target})
    return {"state": state, "message": text, "months": months}


def run_daily(now: datetime | None = None) -> dict[str, Any]:
    """The daily timer: settings → journal → one heartbeat line and one drill-age line per target. Never
    raises (the host would retry)."""
    from checks.engine.config import ConfigError
    from checks.service import load_settings, open_journal

    now = now or datetime.now(timezone.utc)
    try:
        settings = load_settings()
        journal = open_journal(settings)
    except (ConfigError, JournalUnavailable) as exc:
        return heartbeat(_Unavailable(str(exc)), now)
    from checks.connect.discovery import DiscoveryError
    from checks.dispatch.targets import message_targets

    try:  # TARGETS, else the discovered fleet (DISCOVER_TAG), else TARGET_NAME: the targets the timer runs
        names = [t.name for t in message_targets(settings)]
    except DiscoveryError as exc:  # nothing can be verified either: the dead man says so, for every target
        log.error("%s unknown target discovery failed: %s", PREFIX, redact(str(exc)))
        return {"state": "unknown", "message": str(exc)}
    own = settings.target_name or ""
    beats = {name: heartbeat(journal, now, target=name, own=own) for name in names}
    return {"state": _worst(b["state"] for b in beats.values()), "targets": beats,
            "drills": drill_ages(journal, settings, now, names, own)}


def drill_ages(journal: Journal, settings: Any, now: datetime, names: Sequence[str], own: str) -> dict[str, Any]:
    """Each target's drill-age line (or one `off` line when drills are disabled)."""
    if not settings.restore_drill_enabled:
        log.warning("%s off restore drill disabled (RESTORE_DRILL_ENABLED=false)", DRILL_PREFIX)
        return {"state": "off"}
    from checks.drill.restore_drill import load_drills

    try:
        drills = load_drills(journal)
    except JournalUnavailable as exc:
        for name in names:
            log.error("%s unknown journal unavailable: %s (target %s)", DRILL_PREFIX, redact(str(exc)), name)
        return {"state": "unknown"}
    return {name: drill_age(drills, now, name, own, settings.drill_max_age_months) for name in names}


def _worst(states) -> str:
    order = ["ok", "overdue", "unknown"]
    return max(states, key=order.index, default="unknown")


class _Unavailable:
    """Stands in for a journal that could not be opened: the heartbeat reports `unknown`."""

    def __init__(self, reason: str):
        self.reason = reason

    def list_runs(self, month: str) -> list[dict[str, Any]]:
        raise JournalUnavailable(self.reason)
