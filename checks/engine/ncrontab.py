"""NCRONTAB validation, field by field, as the Azure Functions timer trigger reads it.

Six fields: second minute hour day month day-of-week. Each field is `*`, a value, a range `a-b`,
a step `*/n`, `a-b/n` or `a/n`, or a comma list of those; months and days of the week also take
English names (JAN-DEC, SUN-SAT, or in full). The Functions host refuses a bad schedule when it
loads the app; validating here names the variable and the field before anything is deployed.
"""
from __future__ import annotations

import re

from checks.engine.valueparse import N_, form, form_n, invalid, reason_of

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september",
           "october", "november", "december"]
_DAYS = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]
# (field name, lowest, highest, names mapped to values)
FIELDS = (
    (N_("second"), 0, 59, {}),
    (N_("minute"), 0, 59, {}),
    (N_("hour"), 0, 23, {}),
    (N_("day"), 1, 31, {}),
    (N_("month"), 1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    (N_("day of week"), 0, 6, {name: i for i, name in enumerate(_DAYS)}),
)
_ITEM = re.compile(r"(?P<range>\*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)?)(?:/(?P<step>\d+))?")
EXAMPLE = N_("e.g. '0 0 6 1 * *' (second minute hour day month day-of-week)")


def _value(token: str, lo: int, hi: int, names: dict[str, int], field: str) -> int:
    if token.isdigit():
        value = int(token)
    else:
        matches = {v for name, v in names.items() if len(token) >= 3 and name.startswith(token.lower())}
        if len(matches) != 1:
            allowed = form("{lo}-{hi} or a name ({names})", lo=str(lo), hi=str(hi),
                           names=", ".join(n[:3].upper() for n in names)) if names else f"{lo}-{hi}"
            raise invalid("{field} field: {token} is not a value in {allowed}", field=form(field), token=repr(token),
                          allowed=allowed)
        value = matches.pop()
    if not lo <= value <= hi:
        raise invalid("{field} field: {value} is out of range {range}", field=form(field), value=str(value),
                      range=f"{lo}-{hi}")
    return value


def _check_item(item: str, lo: int, hi: int, names: dict[str, int], field: str) -> None:
    match = _ITEM.fullmatch(item)
    if not match:
        raise invalid("{field} field: {item} is not *, a value, a range a-b or a step */n", field=form(field),
                      item=repr(item))
    span, step = match.group("range"), match.group("step")
    if step is not None and not 1 <= int(step) <= hi - lo + 1:
        raise invalid("{field} field: step /{step} must be between 1 and {most}", field=form(field), step=step,
                      most=str(hi - lo + 1))
    if span == "*":
        return
    first, _, last = span.partition("-")
    start = _value(first, lo, hi, names, field)
    if last and _value(last, lo, hi, names, field) < start:
        raise invalid("{field} field: range {span} runs backwards", field=form(field), span=repr(span))


def validate(expression: str) -> str:
    """The expression, stripped, or ValueError naming the first bad field and what it allows."""
    value = expression.strip()
    parts = value.split()
    if len(parts) != len(FIELDS):
        raise invalid("expected an NCRONTAB expression with 6 fields, {example}; got {count} in {value}",
                      example=form(EXAMPLE), value=repr(value),
                      count=form_n("{count} field", "{count} fields", count=len(parts)))
    try:
        for part, (field, lo, hi, names) in zip(parts, FIELDS):
            for item in part.split(","):
                _check_item(item, lo, hi, names, field)
    except ValueError as exc:
        raise invalid("expected an NCRONTAB expression, {example}; {reason} in {value}", example=form(EXAMPLE),
                      reason=reason_of(exc), value=repr(value)) from None
    return value
