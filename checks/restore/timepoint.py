"""Times a person types for a restore: ISO 8601 WITH a zone (a time without one is ambiguous on a bad day)."""
from __future__ import annotations

from datetime import datetime


def parse_zoned(flag: str, text: str | None) -> tuple[datetime | None, str]:
    """(time, reason): reason is '' when `text` is an ISO time with a zone, else says what `flag` expects."""
    value_text = (text or "").strip()
    try:
        value = datetime.fromisoformat(value_text.replace("Z", "+00:00"))
    except ValueError:
        return None, f"{flag} {value_text!r} is not an ISO time with a zone, e.g. 2026-11-26T03:00:00Z"
    if value.tzinfo is None:
        return None, f"{flag} {value_text!r} has no time zone: add Z (UTC) or an offset, e.g. {value_text}Z"
    return value, ""
