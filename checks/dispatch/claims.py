"""One claim per (month, target, attempt), so a redelivered queue message never journals twice.

A claim is an entity of the journal table, partition `fleet-YYYY-MM` (not the month's own
partition: the month's report reads that one), RowKey `<target>.<attempt>`. It is created with
create_entity: of two deliveries of one message only one gets it (the other gets
ResourceExistsError). States: claimed, or poisoned. A run is done when its journal entity carries
the message (Run.origin, column FleetMessage): the run's own transaction marks it, so a message costs
no write after its run. A claim found with no such run belongs to a worker that died: it
can be taken over (conditional replace on its ETag, so of two redeliveries only one does). Claims
written `done` by earlier versions still count as done.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checks.dispatch.message import FleetMessage
from checks.engine.timeutil import as_datetime, month_of

CLAIMED, DONE, POISONED = "claimed", "done", "poisoned"  # done: written by earlier versions only


def partition(month: str) -> str:
    return f"fleet-{month}"


@dataclass
class Claim:
    entity: dict[str, Any]
    etag: str | None
    fresh: bool  # this delivery created it

    @property
    def state(self) -> str:
        return str(self.entity.get("State", ""))

    @property
    def run_id(self) -> str:
        return str(self.entity.get("RunId", ""))

    @property
    def claimed_at(self) -> datetime:
        return as_datetime(self.entity.get("ClaimedAt"))


class Claims:
    """The claims of the fleet's messages, in the journal table (checks/journal/store.py Journal)."""

    def __init__(self, journal: Any):
        self.journal = journal

    def claim(self, message: FleetMessage, now: datetime, dequeue_count: int) -> Claim:
        """Create the message's claim, or read the one a previous delivery created."""
        entity = _entity(message, CLAIMED, now, dequeue_count)
        if self.journal.insert(entity):
            return Claim(entity, None, fresh=True)
        found = self.journal.get_entity(entity["PartitionKey"], entity["RowKey"])
        if found is None:  # deleted in between: claim again
            return self.claim(message, now, dequeue_count)
        return Claim(found[0], found[1], fresh=False)

    def take_over(self, claim: Claim, now: datetime, dequeue_count: int) -> bool:
        """Re-run a message whose previous delivery never finished; False when another delivery did first."""
        entity = dict(claim.entity, State=CLAIMED, ClaimedAt=now, DequeueCount=dequeue_count,
                      Takeovers=int(claim.entity.get("Takeovers", 0)) + 1)
        return self.journal.replace_if_unchanged(entity, claim.etag)

    def finish(self, message: FleetMessage, state: str, run_id: str = "", **columns: Any) -> None:
        entity = {"PartitionKey": partition(message.month), "RowKey": message.key, "Kind": "claim",
                  "State": state, "RunId": run_id, **columns}
        self.journal.upsert(entity)  # merge: the claim's other columns stay

    def attempts(self, month: str) -> dict[str, int]:
        """{target: highest attempt claimed this month}: one partition query."""
        highest: dict[str, int] = {}
        for row in self.journal.query("PartitionKey eq @pk and Kind eq 'claim'", {"pk": partition(month)}):
            name, attempt = str(row.get("TargetName", "")), int(row.get("Attempt", 0))
            highest[name] = max(highest.get(name, 0), attempt)
        return highest

    def poison_marker(self, message: FleetMessage, now: datetime, dequeue_count: int) -> bool:
        """True for the first poisoned delivery of this message only (a redelivered poison message is a no-op)."""
        entity = dict(_entity(message, POISONED, now, dequeue_count), RowKey=f"{message.key}.poison", Kind="poison")
        return self.journal.insert(entity)


def journaled_run(journal: Any, message: FleetMessage, since: datetime, until: datetime) -> str | None:
    """The id of the run journaled for `message` (it started between `since` and `until`), or None.

    One query per month the run may have started in (the claim's, and the next one's past midnight)."""
    for month in sorted({month_of(since), month_of(until)}):
        rows = journal.query("PartitionKey eq @pk and Kind eq 'run' and FleetMessage eq @m",
                             {"pk": month, "m": message.origin})
        if rows:
            return str(rows[0]["RunId"])
    return None


def _entity(message: FleetMessage, state: str, now: datetime, dequeue_count: int) -> dict[str, Any]:
    return {"PartitionKey": partition(message.month), "RowKey": message.key, "Kind": "claim",
            "Month": message.month, "TargetName": message.target, "Attempt": message.attempt,
            "Trigger": message.trigger, "State": state, "RunId": "", "ClaimedAt": now,
            "DequeueCount": dequeue_count, "Takeovers": 0}
