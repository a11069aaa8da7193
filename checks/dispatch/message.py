"""The fleet queue's message: which target to verify for which month, and which attempt it is.

JSON, small and versioned: {"schema": 1, "month": "2026-11", "target": "prod", "attempt": 1,
"trigger": "timer"}, plus "deferred": n on a copy sent again because the target was busy
(handler.py). (month, target, attempt) is the message's identity: a redelivered or deferred copy of
it is recognised by its claim (claims.py) and never journals a second run.

A message is read as untrusted input: at most MAX_MESSAGE_BYTES, nesting checked before json.loads
(a flat object; `[[[...` never reaches the parser's recursion), no duplicate keys, no NaN, every
field checked. Its month must be the current one (`in_window`): a month that ended less than
MONTH_LATE_SECONDS ago (a deferred or retried message of the last day), or one that starts within
CLOCK_AHEAD_SECONDS (the sender's clock a little ahead). Whether the verifier sent it at all is the
journal's to say (claims.py: its reservation), never the message's.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from checks.engine.jsonnesting import json_nesting
from checks.engine.redact import redact
from checks.engine.timeutil import month_of

SCHEMA = 1
TRIGGERS = ("timer", "http", "cli")
_MONTH = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")
_TARGET = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # checks/engine/fleet.py NAME_FORM
MAX_ATTEMPT = 9999
MAX_DEFERRED = 99
MAX_MESSAGE_BYTES = 1024  # a message is about 100 bytes; the queue itself allows 64 KiB
MONTH_LATE_SECONDS = 2 * 3600  # > 12 deferrals of 5 min + 5 host deliveries 5 min apart (tests/test_evidence_queue.py)
CLOCK_AHEAD_SECONDS = 300      # the sender's clock ahead of this one


class BadMessage(ValueError):
    """A queue message that is not a fleet message (the text says which field and the expected form)."""


@dataclass(frozen=True)
class FleetMessage:
    month: str      # YYYY-MM: the month whose journal the run belongs to
    target: str     # a name of the fleet (TARGETS or TARGET_NAME)
    attempt: int = 1  # 1 = the monthly timer's; an on-demand run takes the next free number
    trigger: str = "timer"
    schema: int = SCHEMA
    deferred: int = 0  # times it was sent again because its target's run lease was held

    def to_json(self) -> str:
        data = asdict(self)
        if not self.deferred:
            del data["deferred"]  # the first copy reads exactly as before deferral existed
        return json.dumps(data, sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """The message's identity, also the claim's RowKey: target.attempt (month = partition)."""
        return f"{self.target}.{self.attempt:04d}"

    @property
    def origin(self) -> str:
        """What the run it asks for carries (Run.origin, journal column FleetMessage): month/target.attempt."""
        return f"{self.month}/{self.key}"

    @classmethod
    def from_text(cls, text: str | bytes) -> "FleetMessage":
        """Parse a message body; BadMessage naming the field and its expected form (never RecursionError)."""
        if isinstance(text, bytes):
            if len(text) > MAX_MESSAGE_BYTES:
                raise BadMessage(f"message: {len(text)} bytes, more than a fleet message's {MAX_MESSAGE_BYTES}")
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise BadMessage("message: expected UTF-8 JSON text") from None
        if not isinstance(text, str) or len(text.encode("utf-8", "replace")) > MAX_MESSAGE_BYTES:
            size = len(text.encode("utf-8", "replace")) if isinstance(text, str) else 0
            raise BadMessage(f"message: {size} bytes, more than a fleet message's {MAX_MESSAGE_BYTES}")
        if json_nesting(text) > 1:
            raise BadMessage(f"message: expected a flat JSON object, got nested arrays or objects: {shown(text)}")
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
        except BadMessage:
            raise
        except ValueError:
            raise BadMessage(f"message: expected JSON like {cls('2026-11', 'prod').to_json()}, "
                             f"got {shown(text)}") from None
        if not isinstance(data, dict):
            raise BadMessage("message: expected a JSON object")
        return cls(**_checked(data))

    def in_window(self, now: datetime) -> bool:
        """Its month is the current one at `now`, give or take the documented skew (module docstring)."""
        return month_of(now - timedelta(seconds=MONTH_LATE_SECONDS)) <= self.month <= month_of(
            now + timedelta(seconds=CLOCK_AHEAD_SECONDS))


def shown(value: Any, limit: int = 60) -> str:
    """A value of a refused message as a log may show it: repr (NUL and control characters escaped), cut, redacted."""
    text = repr(value)
    return redact(text if len(text) <= limit else text[:limit] + "...")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise BadMessage(f"message: field(s) given twice: {shown(', '.join(twice))}")
    return dict(pairs)


def _no_constant(name: str) -> Any:
    raise BadMessage(f"message: {name} is not a JSON number")


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    schema = data.get("schema")
    if isinstance(schema, bool) or not isinstance(schema, int) or schema != SCHEMA:
        raise BadMessage(f"schema: expected {SCHEMA}, got {shown(schema)} (a newer verifier wrote it?)")
    unknown = sorted(set(data) - {"schema", "month", "target", "attempt", "trigger", "deferred"})
    if unknown:
        raise BadMessage(f"unknown field(s) {shown(', '.join(unknown))}; expected month, target, attempt, trigger, "
                         "schema (and deferred)")
    month, target, attempt, trigger = (data.get(k) for k in ("month", "target", "attempt", "trigger"))
    deferred = data.get("deferred", 0)
    if isinstance(deferred, bool) or not isinstance(deferred, int) or not 0 <= deferred <= MAX_DEFERRED:
        raise BadMessage(f"deferred: expected an integer from 0 to {MAX_DEFERRED}, got {shown(deferred)}")
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise BadMessage(f"month: expected YYYY-MM, got {shown(month)}")
    if not isinstance(target, str) or not _TARGET.fullmatch(target):
        raise BadMessage(f"target: expected a target name (lowercase letters, digits, hyphens), got {shown(target)}")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= MAX_ATTEMPT:
        raise BadMessage(f"attempt: expected an integer from 1 to {MAX_ATTEMPT}, got {shown(attempt)}")
    if not isinstance(trigger, str) or trigger not in TRIGGERS:
        raise BadMessage(f"trigger: expected one of {', '.join(TRIGGERS)}, got {shown(trigger)}")
    return {"month": month, "target": target, "attempt": attempt, "trigger": trigger, "schema": SCHEMA,
            "deferred": deferred}
