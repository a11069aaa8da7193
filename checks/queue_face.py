"""Queue faces of the fleet: the monthly fan-out, the queue-triggered run of one target, the poison recorder.

function_app.py wires them (timer -> http_api.run_timer -> fan_out; queue trigger -> run_queued;
poison queue trigger -> run_poisoned); POST /api/verify {"targets": [...]} calls fan_out too.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Sequence

from checks.dispatch.handler import MAX_DEQUEUE_COUNT, RetryLater, handle_message, handle_poison, poisoned_text
from checks.dispatch.message import BadMessage, FleetMessage
from checks.engine.config import ConfigError
from checks.dispatch.targets import message_targets
from checks.engine.fleet import select_targets
from checks.engine.model import Status
from checks.engine.timeutil import month_of, utcnow
from checks.journal.store import JournalUnavailable

log = logging.getLogger("checks.dispatch")


def fan_out(settings: Any, trigger: str = "timer", names: Sequence[str] = (), journal: Any = None,
            client: Any = None, now: datetime | None = None,
            requested_by: dict[str, str] | None = None) -> dict[str, Any]:
    """One message per target (all, or `names`: KeyError naming the unknown ones), for the current month, each
    reserved in the journal before it is sent (claims.py allocate): the timer's messages are attempt 1 of the
    month (a second firing is a duplicate); an on-demand one takes the next free attempt from 2. The
    reservation records `requested_by` (the Entra caller; None: the timer, or the function-key opt-out):
    the worker journals the run under it."""
    from checks.dispatch.claims import Claims
    from checks.dispatch.queue import enqueue
    from checks.service import open_journal

    fleet = message_targets(settings)  # TARGETS, else DISCOVER_TAG's (DiscoveryError), else the deployment's own
    chosen = select_targets(fleet, list(names)) if names else fleet
    now = now or utcnow()
    month = month_of(now)
    # attempt 1 is the timer's: an on-demand run never takes it, so it never hides the month's timer run
    messages = Claims(journal or open_journal(settings)).allocate(month, [t.name for t in chosen], trigger, now,
                                                                  requested_by)
    sent = enqueue(settings, messages, client=client)
    log.info("fleet: %d message(s) enqueued on %s for %s: %s", len(sent), settings.fleet_queue, month,
             ", ".join(f"{m['target']}#{m['attempt']}" for m in sent))
    return {"status": "enqueued", "month": month, "queue": settings.fleet_queue, "enqueued": sent}


def fan_out_month(settings: Any) -> dict[str, Any]:
    """The monthly timer with a fleet: fan_out, or the error the run-failed alert reads (same line as a refused run)."""
    from checks.connect.discovery import DiscoveryError
    from checks.dispatch.queue import DispatchError
    try:
        return fan_out(settings, trigger="timer")
    except DiscoveryError as exc:
        log.error("monthly verification not run: target discovery failed: %s", exc)
        return {"status": Status.ERROR.value, "error": str(exc)}
    except DispatchError as exc:
        log.error("monthly verification not run: %s (enqueued before the failure: %s)", exc,
                  ", ".join(m["target"] for m in exc.enqueued) or "none")
        return {"status": Status.ERROR.value, "error": str(exc), "enqueued": exc.enqueued}
    except JournalUnavailable as exc:  # the messages are reserved in the journal before they are sent
        log.error("monthly verification not run: %s (nothing enqueued)", exc)
        return {"status": Status.ERROR.value, "error": str(exc)}


def run_target_with(settings: Any, journal: Any):
    """The handler's run of one target: the same run as the timer's, with the target's own settings, journaled
    under the caller its reservation names (handler.py)."""
    from checks.service import RunRequest, verify

    def run_target(target, message: FleetMessage, requested_by: dict[str, str]):
        return verify(RunRequest(trigger=message.trigger, origin=message.origin, requested_by=requested_by),
                      target.settings_for(settings), journal)
    return run_target


def run_queued(body: str | bytes, dequeue_count: int) -> dict[str, Any]:
    """The queue trigger: run the message's target once. Raises (so the host retries) only when retrying helps."""
    from checks.dispatch.queue import enqueue
    from checks.service import load_settings, open_journal

    settings = load_settings()  # a ConfigError goes to the host: retried, then poisoned and reported
    journal = open_journal(settings)
    try:
        outcome = handle_message(body, dequeue_count, settings, journal, run_target_with(settings, journal),
                                 defer=lambda later, seconds: enqueue(settings, [later], visible_in=seconds))
    except RetryLater as exc:
        log.warning("fleet message retried later (delivery %d): %s", dequeue_count, exc)
        raise
    log.info("fleet message (delivery %d): %s %s %s", dequeue_count, outcome.action, outcome.target,
             outcome.run_id or outcome.detail, extra={"run_id": outcome.run_id, "target": outcome.target})
    return outcome.to_dict()


def run_poisoned(body: str | bytes) -> dict[str, Any]:
    """The poison queue trigger: the alert's log line always; the journal's error result when it can be written."""
    from checks.service import load_settings, open_journal

    try:
        settings = load_settings()
        return handle_poison(body, settings, open_journal(settings)).to_dict()
    except (ConfigError, JournalUnavailable) as exc:
        try:
            text = poisoned_text(FleetMessage.from_text(body), MAX_DEQUEUE_COUNT)
        except BadMessage as bad:
            text = f"fleet poison message: target unknown, not verified this month: {bad}"
        log.error("%s (not journaled: %s)", text, str(exc).splitlines()[0])
        return {"action": "poisoned", "detail": text, "journal": "error"}

