"""Deviations in the monthly report and the faces' shared validation (issue 30 item 1).

The month's section: the deviations of the report's target open at the end of the month (or now, for
the current month) with their age, owner and due date, overdue ones marked; and those closed during the
month with the run that proved them fixed. Read from the `deviation` partition (one query), verified
(checks/journal/deviations.py); a journal that cannot be read is a note of the section, never a lost
report.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from checks.engine.i18n import msg
from checks.engine.valueparse import reason_of
from checks.journal.deviations import (MAX_NOTE_CHARS, MAX_OWNER_CHARS, Deviation, JournalUnavailable, check_id_form,
                                       clean_text, read_state)
from checks.report.model import ReportError

TARGET_FORM = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


def known_target(settings: Any, name: Any) -> str:
    """A target name as typed: the fleet's form, and one of the configured targets (ReportError naming it)."""
    from checks.report.fleet import scopes_of
    if not isinstance(name, str) or not TARGET_FORM.fullmatch(name):
        from checks.engine.fleet import NAME_FORM
        raise ReportError(msg("target: expected {form}, got {value}", form=msg(NAME_FORM),
                              value=repr(name[:50] if isinstance(name, str) else name)))
    names = [s.name for s in scopes_of(settings)]
    if name not in names:
        raise ReportError(msg("target: unknown target {name}; known targets: {known}", name=name,
                              known=", ".join(names)))
    return name


def checked_id(value: Any) -> str:
    try:
        return check_id_form(value)
    except ValueError as exc:
        raise ReportError(exc.args[0]) from None


def checked_note(value: Any) -> str:
    try:
        return clean_text(value, "note", MAX_NOTE_CHARS)
    except ValueError as exc:
        raise ReportError(exc.args[0]) from None


def checked_owner(value: Any) -> str:
    try:
        return clean_text(value, "owner", MAX_OWNER_CHARS)
    except ValueError as exc:
        raise ReportError(exc.args[0]) from None


def month_end(month: str, now: datetime) -> datetime:
    """When the month ends (the next month's first instant), or now for the month in progress."""
    year, number = int(month[:4]), int(month[5:7])
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=timezone.utc)
    return min(end, now)


def section(devs: list[Deviation], month: str, target: str, now: datetime, notes: list[str]) -> dict[str, Any]:
    """The report's section (JSON-ready, pure): open at the month's end, closed during the month."""
    end = month_end(month, now)
    start = datetime(int(month[:4]), int(month[5:7]), 1, tzinfo=timezone.utc)
    own = [d for d in devs if d.target == target or not target]
    still_open = [d for d in own if d.first_seen < end and (d.closed_at is None or d.closed_at >= end)]
    closed = [d for d in own if d.closed_at is not None and start <= d.closed_at < end]
    return {"as_of": end.isoformat(),
            "open": [_row(d, end, open_at_end=True) for d in sorted(still_open, key=lambda d: (d.due, d.id))],
            "closed": [_row(d, end, open_at_end=False) for d in sorted(closed, key=lambda d: (d.closed_at, d.id))],
            "notes": list(notes)}


def _row(dev: Deviation, end: datetime, open_at_end: bool) -> dict[str, Any]:
    row = dev.to_dict(end)
    if open_at_end:  # as it stood at the month's end, even if closed since
        row.update(status="open", age_days=max(0, (end - dev.first_seen).days), overdue=dev.due < end)
    return row


def month_deviations(journal: Any, month: str, target: str, now: datetime | None = None) -> dict[str, Any]:
    """The section of `target`'s report of `month` ("" target: a fleet of one, every deviation)."""
    now = now or datetime.now(timezone.utc)
    try:
        state = read_state(journal)
    except JournalUnavailable as exc:
        return section([], month, target, now, [msg("deviations not shown: {reason}", reason=reason_of(exc))])
    return section(list(state.deviations.values()), month, target, now, state.notes())
