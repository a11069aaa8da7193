"""The drill server's deletion and its proof (BSI C5 OPS-07: tests documented including safe disposal).

A drill's cleanup deletes its server behind the guards of checks/drill/state.py (one status poll of the
DELETE per invocation, through the SDK's poller) and records the proof in the drill's `disposal`:

* `operation_id` / `operation_url`: the delete operation as Azure named it in its first answer
  (Azure-AsyncOperation, else Location header; the URL without its query);
* `completed_at`: the operation's endTime as Azure reported it (`completed_at_from` "azure"), else when
  this verifier saw it done ("observed");
* `final_get_at` / `final_get_status` 404: a GET of the server after the operation completed answered
  ResourceNotFound.

Only then is the disposal `proven` (cleanup "deleted"). A delete that completed while the server still
answers its GET, failed, or was refused leaves the disposal `pending` (cleanup "disposal pending: ...",
or "failed: ..."/"refused: ..."): the drill stays in cleaning_up and GETs again on later invocations until
RESTORE_DRILL_MAX_HOURS + CLEANUP_GRACE, then ends with its disposal still pending (its status: warn at
best, checks/drill/verify.py) for the sweeper and people to see. The sweeper's deletions record the same
proof (`prove`).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Callable

from checks.drill.lro import LroStep
from checks.drill.state import Drill, DrillGuardError, begin_guarded_delete, get_server, poll_delete
from checks.engine.i18n import msg
from checks.engine.model import CheckError
from checks.engine.timeutil import iso_z as iso, parse_iso

CLEANUP_GRACE = timedelta(hours=24)  # a delete still not proven this long after the deadline is left to the sweeper
PROVEN, PENDING, NOT_NEEDED = "proven", "pending", "not needed"


def operation_fields(step: LroStep) -> dict[str, Any]:
    """The delete operation's id (last segment of its status URL) and its URL without the query."""
    url = (step.operation or "").split("?", 1)[0]
    return {"operation_id": url.rstrip("/").rsplit("/", 1)[-1] or None if url else None,
            "operation_url": url or None}


def completed(record: dict[str, Any], step: LroStep, now: datetime) -> dict[str, Any]:
    """The record of a delete operation that has just finished (succeeded or not)."""
    asked = parse_iso(record.get("delete_requested_at"))  # an endTime before the request or after now: not its own
    end = step.end_time if step.end_time and step.end_time <= now and not (asked and step.end_time < asked) else None
    return dict(record, **{k: v for k, v in operation_fields(step).items() if v},
                operation_status=step.status, completed_at=iso(end or now),
                completed_at_from="azure" if end else "observed")


