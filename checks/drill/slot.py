"""One restore drill at a time, decided atomically by the journal: the drill slot.

The slot is one entity (PartitionKey `drill-slot`, RowKey `active`) naming the drill that holds
it. Taking it is a conditional write: an insert when there is none (two inserts: Azure accepts
one, the other gets 409), else a replace with the ETag that was read (two replaces: one gets
412). The loser of either race is refused with DrillActive (HTTP 409) before any ARM call, so
two concurrent starts can never both PUT a server. A finished drill's slot is taken over by the
next start; the slot of a start that crashed before saving its drill is free after STALE_AFTER.

Holding the slot is checked, not assumed: a start that stalled past STALE_AFTER may find another
start in its place. `claim` and `hold` return a `Held` (the ETag of the slot as its holder last wrote
it, and a token of this invocation); `Held.confirm` is a conditional replace with that ETag, which
refreshes ClaimedAt and the ETag. A start confirms after its reads and again right before its PUT; an
invocation advancing a drill confirms before every write of the drill record and right before the
DELETE of its server. A caller whose confirmation fails raises SlotLost (a DrillActive: HTTP 409, exit
1, logged by the timers) and writes nothing more: never a PUT, never a DELETE of another drill's server.

The slot is one for the whole deployment, not one per fleet target: every target's drill restores
into the same RESTORE_DRILL_RESOURCE_GROUP under the same RESTORE_DRILL_PREFIX names, each drill is a
billable server for hours, and one drill timer advances them; so a fleet drills its targets one
after the other. The refusal names the active drill's target.
"""
from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterator

from checks.drill.state import ABANDONED, PARTITION, Drill, DrillActive
from checks.engine.i18n import msg
from checks.engine.model import JournalUnavailable
from checks.engine.timeutil import as_datetime, iso_z

log = logging.getLogger("checks.drill.slot")
SLOT_PARTITION, SLOT_ROW = "drill-slot", "active"
STALE_AFTER = timedelta(minutes=15)


def _holder(journal: Any, row: dict[str, Any], now: datetime) -> DrillActive | None:
    """The refusal naming the drill holding the slot if it is still active, else None (slot free)."""
    holder = row.get("DrillId") or ""
    if not holder:
        return None
    found = journal.get_entity(PARTITION, holder)
    if found is None:  # claimed, not saved yet: starting, or crashed before saving
        fresh = now - as_datetime(row.get("ClaimedAt")) < STALE_AFTER
        return DrillActive(holder, "starting", row.get("TargetName") or "") if fresh else None
    drill = Drill.from_entity(found[0])
    return DrillActive(drill.drill_id, drill.state, drill.target_name) if drill.active else None


class SlotLost(DrillActive):
    """`lost` held the slot and does no longer: another start (`holder`), or another invocation advancing
    the same drill, wrote it since. The caller stops: nothing more to Azure or to the drill's record."""

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


@dataclass
class Held:
    """The slot as this invocation holds it for `drill_id`: the ETag it last wrote or read, its own token."""
    journal: Any
    drill_id: str
    etag: str
    target: str = ""
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    def entity(self, now: datetime) -> dict[str, Any]:
        return {"PartitionKey": SLOT_PARTITION, "RowKey": SLOT_ROW, "Kind": "drill-slot", "DrillId": self.drill_id,
                "ClaimedAt": now, "TargetName": self.target, "Holder": self.token}

    def confirm(self, now: datetime) -> None:
        """Still ours? Replace the slot only if unchanged since our last write (refreshing ClaimedAt and the
        ETag); SlotLost naming who holds it when another start or invocation wrote it since."""
        if not (self.journal.replace_if_unchanged(self.entity(now), self.etag) and self._reread()):
            raise SlotLost(self.drill_id, current_holder(self.journal, now) or DrillActive("unknown", "starting"))

    def _reread(self) -> bool:
        """Take the new ETag if the slot still carries our token (False: another invocation wrote it since)."""
        found = self.journal.get_entity(SLOT_PARTITION, SLOT_ROW)
        if found is None or found[0].get("Holder") != self.token or found[0].get("DrillId") != self.drill_id:
            return False
        self.etag = found[1]
        return True


def current_holder(journal: Any, now: datetime) -> DrillActive | None:
    """The drill holding the slot now (active, or starting and not stale), else None."""
    found = journal.get_entity(SLOT_PARTITION, SLOT_ROW)
    return _holder(journal, found[0], now) if found else None


def _take(journal: Any, held: Held, now: datetime, etag: str | None) -> bool:
    """Write the slot for `held` (insert when `etag` is None, else replace if unchanged): True when ours."""
    written = journal.insert(held.entity(now)) if etag is None else journal.replace_if_unchanged(held.entity(now), etag)
    return bool(written) and held._reread()


def claim(journal: Any, drill_id: str, now: datetime, target: str = "") -> Held:
    """Take the slot for `drill_id` (of fleet target `target`) or raise DrillActive naming the holder
    (or any active drill)."""
    for found in journal.partition(PARTITION):  # drills started before the slot existed
        drill = Drill.from_entity(found)
        if drill.active:
            raise DrillActive(drill.drill_id, drill.state, drill.target_name)
    held = Held(journal, drill_id, "", target)
    current = journal.get_entity(SLOT_PARTITION, SLOT_ROW)
    if current is None:
        if _take(journal, held, now, None):
            return held
        current = journal.get_entity(SLOT_PARTITION, SLOT_ROW)  # lost the insert race
        row = current[0] if current else {}
        raise DrillActive(row.get("DrillId", "unknown"), "starting", row.get("TargetName") or "")
    row, etag = current
    refusal = _holder(journal, row, now)
    if refusal is not None:
        raise refusal
    if not _take(journal, held, now, etag):  # another start took it since our read
        raise DrillActive("unknown", "starting")
    return held


def hold(journal: Any, drill_id: str, now: datetime, target: str = "") -> Held:
    """The slot for an invocation advancing drill `drill_id`: the slot names it (the usual case: no write
    now, the first `confirm` writes), or nobody holds it (a drill started before the slot existed):
    taken for it. SlotLost when another drill holds it."""
    current = journal.get_entity(SLOT_PARTITION, SLOT_ROW)
    if current is not None and current[0].get("DrillId") == drill_id:
        return Held(journal, drill_id, current[1], target)
    held = Held(journal, drill_id, "", target)
    refusal = _holder(journal, current[0], now) if current is not None else None
    if refusal is None and _take(journal, held, now, current[1] if current is not None else None):
        return held
    raise SlotLost(drill_id, refusal or current_holder(journal, now) or DrillActive("unknown", "starting"))


def release(journal: Any, drill_id: str) -> None:
    """Free the slot if `drill_id` still holds it and never saved its drill (a start that failed early)."""
    current = journal.get_entity(SLOT_PARTITION, SLOT_ROW)
    if current is not None and current[0].get("DrillId") == drill_id and journal.get_entity(PARTITION, drill_id) is None:
        journal.replace_if_unchanged({"PartitionKey": SLOT_PARTITION, "RowKey": SLOT_ROW, "Kind": "drill-slot",
                                      "DrillId": "", "ClaimedAt": current[0].get("ClaimedAt")}, current[1])


@contextmanager
def claimed(journal: Any, drill_id: str, now: datetime, target: str = "") -> Iterator[Held]:
    """Hold the slot for a start; freed again if the start raises before its drill is saved."""
    held = claim(journal, drill_id, now, target)
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
