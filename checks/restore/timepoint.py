"""Times a person types for a restore: ISO 8601 WITH a zone (a time without one is ambiguous on a bad day)."""
from __future__ import annotations

from datetime import datetime

from checks.engine.i18n import msg


def parse_zoned(flag: str, text: str | None, latest_allowed: bool = False) -> tuple[datetime | None, str]:
    """(time, reason): reason is '' when `text` is an ISO time with a zone, else says what `flag` expects
    (`latest_allowed`: the flag also takes the word latest, and the reason says so)."""
    value_text = (text or "").strip()
    try:
        value = datetime.fromisoformat(value_text.replace("Z", "+00:00"))
    except ValueError:
        if latest_allowed:
            return None, msg("{flag} {value} is not 'latest' or an ISO time with a zone, e.g. 2026-11-26T03:00:00Z",
                             flag=flag, value=repr(value_text))
        return None, msg("{flag} {value} is not an ISO time with a zone, e.g. 2026-11-26T03:00:00Z", flag=flag,
                         value=repr(value_text))
    if value.tzinfo is None:
        return None, msg("{flag} {value} has no time zone: add Z (UTC) or an offset, e.g. {example}", flag=flag,
                         value=repr(value_text), example=f"{value_text}Z")
    return value, ""