def absent(record: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The final GET answered 404: the disposal is proven."""
    return dict(record, status=PROVEN, final_get_at=iso(now), final_get_status=404)


def prove(client: Any, resource_group: str, name: str, step: LroStep | None, now: datetime,
          by: str) -> dict[str, Any]:
    """The proof record of one deletion step (the sweeper's: one step, no later poll): proven when the
    operation succeeded (or the server was already gone) and a GET now answers 404; else pending."""
    record: dict[str, Any] = {"by": by, "status": PENDING}
    if step is None:  # the guard's GET right before answered 404: gone already
        return absent(record, now)
    record.update(operation_fields(step), delete_requested_at=iso(now))
    if not step.done:
        return dict(record, pending_reason="deleting")
    record = completed(record, step, now)
    if not step.succeeded:
        return dict(record, pending_reason="delete_failed", detail=str(step.error or step.status)[:300])
    return recheck(client, resource_group, name, now, record)


def recheck(client: Any, resource_group: str, name: str, now: datetime,
            record: dict[str, Any] | None = None) -> dict[str, Any]:
    """A GET of the server: 404 proves the disposal `record` describes; else it stays pending (why)."""
    record = {k: v for k, v in (record or {}).items() if k not in ("pending_reason", "detail")}
    try:
        still = get_server(client, resource_group, name)
    except CheckError as exc:
        return dict(record, status=PENDING, pending_reason="error", detail=str(exc.reason)[:300])
    return absent(record, now) if still is None else dict(record, status=PENDING, pending_reason="still_exists")


def cleaning_up(client_of: Callable[[], Any], drill: Drill, now: datetime, drill_group: str, max_hours: int,
                confirm: Callable[[], None]) -> bool:
    """One bounded step of a drill's cleanup; True when it is over (proven, or given up: pending)."""
    if not drill.created:
        drill.cleanup = drill.cleanup or msg("not needed (no server was created)")
        drill.disposal = {"status": NOT_NEEDED, "by": "drill"}
        return True
    client = client_of()
    if drill.disposal.get("completed_at") and drill.disposal.get("status") == PENDING:
        return _confirm_gone(client, drill, now, max_hours)  # deleted, not yet answering 404
    try:
        if drill.delete_token:
            step = poll_delete(client, drill.resource_group, drill.target_server, drill.delete_token)
        else:
            step = begin_guarded_delete(client, drill.resource_group, drill.target_server, drill.source_server,
                                        drill.drill_id, drill_group=drill_group, confirm=confirm)
    except DrillGuardError as exc:
        drill.cleanup = msg("refused: {reason}", reason=exc.reason)
        drill.disposal = dict(drill.disposal, by="drill", status=PENDING, pending_reason="refused",
                              detail=str(exc.reason)[:300])
        drill.event(now, drill.cleanup)
        return True
    except CheckError as exc:
        if _given_up(drill, now, max_hours):
            drill.cleanup = msg("failed: {reason}; the sweeper deletes it after {expires}", reason=exc.reason,
                                expires=drill.expires_at)
            drill.disposal = dict(drill.disposal, by="drill", status=PENDING, pending_reason="error",
                                  detail=str(exc.reason)[:300])
            drill.event(now, drill.cleanup)
            return True
        raise
    return _stepped(client, drill, step, now, max_hours)


def _stepped(client: Any, drill: Drill, step: LroStep | None, now: datetime, max_hours: int) -> bool:
    if step is None:  # the guard's GET answered 404: nothing (left) to delete
        drill.cleanup = drill.cleanup or msg("not needed (the server does not exist)")
        drill.disposal = absent(dict(drill.disposal, by="drill"), now)
        drill.event(now, msg("cleanup: {server} does not exist", server=drill.target_server))
        return True
    drill.delete_token = step.token
    if not drill.disposal.get("delete_requested_at"):
        drill.disposal = dict(drill.disposal, by="drill", status=PENDING, delete_requested_at=iso(now),
                              **operation_fields(step))
    if not step.done:
        if drill.cleanup != "deleting":
            drill.event(now, msg("deletion of {server} requested (operation {operation})", server=drill.target_server,
                                 operation=drill.disposal.get("operation_id") or "?"))
        drill.cleanup = msg("deleting")
        return False
    drill.disposal = completed(drill.disposal, step, now)
    if not step.succeeded:
        drill.cleanup = msg("failed: {reason}; the sweeper deletes it after {expires}", reason=step.error or step.status,
                            expires=drill.expires_at)
        drill.disposal = dict(drill.disposal, pending_reason="delete_failed", detail=str(step.error or step.status)[:300])
        drill.event(now, msg("cleanup: {cleanup}", cleanup=drill.cleanup))
        return True
    return _confirm_gone(client, drill, now, max_hours)


def _confirm_gone(client: Any, drill: Drill, now: datetime, max_hours: int) -> bool:
    """The final GET after the delete completed: 404 proves the disposal; the server still there (or an
    error) leaves it pending, retried until the deadline and its grace."""
    try:
        still = get_server(client, drill.resource_group, drill.target_server)
        reason, detail = "still_exists", ""
    except CheckError as exc:
        still, reason, detail = True, "error", str(exc.reason)[:300]
    if still is None:
        drill.disposal = absent(drill.disposal, now)
        drill.cleanup = msg("deleted")
        drill.event(now, msg("cleanup: deleted (operation {operation} completed {completed}; the server answers 404)",
                             operation=drill.disposal.get("operation_id") or "?",
                             completed=drill.disposal.get("completed_at")))
        return True
    drill.disposal = dict(drill.disposal, status=PENDING, pending_reason=reason,
                          **({"detail": detail} if detail else {}))
    pending = msg("disposal pending: the delete of {server} completed but the server still answers its GET",
                  server=drill.target_server) if reason == "still_exists" else \
        msg("disposal pending: {reason}", reason=detail)
    if drill.cleanup != pending:
        drill.event(now, pending)
    drill.cleanup = pending
    return _given_up(drill, now, max_hours)


def _given_up(drill: Drill, now: datetime, max_hours: int) -> bool:
    return now - parse_iso(drill.requested_at) > timedelta(hours=max_hours) + CLEANUP_GRACE
