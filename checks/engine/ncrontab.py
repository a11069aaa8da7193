"""NCRONTAB validation, field by field, as the Azure Functions timer trigger reads it.

Six fields: second minute hour day month day-of-week. Each field is `*`, a value, a range `a-b`,
a step `*/n`, `a-b/n` or `a/n`, or a comma list of those; months and days of the week also take
English names (JAN-DEC, SUN-SAT, or in full). The Functions host refuses a bad schedule when it
loads the app; validating here names the variable and the field before anything is deployed.
"""
from __future__ import annotations

import re

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]
_DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
# (field name, lowest, highest, names mapped to values)
FIELDS = (
    ("second", 0, 59, {}),
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day", 1, 31, {}),
    ("month", 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {name: i for i, name in enumerate(_DAYS)}),
)
_ITEM = re.compile(r"(?P<range>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?")
EXAMPLE = "e.g. '0 0 6 1 * *' (second minute hour day month day-of-week)"


def _value(token: str, lo: int, hi: int, names: dict[str, int], field: str) -> int:
    if token.isdigit():
        value = int(token)
    else:
        matches = {v for name, v in names.items() if len(token) >= 3 and name.startswith(token.lower())}
        if len(matches) != 1:
            allowed = f"{lo}-{hi}" + (" or a name (" + ", ".join(n[:3].upper() for n in names) + ")" if names else "")
            raise ValueError(f"{field} field: {token!r} is not a value in {allowed}")
        value = matches.pop()
    if not lo <= value <= hi:
        raise ValueError(f"{field} field: {value} is out of range {lo}-{hi}")
    return value


def _check_item(item: str, lo: int, hi: int, names: dict[str, int], field: str) -> None:
    match = _ITEM.fullmatch(item)
    if not match:
        raise ValueError(f"{field} field: {item!r} is not *, a value, a range a-b or a step */n")
    span, step = match.group("range"), match.group("step")
    if step is not None and not 1 <= int(step) <= hi - lo + 1:
        raise ValueError(f"{field} field: step /{step} must be between 1 and {hi - lo + 1}")
    if span == "*":
        return
    first, _, last = span.partition("-")
    start = _value(first, lo, hi, names, field)
    if last and _value(last, lo, hi, names, field) < start:
        raise ValueError(f"{field} field: range {span!r} runs backwards")


def validate(expression: str) -> str:
    """The expression, stripped, or ValueError naming the first bad field and what it allows."""
    value = expression.strip()
    parts = value.split()
    if len(parts) != len(FIELDS):
        raise ValueError(f"expected an NCRONTAB expression with 6 fields, {EXAMPLE}; got {len(parts)} "
                         f"field{'s' if len(parts) != 1 else ''} in {value!r}")
    try:
        for part, (field, lo, hi, names) in zip(parts, FIELDS):
            for item in part.split(","):
                _check_item(item, lo, hi, names, field)
    except ValueError as exc:
        raise ValueError(f"expected an NCRONTAB expression, {EXAMPLE}; {exc} in {value!r}") from None
    return value
