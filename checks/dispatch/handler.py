"""What the queue-triggered functions do: run one target's checks for a message, or record a poisoned one.

`handle_message` runs only a message the verifier sent, and never journals one twice: it claims the
reservation of (month, target, attempt) first (claims.py). A message that cannot be used is
acknowledged (the invocation succeeds: retrying cannot fix it, and it never reaches the poison
queue) with a `fleet message dropped ...` error line, redacted, that the poison alert reads, and
nothing is written: not a fleet message (unreadable, over MAX_MESSAGE_BYTES, nested, a field out of
form), a month other than the current one (message.py in_window), a target not in the fleet, or no
reservation in the journal (forged, replayed, or its trigger not the reserved one). When the target's run lease is held, a copy of the message is sent again, hidden a while (the
invocation succeeds: a busy target is no failure); after MAX_DEFERRALS, or when the queue refuses the
copy, RetryLater is raised: the host makes the message visible again after host.json's
visibilityTimeout and, after maxDequeueCount deliveries, moves it to `<queue>-poison`, where
`handle_poison` journals an error result for the target so the month's report shows it was not
verified, and logs the line the poison alert (infra/modules/alerts.bicep) reads. A poison message is
held to the same rules (its month, its reservation): a forged one journals nothing for any name, it
is logged (`fleet poison message ...`, the same alert) and acknowledged.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Callable

from checks.dispatch.claims import DONE, POISONED, Claim, Claims, journaled_run, partition, reserved_caller
from checks.dispatch.message import BadMessage, FleetMessage, shown
from checks.dispatch.targets import message_target, message_targets
from checks.engine.fleet import DELIVERY_CHECK, FleetTarget
from checks.engine.model import CheckResult, Run, Severity, Status, new_run_id
from checks.engine.target import Target
from checks.engine.timeutil import as_datetime, month_of, utcnow
from checks.journal.lease import RunInProgress

log = logging.getLogger("checks.dispatch")

MAX_DEQUEUE_COUNT = 5  # host.json extensions.queues.maxDequeueCount (tests/test_dispatch.py keeps them equal)

# the face's run: service.verify for that target, journaled under the caller its reservation names
RunTarget = Callable[[FleetTarget, FleetMessage, dict[str, str]], Run]
Defer = Callable[[FleetMessage, int], Any]  # send this copy again, hidden that many seconds (queue.enqueue)
DEFER_SECONDS = 300  # longer than a normal run: the run holding the lease has usually ended by then
MAX_DEFERRALS = 12   # an hour of a held lease; then the host retries and poisons it, and the alert fires


class RetryLater(Exception):
    """Leave the message on the queue: the host delivers it again (then poisons it after maxDequeueCount)."""


@dataclass
class Outcome:
    action: str  # ran | duplicate | deferred | bad-message | refused | unknown-target | poisoned
    target: str = ""
    run_id: str = ""
    status: str = ""
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def handle_message(body: str | bytes, dequeue_count: int, settings: Any, journal: Any, run_target: RunTarget,
                   now: datetime | None = None, defer: Defer | None = None) -> Outcome:
    """Run the message's target once per (month, target, attempt); see the module docstring."""
    now = now or utcnow()
    parsed = _parse(body, settings, now)
    if isinstance(parsed, Outcome):
        return parsed
    message, target = parsed
    claims = Claims(journal)
    claim = claims.claim(message, now, dequeue_count)
    why = not_sent(message, claim)
    if why or claim is None:
        return _refused("fleet message dropped", message, why)
    if not claim.fresh:
        if claim.state in (DONE, POISONED):
            return Outcome("duplicate", message.target, claim.run_id, detail=f"already {claim.state}")
        earlier = journaled_run(journal, message, claim.claimed_at, now)
        if earlier:  # a previous delivery journaled its run (its host never deleted the message)
            return Outcome("duplicate", message.target, earlier, detail="journaled by a previous delivery")
        if not claims.take_over(claim, now, dequeue_count):
            return Outcome("duplicate", message.target, detail="another delivery took it over")
        if not message.deferred:  # a deferred copy finds its own claim: that is no failure
            log.warning("fleet message %s/%s attempt %s: previous delivery did not finish; running it again",
                        message.month, message.target, message.attempt)
    try:
        # journals the run with message.origin (that marks the claim done), under the reservation's caller: the
        # sender's record in the journal, never a field of the message (claims.py)
        run = run_target(target, message, claim.requested_by)
    except RunInProgress as exc:
        return _defer(message, defer, exc)
    if run.origin != message.origin:  # the face's contract (queue_face.run_target_with): a bug, not an outage
        raise RuntimeError(f"run {run.run_id} does not carry its message {message.origin}: a redelivery would run it again")
    return Outcome("ran", message.target, run.run_id, run.status.value)


def _defer(message: FleetMessage, defer: Defer | None, busy: RunInProgress) -> Outcome:
    """The target's lease is held by another run: send the message again, hidden DEFER_SECONDS, and succeed
    (a failed invocation would trip the failed-invocations alert for what is no failure). After
    MAX_DEFERRALS, or when it cannot be sent, RetryLater: the host's retries, then its poison path."""
    from checks.dispatch.queue import DispatchError
    if defer is None or message.deferred >= MAX_DEFERRALS:
        raise RetryLater(f"target {message.target}: {busy}")
    later = dataclasses.replace(message, deferred=message.deferred + 1)
    try:
        defer(later, DEFER_SECONDS)
    except DispatchError as exc:
        raise RetryLater(f"target {message.target}: {busy}; not deferred: {exc}") from None
    detail = (f"target busy ({busy}); sent again, visible in {DEFER_SECONDS} s "
              f"(deferral {later.deferred} of {MAX_DEFERRALS})")
    log.info("fleet message %s deferred: %s", message.origin, detail)
    return Outcome("deferred", message.target, detail=detail)


