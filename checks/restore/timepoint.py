"""Times a person types for a restore: ISO 8601 WITH a zone (a time without one is ambiguous on a bad day),
inside the input range every face shares (checks/engine/timeutil.input_time: years 2000-2099)."""
from __future__ import annotations

from datetime import datetime

from checks.engine.i18n import msg
from checks.engine.timeutil import INPUT_EARLIEST, INPUT_LATEST, TimeInputError, input_time, iso_z


SHOWN = 100  # characters of a refused value quoted back at most (a huge value is not echoed whole)


def quoted(value: str) -> str:
    """`value` as a reason quotes it: repr (control characters escaped), at most SHOWN characters."""
    text = repr(value)
    return text if len(text) <= SHOWN else text[:SHOWN - 2] + "…" + text[-1]


def out_of_range(flag: str, value: str) -> str:
    """Why `value` given for `flag` is refused: outside the input range (or beyond what UTC can hold)."""
    return msg("{flag} {value} is out of range: expected a time between {earliest} and {latest}", flag=flag,
               value=quoted(value), earliest=iso_z(INPUT_EARLIEST), latest=iso_z(INPUT_LATEST))


def parse_zoned(flag: str, text: str | None, latest_allowed: bool = False) -> tuple[datetime | None, str]:
    """(time in UTC, reason): reason is '' when `text` is an ISO time with a zone inside the input range,
    else says what `flag` expects (`latest_allowed`: the flag also takes the word latest, and the reason says so)."""
    value_text = (text or "").strip() if isinstance(text, str) else str(text)
    try:
        return input_time(text), ""
    except TimeInputError as exc:
        kind = exc.kind
    if kind == "zone":
        return None, msg("{flag} {value} has no time zone: add Z (UTC) or an offset, e.g. {example}", flag=flag,
                         value=quoted(value_text), example=f"{value_text[:SHOWN]}Z")
    if kind == "range":
        return None, out_of_range(flag, value_text)
    if latest_allowed:
        return None, msg("{flag} {value} is not 'latest' or an ISO time with a zone, e.g. 2026-11-26T03:00:00Z",
                         flag=flag, value=quoted(value_text))
    return None, msg("{flag} {value} is not an ISO time with a zone, e.g. 2026-11-26T03:00:00Z", flag=flag,
                     value=quoted(value_text))
