"""The restore drill's timers: the drill timer (advance, sweep) and the monthly run's hook (start).

With several targets, the monthly hook starts the drill of the target that waited longest (never
drilled first, then the oldest last drill) once it is due (RESTORE_DRILL_EVERY_MONTHS since that
target's own last drill). One drill runs at a time for the whole deployment (checks/drill/slot.py),
so a fleet's targets are drilled one per monthly run, in turn.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Sequence

from checks.drill.restore_drill import advance_all, arm_client, load_drills, save, start_drill
from checks.drill import slot
from checks.drill.state import (TAG_DRILL_ID, TAG_SOURCE, Drill, DrillActive, DrillGuardError, begin_guarded_delete,
                                expired_drill_servers)
from checks.drill.targets import Lookup, drill_context, production_servers
from checks.engine.context import RunContext
from checks.engine.i18n import msg
from checks.engine.model import CheckError, JournalUnavailable, NotConfigured
from checks.engine.timeutil import months_between, parse_iso

log = logging.getLogger("checks.drill.schedule")


def sweep(ctx: RunContext, journal=None) -> list[dict[str, str]]:
    """Delete expired drill servers (drill tags and expires-at passed) in RESTORE_DRILL_RESOURCE_GROUP;
    never one named like a target's server (every target of TARGETS: the drills of all of them), never the
    server of the drill holding the slot (`journal`: checked right before each DELETE; that drill's own
    cleanup deletes it)."""
    s = ctx.settings
    s.require("azure_subscription_id", "restore_drill_resource_group")
    sources = production_servers(s)
    if not sources:
        s.require("pg_server_name")
    client = arm_client(ctx)
    now = ctx.now()
    report = []
    rg = s.restore_drill_resource_group
    for server in expired_drill_servers(client, rg, sources, now):
        name = str(server.name)
        source = (server.tags or {}).get(TAG_SOURCE) or s.pg_server_name or ""
        try:
            step = begin_guarded_delete(client, rg, name, source, drill_group=rg,
                                        confirm=lambda: _not_the_slot_holders(journal, server, ctx.now()))
            outcome = msg("absent") if step is None else (msg("deleted") if step.succeeded else msg("deleting")
                                                          if not step.done else msg("failed: {reason}", reason=step.error))
        except CheckError as exc:
            outcome = msg("refused: {reason}", reason=exc.reason) if isinstance(exc, DrillGuardError) \
                else msg("failed: {reason}", reason=exc.reason)
        report.append({"server": name, "drill_id": (server.tags or {}).get("drill-id", ""), "result": outcome})
        log.info("drill sweeper: %s %s", name, outcome)
    return report


def _not_the_slot_holders(journal, server, now: datetime) -> None:
    """DrillGuardError when `server` belongs to the drill holding the slot (active or starting)."""
    holder = slot.current_holder(journal, now) if journal is not None else None
    if holder is not None and holder.drill_id == (server.tags or {}).get(TAG_DRILL_ID):
        raise DrillGuardError(msg("drill {drill_id} holds the drill slot ({state}): its own cleanup deletes {name}",
                                  drill_id=holder.drill_id, state=holder.state, name=server.name))


def timer_tick(ctx: RunContext, journal, lookup: Lookup | None = None) -> dict[str, Any]:
    """The drill timer: advance active drills (each with its target's settings: `lookup`); when a kept
    drill server has expired, sweep. Else nothing."""
    drills = load_drills(journal)
    if any(d.active for d in drills):
        done = advance_all(ctx, journal, lookup)
        return {"advanced": [{"drill_id": d.drill_id, "state": d.state, "target": d.target_name} for d in done]}
    now = ctx.now()
    expired_kept = [d for d in drills if d.keep and d.cleanup.startswith("kept") and parse_iso(d.expires_at) <= now]
    if not expired_kept:
        return {"advanced": []}
    swept = sweep(ctx, journal)
    for d in expired_kept:
        d.cleanup = msg("deleted by the sweeper after expiry") if any(
            r["server"] == d.target_server and r["result"] in ("deleted", "deleting", "absent") for r in swept) \
            else d.cleanup
        d.event(now, msg("sweeper: {cleanup}", cleanup=d.cleanup))
        save(journal, d, now)
    return {"advanced": [], "swept": swept}


def due_target(drills: list[Drill], names: Sequence[str], own: str, now: datetime,
               every_months: int) -> tuple[str | None, Drill | None]:
    """(the target to drill now or None, the last drill of the target that waited longest).

    `names`: the fleet's targets in order; `own`: the name a drill recorded without a target counts
    for ("" in a fleet: nobody can tell whose it was). Pure: drills are newest first."""
    last = {name: next((d for d in drills if (d.target_name or own) == name), None) for name in names}
    waited = sorted(names, key=lambda n: (last[n] is not None, last[n].requested_at if last[n] else ""))
    if not waited:
        return None, None
    first = waited[0]
    previous = last[first]
    if previous is None or months_between(parse_iso(previous.requested_at), now) >= every_months:
        return first, previous
    return None, previous


def monthly_hook(ctx: RunContext, journal, fleet: Sequence[str] = (), lookup: Lookup | None = None
                 ) -> dict[str, Any] | None:
    """Called by the monthly run: start a drill every RESTORE_DRILL_EVERY_MONTHS when enabled; `fleet`:
    the targets' names when several are configured (empty: the deployment's own target).

    Returns what it did; an expected failure (expected_errors: Azure, journal, configuration) is
    logged and returned, never raised (the monthly verification's result stands on its own, already
    recorded). A bug raises: the invocation fails visibly instead of reading as a drill error.
    """
    s = ctx.settings
    if not s.restore_drill_enabled or journal is None:
        return None
    try:
        drills = load_drills(journal)
        if any(d.active for d in drills):
            return {"drill": "already active", "drill_id": next(d.drill_id for d in drills if d.active)}
        name, last = due_target(drills, list(fleet) or [s.target_name], "" if fleet else s.target_name, ctx.now(),
                                s.restore_drill_every_months)
        if name is None:
            return {"drill": "not due", "last_drill_id": last.drill_id if last else None,
                    "every_months": s.restore_drill_every_months}
        with drill_context(ctx, name if fleet else "", lookup) as (own, problem):
            if problem:
                raise NotConfigured(problem)
            drill = start_drill(own, journal, trigger="timer")
        return {"drill": drill.state, "drill_id": drill.drill_id, "target_server": drill.target_server,
                "target": drill.target_name}
    except expected_errors() as exc:  # a drill problem must not break the monthly run (a bug still raises)
        log.error("monthly restore drill not started: %s", exc)
        return {"drill": "error", "error": str(exc)[:300]}


def expected_errors() -> tuple[type[Exception], ...]:
    """What a drill invocation raises besides a bug: Azure (mapped to CheckError or not), the journal,
    configuration (ConfigError is a ValueError), a stored time that does not parse, a drill already active."""
    from azure.core.exceptions import AzureError
    return CheckError, NotConfigured, DrillActive, JournalUnavailable, ValueError, AzureError
