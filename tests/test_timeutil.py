"""checks/engine/timeutil.py: the one home of the time and month helpers (three ISO forms on purpose)."""
from datetime import date, datetime, timedelta, timezone

import pytest

from checks.engine import timeutil as tu

T = datetime(2026, 11, 1, 6, 0, 5, 123456, tzinfo=timezone.utc)


def test_output_forms():
    assert tu.iso_z(T) == "2026-11-01T06:00:05.123456Z" and tu.iso_z(None) == ""
    assert tu.iso_seconds(T) == "2026-11-01T06:00:05+00:00" and tu.iso_seconds(None) is None
    assert tu.iso_seconds(datetime(2026, 11, 1, 7, 0, tzinfo=timezone(timedelta(hours=1)))) == "2026-11-01T06:00:00+00:00"
    assert tu.iso_or_none(T) == T.isoformat() and tu.iso_or_none(None) is None
    assert tu.journal_iso("2026-11-01T06:00:00+00:00") == "2026-11-01T06:00:00Z"
    assert tu.plain(date(2026, 11, 1)) == "2026-11-01" and tu.plain(3) == 3 and tu.plain(b"x") == "b'x'"


def test_parsing():
    assert tu.parse_iso("2026-11-01T06:00:00Z") == datetime(2026, 11, 1, 6, tzinfo=timezone.utc)
    assert tu.parse_iso("2026-11-01T06:00:00").tzinfo is timezone.utc  # naive = UTC
    assert tu.parse_iso("") is None and tu.parse_iso(None) is None
    with pytest.raises(ValueError):
        tu.parse_iso("yesterday")
    assert tu.as_datetime(None) == tu.EPOCH and tu.as_datetime(datetime(2026, 1, 1)).tzinfo is timezone.utc
    assert tu.to_utc(datetime(2026, 1, 1)).tzinfo is timezone.utc and tu.to_utc(None) is None


def test_months():
    assert tu.is_month("2026-11") and not tu.is_month("2026-13") and not tu.is_month("2026-1") and not tu.is_month(None)
    assert tu.month_of(datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-2)))) == "2026-12"
    assert tu.month_and_previous(datetime(2026, 1, 15, tzinfo=timezone.utc)) == ["2026-01", "2025-12"]
    assert tu.months_between(datetime(2026, 11, 30), datetime(2026, 12, 1)) == 1
    assert tu.minutes(timedelta(minutes=34, seconds=6)) == 34.1