def _parse(body: str | bytes, settings: Any, now: datetime) -> tuple[FleetMessage, FleetTarget] | Outcome:
    """The message and its target, or the Outcome of a message dropped before any I/O but discovery."""
    try:
        message = FleetMessage.from_text(body)
    except BadMessage as exc:
        log.error("fleet message dropped (not a fleet message): %s", exc)
        return Outcome("bad-message", detail=str(exc))
    if not message.in_window(now):
        return _refused("fleet message dropped", message, out_of_window(message, now))
    fleet = message_targets(settings)  # DiscoveryError goes to the host: retried, then poisoned and reported
    target = next((t for t in fleet if t.name == message.target), None)
    if target is None:
        detail = f"unknown target {message.target!r}; known targets: {', '.join(t.name for t in fleet)}"
        log.error("fleet message dropped: %s (TARGETS or the tagged resources changed since it was sent?)", detail)
        return Outcome("unknown-target", message.target, detail=detail)
    return message, target


def out_of_window(message: FleetMessage, now: datetime) -> str:
    return (f"month {message.month} is not the current month ({month_of(now)}): a message runs only in its own "
            "month (sent long ago, or forged)")


def not_sent(message: FleetMessage, claim: Claim | None) -> str:
    """Why the journal says the verifier did not send this message ('' when it did)."""
    if claim is None:
        return "no reservation in the journal: the verifier did not send it (forged, or from another deployment)"
    reserved = claim.entity.get("Trigger")
    if reserved != message.trigger:
        return f"trigger {message.trigger} is not the reserved one ({shown(reserved)}): not the message the verifier sent"
    return ""


def _refused(line: str, message: FleetMessage, why: str) -> Outcome:
    """A well-formed message the verifier will not use: the alert's error line, nothing written."""
    detail = f"{message.origin} ({message.trigger}): {why}"
    log.error("%s: %s", line, detail, extra={"target": message.target, "month": message.month})
    return Outcome("refused", message.target, detail=detail)


def handle_poison(body: str | bytes, settings: Any, journal: Any, attempts: int = MAX_DEQUEUE_COUNT,
                  now: datetime | None = None) -> Outcome:
    """A message the host gave up on: log the alert's line and journal an error result for its target, once;
    only for a message the verifier sent (its month, its reservation), else logged and nothing written."""
    now = now or utcnow()
    try:
        message = FleetMessage.from_text(body)
    except BadMessage as exc:
        log.error("fleet poison message: target unknown, not verified this month: %s", exc)
        return Outcome("bad-message", detail=str(exc))
    if not message.in_window(now):
        return _refused("fleet poison message dropped", message, out_of_window(message, now))
    found = journal.get_entity(partition(message.month), message.key)
    why = not_sent(message, Claim(found[0], found[1], fresh=False) if found else None)
    if why or found is None:
        return _refused("fleet poison message dropped", message, why)
    text = poisoned_text(message, attempts)
    log.error("%s", text, extra={"target": message.target, "month": message.month, "status": "error"})
    claims, entity = Claims(journal), found[0]
    since = as_datetime(entity.get("ClaimedAt") or entity.get("EnqueuedAt"))
    ran = entity.get("RunId") if entity.get("State") == DONE else journaled_run(journal, message, since, now)
    if ran:  # ran after all (e.g. only the host's delete of the message failed)
        return Outcome("duplicate", message.target, str(ran), detail="its run was journaled")
    if not claims.poison_marker(message, now, attempts):
        return Outcome("duplicate", message.target, detail="poisoned message already recorded")
    run = poisoned_run(message, settings, text, attempts, now)
    run.requested_by = reserved_caller(entity)  # who asked for the run that never happened
    journal.write_run(run)
    claims.finish(message, POISONED, run.run_id)
    return Outcome("poisoned", message.target, run.run_id, Status.ERROR.value, text)


def poisoned_text(message: FleetMessage, attempts: int) -> str:
    return (f"target {message.target} not verified this month ({message.month}): "
            f"message poisoned after {attempts} attempts")


def poisoned_run(message: FleetMessage, settings: Any, text: str, attempts: int, now: datetime) -> Run:
    """A journal run holding one error result about the target: the month's report shows the gap."""
    from checks.connect.discovery import DiscoveryError
    try:
        found = message_target(settings, message.target)
    except DiscoveryError:  # the reason it was poisoned, maybe: the error result names the target all the same
        found = None
    target = Target.from_settings(found.settings_for(settings)) if found else Target(name=message.target)
    result = CheckResult(
        check_id=DELIVERY_CHECK, title="Target verified this month", status=Status.ERROR, severity=Severity.HIGH,
        summary=text, details={"month": message.month, "attempt": message.attempt, "attempts": attempts,
                               "trigger": message.trigger},
        remediation=(f"Read the failures of function fleet_target_run for target {message.target} in Application "
                     f"Insights, fix the cause, then run it again: POST /api/verify {{\"targets\": [\"{message.target}\"]}}"),
        started_at=now, duration_ms=0)
    return Run(run_id=new_run_id(now), trigger=message.trigger, started_at=now, finished_at=now, results=[result],
               notes=[text], target=target)
