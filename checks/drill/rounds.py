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
never a retry every tick. A target that fails before any drill record is written (its source server not
found, its settings, Azure refusing) is counted in the round's `Attempts` (tries, last error, when): it is
tried again on the next ticks up to ROUND_MAX_TRIES times, then waits for next month's round.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, Sequence

from checks.drill.state import SUCCEEDED, Drill
from checks.engine.timeutil import as_datetime, iso_z, months_between, parse_iso

log = logging.getLogger("checks.drill.rounds")
ROUND_PARTITION = "drill-round"
DETAIL_MAX = 30000
ROUND_MAX_TRIES = 3  # a target that cannot start is tried this often in a round, then next month
ERROR_MAX = 300


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
    # target -> {"tries": n, "last_at": ISO time, "error": text}: starts that failed before a drill was recorded
    attempts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def started(self, drills: Sequence[Drill], own: str) -> list[str]:
        """The round's targets with a drill requested since the round began (or active)."""
        return [n for n in self.due if any(d.active or parse_iso(d.requested_at) >= self.started_at
                                           for d in _of(drills, n, own))]

    def gave_up(self) -> list[str]:
        """The round's targets that failed to start ROUND_MAX_TRIES times: next month's round tries them again."""
        return [n for n in self.due if int(self.attempts.get(n, {}).get("tries", 0)) >= ROUND_MAX_TRIES]

    def pending(self, drills: Sequence[Drill], own: str) -> list[str]:
        """The round's targets not started yet (no drill requested since the round began, none active) and
        not given up (ROUND_MAX_TRIES failed starts)."""
        done = set(self.started(drills, own)) | set(self.gave_up())
        return [n for n in self.due if n not in done]

    def state_of(self, name: str, drills: Sequence[Drill], own: str) -> tuple[str | None, int]:
        """(state, failed tries) of `name` in the round: started | gave_up | failed_start (tried, will be again) |
        waiting; None when the round does not hold it (not due this month)."""
        tries = int(self.attempts.get(name, {}).get("tries", 0))
        if name not in self.due:
            return None, 0
        if name in self.started(drills, own):
            return "started", tries
        if tries >= ROUND_MAX_TRIES:
            return "gave_up", tries
        return ("failed_start" if tries else "waiting"), tries

    def describe(self, drills: Sequence[Drill], own: str, limit: int | None = None) -> dict[str, Any]:
        """The round as `drill status` shows it: due, started, pending (waiting for a place when `limit`,
        RESTORE_DRILL_MAX_CONCURRENT, drills are active; else for the next drill timer tick), failed starts
        (tries, last error) and the targets given up until next month."""
        active = sum(1 for d in drills if d.active)
        return {"month": self.month, "started_at": iso_z(self.started_at), "due": list(self.due),
                "started": self.started(drills, own), "pending": self.pending(drills, own),
                "waiting_for_place": limit is not None and active >= limit, "active": active, "limit": limit,
                "failed_starts": {n: dict(a) for n, a in self.attempts.items()}, "gave_up": self.gave_up(),
                "max_tries": ROUND_MAX_TRIES}


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
        attempts = json.loads(row.get("Attempts") or "{}")
        attempts = attempts if isinstance(attempts, dict) else {}  # unreadable attempts: counted again from 0
        return Round(month_of(now), as_datetime(row.get("StartedAt")), tuple(str(n) for n in names),
                     {str(k): v for k, v in attempts.items() if isinstance(v, dict) and isinstance(v.get("tries"), int)})
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


def record_failed_start(journal: Any, now: datetime, name: str, error: str) -> int:
    """Count a failed start of `name` in the month's round (a conditional replace: racing timers each count
    theirs) and return its tries so far; 0 when there is no round to count in (the caller still reports it)."""
    for _ in range(5):
        found = journal.get_entity(ROUND_PARTITION, month_of(now))
        if found is None:
            return 0
        row, etag = found
        try:
            attempts = json.loads(row.get("Attempts") or "{}")
        except ValueError:
            attempts = {}
        attempts = attempts if isinstance(attempts, dict) else {}
        mine = attempts.get(name) if isinstance(attempts.get(name), dict) else {}
        tries = (mine.get("tries") if isinstance(mine.get("tries"), int) else 0) + 1
        attempts[name] = {"tries": tries, "last_at": iso_z(now), "error": error[:ERROR_MAX]}
        text = _fitted(attempts)
        if text is None:
            log.warning("drill round %s: too many failed starts to count %s's (journal property size)",
                        month_of(now), name)
            return 0
        if journal.replace_if_unchanged(dict(row, Attempts=text), etag):
            return tries
    log.warning("drill round %s: the failed start of %s was not counted (the round kept changing)", month_of(now), name)
    return 0


def _fitted(attempts: dict[str, dict[str, Any]]) -> str | None:
    """The attempts as JSON within a table property (32K characters): errors shortened, then left out."""
    for keep in (ERROR_MAX, 60, 0):
        text = json.dumps({n: {k: (v[:keep] if k == "error" else v) for k, v in a.items() if keep or k != "error"}
                           for n, a in attempts.items()})
        if len(text) <= DETAIL_MAX:
            return text
    return None
