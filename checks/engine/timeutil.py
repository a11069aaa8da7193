"""Time and month helpers, the one place for them (stdlib only; 3.11 `fromisoformat` reads `Z`).

Three output forms exist on purpose, each kept where the journal already uses it:
`iso_z` ("2026-11-01T06:00:00Z", drill state and the report), `iso_seconds` (UTC, seconds,
"+00:00", the PostgreSQL checks) and `iso_or_none` (the value's own `isoformat()`, Blob checks).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

MONTH_RE = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")  # YYYY-MM, ASCII digits, 2000-2099
EPOCH = datetime.fromtimestamp(0, timezone.utc)
_DAY_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Times given as input (flags, HTTP fields, settings) lie in the years the months do (2000-2099): far
# enough from datetime's limits (years 1 and 9999) that an offset, a margin or a window never overflows.
INPUT_EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)
INPUT_LATEST = datetime(2099, 12, 31, 23, 59, 59, tzinfo=timezone.utc)


class TimeInputError(ValueError):
    """A time given as input is refused; `kind` says why: form (not ISO 8601), zone (none given) or
    range (outside INPUT_EARLIEST .. INPUT_LATEST, or beyond what a datetime can hold in UTC)."""

    def __init__(self, kind: str, text: str):
        self.kind, self.text = kind, text
        super().__init__(f"{kind}: {text!r}")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def to_utc(value: datetime | None) -> datetime | None:
    """Aware UTC; a naive value is taken as UTC (the SDKs and the journal mean UTC)."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def iso_z(moment: datetime | None) -> str:
    """'2026-11-01T06:00:00Z' ('' for None); a time UTC cannot hold (year 1 at +01:00) as it is."""
    if not moment:
        return ""
    try:
        return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    except OverflowError:
        return moment.isoformat()


def iso_seconds(value: datetime | None) -> str | None:
    """UTC to the second, '+00:00' (None for None)."""
    return to_utc(value).isoformat(timespec="seconds") if value is not None else None


def iso_or_none(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def parse_iso(text: str | None) -> datetime | None:
    """ISO 8601 (a trailing Z allowed) → aware datetime (naive = UTC); None for ''/None.

    Raises ValueError for anything else.
    """
    if not text:
        return None
    value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def input_time(text: Any, zone_required: bool = True) -> datetime:
    """A time given as input (ISO 8601, Z allowed) -> aware UTC datetime inside the input range.

    The one validation of every time a person or a caller gives (CLI flags, HTTP fields, settings).
    Raises TimeInputError (kind form | zone | range); without `zone_required` a naive time is UTC.
    """
    raw = text if isinstance(text, str) else ""
    value_text = raw.strip()
    if not value_text or not value_text.isascii() or not value_text.isprintable():
        raise TimeInputError("form", raw)
    try:
        value = datetime.fromisoformat(value_text.replace("Z", "+00:00"))
    except ValueError:
        raise TimeInputError("form", raw) from None
    if value.tzinfo is None:
        if zone_required:
            raise TimeInputError("zone", raw)
        value = value.replace(tzinfo=timezone.utc)
    try:
        value = value.astimezone(timezone.utc)  # year 1 at +01:00 or year 9999 at -01:00 cannot be held in UTC
    except OverflowError:
        raise TimeInputError("range", raw) from None
    if not INPUT_EARLIEST <= value <= INPUT_LATEST:
        raise TimeInputError("range", raw)
    return value


def input_day(text: Any) -> date:
    """A day given as input (YYYY-MM-DD) inside the input range; TimeInputError (form | range)."""
    raw = text if isinstance(text, str) else ""
    try:
        day = date.fromisoformat(raw.strip()) if _DAY_RE.fullmatch(raw.strip()) else None
    except ValueError:  # 2026-02-30
        day = None
    if day is None:
        raise TimeInputError("form", raw)
    if not INPUT_EARLIEST.date() <= day <= INPUT_LATEST.date():
        raise TimeInputError("range", raw)
    return day


def shifted(moment: datetime, delta: timedelta) -> datetime:
    """`moment + delta`, held at datetime's limits instead of raising OverflowError (window arithmetic
    on a time read from Azure or the journal)."""
    try:
        return moment + delta
    except OverflowError:
        limit = datetime.max if delta > timedelta(0) else datetime.min
        return limit.replace(tzinfo=moment.tzinfo)


def as_datetime(value: Any) -> datetime:
    """A journal property (datetime, ISO string, or missing) → aware datetime; the epoch when missing."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return EPOCH


def journal_iso(value: Any) -> str:
    """A journal property (see as_datetime) as `iso_z`."""
    return iso_z(as_datetime(value))


def plain(value: Any) -> Any:
    """A database value made JSON-safe: dates as ISO strings, scalars as they are, the rest as str."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)


def month_of(moment: datetime) -> str:
    """'YYYY-MM' of a moment, in UTC."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m")


def this_month() -> str:
    return month_of(utcnow())


def is_month(value: Any) -> bool:
    return isinstance(value, str) and MONTH_RE.fullmatch(value) is not None


def month_and_previous(now: datetime) -> list[str]:
    """[this month, last month] of `now` as 'YYYY-MM'."""
    first = now.date().replace(day=1)
    return [first.strftime("%Y-%m"), (first - timedelta(days=1)).strftime("%Y-%m")]


def months_between(earlier: datetime, later: datetime) -> int:
    """Calendar months from `earlier` to `later` (Nov 30 → Dec 1 is 1)."""
    return (later.year * 12 + later.month) - (earlier.year * 12 + earlier.month)


def minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)
