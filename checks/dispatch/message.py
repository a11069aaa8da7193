"""The fleet queue's message: which target to verify for which month, and which attempt it is.

JSON, small and versioned: {"schema": 1, "month": "2026-11", "target": "prod", "attempt": 1,
"trigger": "timer"}, plus "deferred": n on a copy sent again because the target was busy
(handler.py). (month, target, attempt) is the message's identity: a redelivered or deferred copy of
it is recognised by its claim (claims.py) and never journals a second run.
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

SCHEMA = 1
TRIGGERS = ("timer", "http", "cli")
_MONTH = re.compile(r"20[0-9]{2}-(0[1-9]|1[0-2])")
_TARGET = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")  # checks/engine/fleet.py NAME_FORM
MAX_ATTEMPT = 9999
MAX_DEFERRED = 99


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
        """Parse a message body; BadMessage naming the field and its expected form."""
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise BadMessage("message: expected UTF-8 JSON text") from None
        try:
            data = json.loads(text)
        except ValueError:
            raise BadMessage(f"message: expected JSON like {cls('2026-11', 'prod').to_json()}, "
                             f"got {text[:60]!r}") from None
        if not isinstance(data, dict):
            raise BadMessage("message: expected a JSON object")
        return cls(**_checked(data))


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    if data.get("schema") != SCHEMA:
        raise BadMessage(f"schema: expected {SCHEMA}, got {data.get('schema')!r} (a newer verifier wrote it?)")
    unknown = sorted(set(data) - {"schema", "month", "target", "attempt", "trigger", "deferred"})
    if unknown:
        raise BadMessage(f"unknown field(s) {', '.join(unknown)}; expected month, target, attempt, trigger, schema "
                         "(and deferred)")
    month, target, attempt, trigger = (data.get(k) for k in ("month", "target", "attempt", "trigger"))
    deferred = data.get("deferred", 0)
    if isinstance(deferred, bool) or not isinstance(deferred, int) or not 0 <= deferred <= MAX_DEFERRED:
        raise BadMessage(f"deferred: expected an integer from 0 to {MAX_DEFERRED}, got {deferred!r}")
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise BadMessage(f"month: expected YYYY-MM, got {month!r}")
    if not isinstance(target, str) or not _TARGET.fullmatch(target):
        raise BadMessage(f"target: expected a target name (lowercase letters, digits, hyphens), got {target!r}")
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= MAX_ATTEMPT:
        raise BadMessage(f"attempt: expected an integer from 1 to {MAX_ATTEMPT}, got {attempt!r}")
    if trigger not in TRIGGERS:
        raise BadMessage(f"trigger: expected one of {', '.join(TRIGGERS)}, got {trigger!r}")
    return {"month": month, "target": target, "attempt": attempt, "trigger": trigger, "schema": SCHEMA,
            "deferred": deferred}
