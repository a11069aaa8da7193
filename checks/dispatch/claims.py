"""One reservation, then one claim, per (month, target, attempt): a message runs only if the verifier sent it,
and a redelivered message never journals twice.

The entity lives in the journal table, partition `fleet-YYYY-MM` (not the month's own partition:
the month's report reads that one), RowKey `<target>.<attempt>`. The sender (queue_face.fan_out)
**reserves** it before sending the message (State `enqueued`, with create_entity): the attempt
number is allocated here, by the journal, never taken from a message: the timer's is 1, an
on-demand one the next free number from 2 (of two requests at once, each gets its own). A message
whose entity does not exist was not sent by the verifier (a forged or replayed message): the
handler refuses it and writes nothing. A delivery **claims** the reservation (conditional replace
on its ETag, State `claimed`): of two deliveries of one message only one gets it. States:
enqueued, claimed, or poisoned. A run is done when its journal entity carries the message
(Run.origin, column FleetMessage): the run's own transaction marks it, so a message costs no write
after its run. A claim found with no such run belongs to a worker that died: it can be taken over
(conditional replace on its ETag, so of two redeliveries only one does). Claims written `done` by
earlier versions still count as done.

Who asked for the run is the reservation's to say, never the message's: the sender writes the caller
(RequestedByObjectId/Name: the Entra caller of POST /api/verify, `timer` for the monthly fan-out,
`function key` for a caller the function-key opt-out does not identify) with the reservation, and the
worker journals the run under that caller (`Claim.requested_by`). A message has no caller field (one
with it is not a fleet message), so a forged or edited message cannot claim one. A reservation written
before callers were recorded reads as `unknown`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from checks.dispatch.message import MAX_ATTEMPT, FleetMessage
from checks.engine.timeutil import as_datetime, month_of

ENQUEUED, CLAIMED, DONE, POISONED = "enqueued", "claimed", "done", "poisoned"  # done: earlier versions only
TIMER, FUNCTION_KEY, UNKNOWN = "timer", "function key", "unknown"  # callers with no Entra object id
MAX_CALLER_CHARS = 200  # checks/engine/principal.py MAX_NAME_CHARS: a longer stored name is not the sender's


def partition(month: str) -> str:
    return f"fleet-{month}"


@dataclass
class Claim:
    entity: dict[str, Any]
    etag: str | None
    fresh: bool  # this delivery claimed it (its reservation was still `enqueued`)

    @property
    def state(self) -> str:
        return str(self.entity.get("State", ""))

    @property
    def run_id(self) -> str:
        return str(self.entity.get("RunId", ""))

    @property
    def claimed_at(self) -> datetime:
        return as_datetime(self.entity.get("ClaimedAt"))

    @property
    def requested_by(self) -> dict[str, str]:
        return reserved_caller(self.entity)


def caller_columns(trigger: str, requested_by: dict[str, str] | None) -> dict[str, str]:
    """The reservation's caller columns: the Entra caller, else `timer` or `function key` (no object id)."""
    if requested_by:
        return {"RequestedByObjectId": requested_by["object_id"], "RequestedByName": requested_by["name"]}
    return {"RequestedByObjectId": "", "RequestedByName": {"timer": TIMER, "http": FUNCTION_KEY}.get(trigger, UNKNOWN)}


def reserved_caller(entity: dict[str, Any]) -> dict[str, str]:
    """{"object_id", "name"} the sender recorded with the reservation; `unknown` when it recorded none (a
    reservation of an earlier version) or the columns are not short printable texts."""
    object_id, name = entity.get("RequestedByObjectId", ""), entity.get("RequestedByName")
    texts = isinstance(object_id, str) and isinstance(name, str) and bool(name)
    if not texts or not all(len(v) <= MAX_CALLER_CHARS and v.isprintable() for v in (object_id, name)):
        return {"object_id": "", "name": UNKNOWN}
    return {"object_id": object_id, "name": name}


class Claims:
    """The claims of the fleet's messages, in the journal table (checks/journal/store.py Journal)."""

    def __init__(self, journal: Any):
        self.journal = journal

    def reserve(self, message: FleetMessage, now: datetime, requested_by: dict[str, str] | None = None) -> bool:
        """Record that the verifier sends this message, and for whom; False when it was reserved already."""
        entity = dict(_entity(message, ENQUEUED, now, 0), EnqueuedAt=now,
                      **caller_columns(message.trigger, requested_by))
        del entity["ClaimedAt"]
        return self.journal.insert(entity)

    def allocate(self, month: str, names: Iterable[str], trigger: str, now: datetime,
                 requested_by: dict[str, str] | None = None) -> list[FleetMessage]:
        """Reserve one message per target: attempt 1 for the timer (a second firing re-sends the same
        message, a duplicate), else each target's next free attempt from 2. DispatchError when none is left.
        `requested_by`: the Entra caller who asked (recorded with each reservation; None: timer or function key)."""
        if trigger == "timer":
            messages = [FleetMessage(month, name, 1, trigger) for name in names]
            for message in messages:
                self.reserve(message, now)
            return messages
        highest, messages = self.attempts(month), []
        for name in names:
            attempt = max(highest.get(name, 0), 1) + 1
            while attempt <= MAX_ATTEMPT and not self.reserve(FleetMessage(month, name, attempt, trigger), now,
                                                              requested_by):
                attempt += 1  # taken by a request at the same moment: the next one
            if attempt > MAX_ATTEMPT:
                from checks.dispatch.queue import DispatchError
                from checks.engine.i18n import msg
                raise DispatchError(msg("target {target}: no attempt number left for {month} (at most {limit})",
                                        target=name, month=month, limit=MAX_ATTEMPT))
            messages.append(FleetMessage(month, name, attempt, trigger))
        return messages

    def claim(self, message: FleetMessage, now: datetime, dequeue_count: int) -> Claim | None:
        """Claim the message's reservation, or read the claim a previous delivery made; None when the
        verifier never reserved it (not its message)."""
        for _ in range(3):  # an enqueued reservation claimed by another delivery in between: read it again
            found = self.journal.get_entity(partition(message.month), message.key)
            if found is None:
                return None
            entity, etag = found
            if entity.get("State") != ENQUEUED:
                return Claim(entity, etag, fresh=False)
            mine = dict(entity, State=CLAIMED, ClaimedAt=now, DequeueCount=dequeue_count)
            if self.journal.replace_if_unchanged(mine, etag):
                return Claim(mine, None, fresh=True)
        return Claim(entity, etag, fresh=False)

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
        """{target: highest attempt reserved or claimed this month}: one partition query (unreadable rows ignored)."""
        highest: dict[str, int] = {}
        for row in self.journal.query("PartitionKey eq @pk and Kind eq 'claim'", {"pk": partition(month)}):
            name, attempt = row.get("TargetName"), row.get("Attempt")
            if isinstance(name, str) and type(attempt) is int and 1 <= attempt <= MAX_ATTEMPT:
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
