"""One restore drill per target and at most RESTORE_DRILL_MAX_CONCURRENT at once, decided atomically by
the journal: the drill slot.

The slot is one entity (PartitionKey `drill-slot`, RowKey `active`) listing the drills that hold it
(column Holders, JSON: drill id, target, claimed at, the token of the invocation that last wrote the
entry). Every change is a conditional write of that one entity: an insert when there is none (two
inserts: Azure accepts one, the other gets 409), else a replace with the ETag that was read (two
replaces: one gets 412, re-reads and decides again). So both rules hold together, whatever the number
of timers racing: a start is refused with DrillActive (HTTP 409) before any ARM call when its target
already has a live drill, and with DrillBusy when RESTORE_DRILL_MAX_CONCURRENT drills are live. A
holder is live while its drill is active, or, not saved yet, for STALE_AFTER after its claim; the
next write drops the others (a finished drill's entry, a start that crashed before saving).

Holding is checked, not assumed: `claim` and `hold` return a `Held` (the token this invocation expects in
its entry); `Held.confirm` re-reads the slot and rewrites its entry (refreshing its claim time) only if
the entry still carries that token. A start confirms after its reads and again right before its PUT; an
invocation advancing a drill confirms before every write of the drill record and right before the DELETE
of its server. A caller whose confirmation fails raises SlotLost (a DrillActive: HTTP 409, exit 1, logged
by the timers) and writes nothing more: never a PUT, never a DELETE of another drill's server. Another
drill's confirmation only changes the ETag, never this entry: the write is retried on the new ETag.

A slot written before one slot per target (columns DrillId, TargetName, ClaimedAt, Holder) reads as that
one holder. A drill recorded without a target (before drills named theirs) counts against every target.
"""
from __future__ import annotations

import json
import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

from checks.drill.state import ABANDONED, PARTITION, Drill, DrillActive
from checks.engine.i18n import msg
from checks.engine.model import JournalUnavailable
from checks.engine.timeutil import as_datetime, iso_z, parse_iso

log = logging.getLogger("checks.drill.slot")
SLOT_PARTITION, SLOT_ROW = "drill-slot", "active"
STALE_AFTER = timedelta(minutes=15)
ATTEMPTS = 20  # conditional writes lost to another drill's write before giving up (then: refused, retried later)


@dataclass(frozen=True)
class Entry:
    """One holder of the slot as stored."""
    drill_id: str
    target: str
    claimed_at: datetime
    token: str

    def stored(self) -> dict[str, str]:
        return {"drill": self.drill_id, "target": self.target, "claimed": iso_z(self.claimed_at), "token": self.token}


def _entries(row: dict[str, Any]) -> list[Entry]:
    """The holders the slot entity lists (an unreadable list: none; the drill records still count)."""
    if "Holders" not in row:  # written before one slot per target: one holder in columns of its own
        return [Entry(row["DrillId"], row.get("TargetName") or "", as_datetime(row.get("ClaimedAt")),
                      row.get("Holder") or "")] if row.get("DrillId") else []
    try:
        items = json.loads(row.get("Holders") or "[]")
        return [Entry(str(i["drill"]), str(i.get("target") or ""), parse_iso(i.get("claimed")), str(i.get("token")))
                for i in items if isinstance(i, dict) and i.get("drill")]
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("drill slot unreadable (%s): its holders are ignored, active drill records still count", exc)
        return []


def _slot_entity(entries: list[Entry]) -> dict[str, Any]:
    return {"PartitionKey": SLOT_PARTITION, "RowKey": SLOT_ROW, "Kind": "drill-slot",
            "Holders": json.dumps([e.stored() for e in entries])}


def _drills(journal: Any) -> dict[str, Drill]:
    return {d.drill_id: d for d in (Drill.from_entity(e) for e in journal.partition(PARTITION))}


def _live(entry: Entry, drills: dict[str, Drill], now: datetime) -> DrillActive | None:
    """The refusal naming `entry`'s drill while it holds the slot (active, or starting and fresh), else None."""
    drill = drills.get(entry.drill_id)
    if drill is None:  # claimed, not saved yet: starting, or crashed before saving
        fresh = now - entry.claimed_at < STALE_AFTER
        return DrillActive(entry.drill_id, "starting", entry.target) if fresh else None
    return DrillActive(drill.drill_id, drill.state, drill.target_name) if drill.active else None


