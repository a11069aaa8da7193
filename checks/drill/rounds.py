"""Every target drilled on its own cadence: which targets are due, and the month's drill round.

A target is due when it has no successful drill within its cadence (RESTORE_DRILL_EVERY_MONTHS, the
deployment's or the target's own in its TARGETS settings; calendar months, as DRILL_MAX_AGE_MONTHS
counts them), or has never been drilled. A target with an active drill is running, not due.

The monthly run opens the month's round (PartitionKey `drill-round`, RowKey YYYY-MM, written once:
when it started and the due targets, oldest last successful drill first, never drilled first) and
starts as many of them as RESTORE_DRILL_MAX_CONCURRENT allows (checks/drill/slot.py). The drill
timer (RESTORE_DRILL_SCHEDULE, every 10 minutes by default) starts the round's next targets whenever a
drill finishes. A target started in the round (its drill requested since the round began, whatever
its outcome) is not started again in that round: a failed drill waits for the next month's round,
never a retry every tick.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from checks.drill.state import SUCCEEDED, Drill
from checks.engine.timeutil import as_datetime, iso_z, months_between, parse_iso

log = logging.getLogger("checks.drill.rounds")
ROUND_PARTITION = "drill-round"
DETAIL_MAX = 30000


@dataclass(frozen=True)
class Due:
    """A target due for a drill: its name, its last successful drill (None: never), its cadence."""
    name: str
    last: Drill | None
    every_months: int

    def describe(self) -> dict[str, Any]:
        return {"target": self.name, "every_months": self.every_months,
                "last_success": self.last.requested_at if self.last else None,
                "last_drill_id": self.last.drill_id if self.last else None}


def _of(drills: Sequence[Drill], name: str, own: str) -> list[Drill]:
    """The drills of target `name` (a drill recorded without a target is `own`'s; "" in a fleet: nobody's)."""
    return [d for d in drills if (d.target_name or own) == name]


def last_success(drills: Sequence[Drill]) -> Drill | None:
    done = [d for d in drills if d.state == SUCCEEDED]
    return max(done, key=lambda d: parse_iso(d.requested_at)) if done else None


def due_targets(drills: Sequence[Drill], cadences: Mapping[str, int], own: str, now: datetime,
                since: datetime | None = None) -> list[Due]:
    """The targets due now, oldest first (never drilled first, in fleet order; then by their last successful
    drill). `cadences`: each target's months, in fleet order; `since`: leave out a target with a drill
    requested since then (started in this round). Pure."""
    due = []
    for name, every in cadences.items():
        mine = _of(drills, name, own)
        if any(d.active for d in mine):
            continue
        if since is not None and any(parse_iso(d.requested_at) >= since for d in mine):
            continue
        last = last_success(mine)
        if last is None or months_between(parse_iso(last.requested_at), now) >= every:
            due.append(Due(name, last, every))
    return sorted(due, key=lambda d: (d.last is not None, parse_iso(d.last.requested_at) if d.last else now))


@dataclass(frozen=True)
class Round:
    """The month's drill round as stored: when it started, the targets due then (oldest first)."""
    month: str
    started_at: datetime
    due: tuple[str, ...]

    def pending(self, drills: Sequence[Drill], own: str) -> list[str]:
        """The round's targets not started yet (no drill requested since the round began, none active)."""
        return [n for n in self.due if not any(d.active or parse_iso(d.requested_at) >= self.started_at
                                               for d in _of(drills, n, own))]


def month_of(now: datetime) -> str:
    return f"{now:%Y-%m}"


def read_round(journal: Any, now: datetime) -> Round | None:
    """The round of `now`'s month (UTC), None when the monthly run has not opened one (or it is unreadable)."""
    found = journal.get_entity(ROUND_PARTITION, month_of(now))
    if found is None:
        return None
    row = found[0]
    try:
        names = json.loads(row.get("Due") or "[]")
        return Round(month_of(now), as_datetime(row.get("StartedAt")), tuple(str(n) for n in names))
    except (ValueError, TypeError) as exc:
        log.warning("drill round %s unreadable (%s): the next monthly run's round starts the due targets",
                    month_of(now), exc)
        return None


def open_round(journal: Any, now: datetime, due: Sequence[Due]) -> Round:
    """Write the month's round once (an insert: a second monthly run this month keeps the first's) and
    return the round as stored."""
    names = [d.name for d in due]
    while len(json.dumps(names)) > DETAIL_MAX:  # a table property holds 32K characters (about 700 names)
        names = names[:len(names) * 9 // 10]
    if len(names) < len(due):  # the oldest first: the others are due again next month
        log.warning("drill round %s holds the %d oldest due targets of %d (journal property size); the others "
                    "wait for next month's round", month_of(now), len(names), len(due))
    entity = {"PartitionKey": ROUND_PARTITION, "RowKey": month_of(now), "Kind": "drill-round",
              "StartedAt": iso_z(now), "Due": json.dumps(names)}
    detail = json.dumps([d.describe() for d in due[:len(names)]])
    if len(detail) <= DETAIL_MAX:
        entity["Detail"] = detail
    journal.insert(entity)
    return read_round(journal, now) or Round(month_of(now), now, tuple(names))
