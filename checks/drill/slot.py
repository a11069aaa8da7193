"""One restore drill at a time, decided atomically by the journal: the drill slot.

The slot is one entity (PartitionKey `drill-slot`, RowKey `active`) naming the drill that holds
it. Taking it is a conditional write: an insert when there is none (two inserts: Azure accepts
one, the other gets 409), else a replace with the ETag that was read (two replaces: one gets
412). The loser of either race is refused with DrillActive (HTTP 409) before any ARM call, so
two concurrent starts can never both PUT a server. A finished drill's slot is taken over by the
next start; the slot of a start that crashed before saving its drill is free after STALE_AFTER.

The slot is one for the whole deployment, not one per fleet target: every target's drill restores
into the same RESTORE_DRILL_RESOURCE_GROUP under the same RESTORE_DRILL_PREFIX names, each drill is a
billable server for hours, and one drill timer advances them; so a fleet drills its targets one
after the other. The refusal names the active drill's target.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Iterator

from checks.drill.state import PARTITION, Drill, DrillActive
from checks.engine.timeutil import as_datetime

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


def claim(journal: Any, drill_id: str, now: datetime, target: str = "") -> None:
    """Take the slot for `drill_id` (of fleet target `target`) or raise DrillActive naming the holder
    (or any active drill)."""
    for found in journal.partition(PARTITION):  # drills started before the slot existed
        drill = Drill.from_entity(found)
        if drill.active:
            raise DrillActive(drill.drill_id, drill.state, drill.target_name)
    entity = {"PartitionKey": SLOT_PARTITION, "RowKey": SLOT_ROW, "Kind": "drill-slot", "DrillId": drill_id,
              "ClaimedAt": now, "TargetName": target}
    current = journal.get_entity(SLOT_PARTITION, SLOT_ROW)
    if current is None:
        if journal.insert(entity):
            return
        current = journal.get_entity(SLOT_PARTITION, SLOT_ROW)  # lost the insert race
        row = current[0] if current else {}
        raise DrillActive(row.get("DrillId", "unknown"), "starting", row.get("TargetName") or "")
    row, etag = current
    refusal = _holder(journal, row, now)
    if refusal is not None:
        raise refusal
    if not journal.replace_if_unchanged(entity, etag):  # another start took it since our read
        raise DrillActive("unknown", "starting")


def release(journal: Any, drill_id: str) -> None:
    """Free the slot if `drill_id` still holds it and never saved its drill (a start that failed early)."""
    current = journal.get_entity(SLOT_PARTITION, SLOT_ROW)
    if current is not None and current[0].get("DrillId") == drill_id and journal.get_entity(PARTITION, drill_id) is None:
        journal.replace_if_unchanged({"PartitionKey": SLOT_PARTITION, "RowKey": SLOT_ROW, "Kind": "drill-slot",
                                      "DrillId": "", "ClaimedAt": current[0].get("ClaimedAt")}, current[1])


@contextmanager
def claimed(journal: Any, drill_id: str, now: datetime, target: str = "") -> Iterator[None]:
    """Hold the slot for a start; freed again if the start raises before its drill is saved."""
    claim(journal, drill_id, now, target)
    try:
        yield
    except BaseException:  # broad on purpose: whatever stopped the start (even Ctrl-C) frees the slot, then re-raises
        release(journal, drill_id)
        raise