def _same_target(a: str, b: str) -> bool:
    """A drill without a target (recorded before drills named theirs) is the deployment's own: any target."""
    return a == b or not a or not b


class DrillBusy(DrillActive):
    """RESTORE_DRILL_MAX_CONCURRENT drills are live: no other starts until one finishes (HTTP 409, exit 1)."""

    def __init__(self, live: list[DrillActive], limit: int):
        first = live[0] if live else DrillActive("unknown", "starting")
        super().__init__(first.drill_id, first.state, first.target)
        self.limit, self.live = limit, [d.drill_id for d in live]
        self.reason = msg("RESTORE_DRILL_MAX_CONCURRENT is {limit} and that many restore drills are active "
                          "({drills}): this one starts when one of them finishes", limit=limit,
                          drills=", ".join(f"{d.drill_id} ({d.target or '-'})" for d in live))
        Exception.__init__(self, self.reason)


class SlotLost(DrillActive):
    """`lost` held the slot and does no longer: another start (`holder`), or another invocation advancing
    the same drill, wrote its entry since. The caller stops: nothing more to Azure or to the drill's record."""

    def __init__(self, lost: str, holder: DrillActive):
        super().__init__(holder.drill_id, holder.state, holder.target)
        self.lost = lost
        if holder.drill_id == lost:
            self.reason = msg("another invocation is advancing restore drill {lost} (it wrote the drill slot since "
                              "this one read it); this one stopped without writing to Azure or to the drill",
                              lost=lost)
        else:
            self.reason = msg("restore drill {lost} lost the drill slot to drill {drill_id} ({state}): a start "
                              "that stalls longer than {minutes} min loses its claim; {lost} stopped without "
                              "writing to Azure", lost=lost, drill_id=holder.drill_id, state=holder.state,
                              minutes=int(STALE_AFTER.total_seconds() // 60))
        Exception.__init__(self, self.reason)


def _write(journal: Any, entries: list[Entry], current: tuple[dict, str] | None) -> bool:
    """Insert the slot (none read) or replace it if unchanged since read: False when another write came first."""
    entity = _slot_entity(entries)
    return bool(journal.insert(entity) if current is None else journal.replace_if_unchanged(entity, current[1]))


def _read(journal: Any) -> tuple[tuple[dict, str] | None, list[Entry]]:
    current = journal.get_entity(SLOT_PARTITION, SLOT_ROW)
    return current, (_entries(current[0]) if current else [])


@dataclass
class Held:
    """The slot as this invocation holds it for `drill_id`: the token it expects in its entry, its own token."""
    journal: Any
    drill_id: str
    expect: str
    target: str = ""
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def entry(self, now: datetime) -> Entry:
        return Entry(self.drill_id, self.target, now, self.token)

    def confirm(self, now: datetime) -> None:
        """Still ours? Rewrite our entry (fresh claim time, our token) only if it still carries the token we
        expect; SlotLost naming who holds our target when another start or invocation wrote it since."""
        for _ in range(ATTEMPTS):
            current, entries = _read(self.journal)
            mine = next((e for e in entries if e.drill_id == self.drill_id), None)
            if mine is None or mine.token not in (self.token, self.expect):
                raise SlotLost(self.drill_id, holder_of(self.journal, now, self.target)
                               or DrillActive("unknown", "starting"))
            if current is not None and _write(self.journal, [self.entry(now) if e is mine else e for e in entries],
                                              current):
                self.expect = self.token
                return
        raise SlotLost(self.drill_id, DrillActive("unknown", "starting"))


def live_holders(journal: Any, now: datetime) -> list[DrillActive]:
    """The drills holding the slot now (active, or starting and not stale)."""
    current, entries = _read(journal)
    if not entries:
        return []
    drills = _drills(journal)
    return [r for e in entries if (r := _live(e, drills, now)) is not None]


def holder_of(journal: Any, now: datetime, target: str) -> DrillActive | None:
    """The live holder of `target`'s slot, else None."""
    return next((h for h in live_holders(journal, now) if _same_target(h.target, target)), None)


def holder_ids(journal: Any) -> list[str]:
    """The drill ids the slot lists, live or not (tests, `drill status`)."""
    return [e.drill_id for e in _read(journal)[1]]


def claim(journal: Any, drill_id: str, now: datetime, target: str = "", limit: int = 1) -> Held:
    """Take the slot for `drill_id` of fleet target `target`; DrillActive naming the live drill of that
    target, DrillBusy when `limit` drills are live (a drill record active without an entry counts too)."""
    held = Held(journal, drill_id, "", target)
    for _ in range(ATTEMPTS):
        drills = _drills(journal)
        current, entries = _read(journal)
        kept = [e for e in entries if _live(e, drills, now) is not None]
        live = {r.drill_id: r for e in kept if (r := _live(e, drills, now)) is not None}
        live |= {d.drill_id: DrillActive(d.drill_id, d.state, d.target_name) for d in drills.values()
                 if d.active and d.drill_id not in live}
        same = [r for r in live.values() if _same_target(r.target, target)]
        if same:
            raise same[0]
        if len(live) >= limit:
            raise DrillBusy(sorted(live.values(), key=lambda r: r.drill_id), limit)
        if _write(journal, kept + [held.entry(now)], current):
            held.expect = held.token
            return held
    raise DrillActive("unknown", "starting", target)  # the slot kept changing: the next tick tries again


def hold(journal: Any, drill_id: str, now: datetime, target: str = "") -> Held:
    """The slot for an invocation advancing drill `drill_id`: its entry (the usual case: no write now, the
    first `confirm` writes), or, when it has none (a drill started before the slot existed), an entry added
    for it. SlotLost when another live drill holds its target."""
    for _ in range(ATTEMPTS):
        current, entries = _read(journal)
        mine = next((e for e in entries if e.drill_id == drill_id), None)
        if mine is not None:
            return Held(journal, drill_id, mine.token, target)
        drills = _drills(journal)
        kept = [e for e in entries if _live(e, drills, now) is not None]
        other = next((r for e in kept if (r := _live(e, drills, now)) and _same_target(r.target, target)), None)
        if other is not None:
            raise SlotLost(drill_id, other)
        held = Held(journal, drill_id, "", target)
        if _write(journal, kept + [held.entry(now)], current):
            held.expect = held.token
            return held
    raise SlotLost(drill_id, DrillActive("unknown", "starting"))


def release(journal: Any, drill_id: str) -> None:
    """Free the slot of `drill_id` if it holds it and never saved its drill (a start that failed early)."""
    for _ in range(ATTEMPTS):
        current, entries = _read(journal)
        if current is None or drill_id not in {e.drill_id for e in entries} or \
                journal.get_entity(PARTITION, drill_id) is not None:
            return
        if _write(journal, [e for e in entries if e.drill_id != drill_id], current):
            return


@contextmanager
def claimed(journal: Any, drill_id: str, now: datetime, target: str = "", limit: int = 1) -> Iterator[Held]:
    """Hold the slot for a start; freed again if the start raises before its drill is saved."""
    held = claim(journal, drill_id, now, target, limit)
    try:
        yield held
    except BaseException:  # broad on purpose: whatever stopped the start (even Ctrl-C) frees the slot, then re-raises
        release(journal, drill_id)
        raise


def abandon(journal: Any, drill: Drill, now: datetime) -> None:
    """Mark the saved record of a start that lost the slot before its PUT `abandoned` (it never reached Azure;
    an active record would hold up every later drill). Never deleted: the app has no delete right on the journal
    (infra/modules/functionapp.bicep), and readers leave an abandoned record out (checks/drill/records.py)."""
    if not drill.updated_at:  # never saved: nothing to mark
        return
    drill.state, drill.updated_at = ABANDONED, iso_z(now)
    drill.event(now, msg("abandoned: this start lost the drill slot before its restore request; no server created"))
    try:
        journal.upsert(drill.to_entity())  # its own record only: the slot is another's now
    except JournalUnavailable as exc:  # left provisioning: advanced to failed once stale (no server to delete)
        log.error("restore drill %s lost its slot; its record could not be marked abandoned: %s", drill.drill_id, exc)
