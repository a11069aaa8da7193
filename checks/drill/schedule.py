"""The restore drill's timers: the drill timer (advance, start the round's next targets, sweep) and the
monthly run's hook (open the month's round, start).

Every target is drilled on its own cadence (checks/drill/rounds.py): the monthly hook starts every due
target, oldest first, each with its own settings (subscription, drill resource group), as many at once as
RESTORE_DRILL_MAX_CONCURRENT allows, one per target (checks/drill/slot.py); the drill timer starts the
others as drills finish. The sweeper covers every drill resource group of every target.
"""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any, Sequence

from checks.drill.restore_drill import advance_all, arm_client, load_drills, save, start_drill
from checks.drill import disposal, rounds, slot
from checks.drill.state import (TAG_DRILL_ID, TAG_SOURCE, Drill, DrillActive, DrillGuardError, begin_guarded_delete,
                                expired_drill_servers)
from checks.drill.targets import Lookup, UnknownTarget, drill_context, fleet_lookup, production_servers, target_context
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.fleet import targets_of
from checks.engine.i18n import msg
from checks.engine.model import CheckError, JournalUnavailable, NotConfigured
from checks.engine.timeutil import parse_iso

log = logging.getLogger("checks.drill.schedule")


def sweep(ctx: RunContext, journal=None, targets: Sequence[Settings] | None = None,
          proofs: dict[tuple[str, str], dict[str, Any]] | None = None) -> list[dict[str, str]]:
    """Delete expired drill servers (drill tags and expires-at passed) in EVERY drill resource group: the
    deployment's RESTORE_DRILL_RESOURCE_GROUP and each target's own (`targets`: their settings, default
    TARGETS'), each in its target's subscription; never one named like a target's server, never the server
    of a drill holding the slot (`journal`: checked right before each DELETE; that drill's own cleanup
    deletes it). A group that cannot be listed is one `failed` row; the other groups are still swept.
    `proofs`: filled with each deletion's proof (checks/drill/disposal.py), by (group, server) in lower case."""
    s = ctx.settings
    fleet = list(targets) if targets is not None else [t.settings_for(s) for t in targets_of(s)] if s.targets else []
    groups = drill_groups(s, fleet)
    if not groups:
        s.require("azure_subscription_id", "restore_drill_resource_group")
    sources = production_servers(s) | {t.pg_server_name for t in fleet if t.pg_server_name}
    if not sources:
        s.require("pg_server_name")
    report: list[dict[str, str]] = []
    for settings in groups:
        own = target_context(ctx, settings)
        try:
            report += _sweep_group(own, journal, sources, proofs)
        except CheckError as exc:  # this group could not be listed (rights, subscription): the others go on
            report.append({"server": "", "drill_id": "", "resource_group": settings.restore_drill_resource_group,
                           "result": msg("failed: {reason}", reason=exc.reason)})
            log.error("drill sweeper: %s: %s", settings.restore_drill_resource_group, exc.reason)
        finally:
            if own is not ctx:
                own.close()
    return report


def drill_groups(settings: Settings, fleet: Sequence[Settings]) -> list[Settings]:
    """One settings per distinct (subscription, drill resource group): the deployment's, then each target's."""
    seen, out = set(), []
    for one in [settings, *fleet]:
        key = ((one.azure_subscription_id or "").lower(), (one.restore_drill_resource_group or "").lower())
        if all(key) and key not in seen:
            seen.add(key)
            out.append(one)
    return out


def _sweep_group(ctx: RunContext, journal, sources: set[str], proofs: dict | None = None) -> list[dict[str, str]]:
    s, report = ctx.settings, []
    client = arm_client(ctx)
    rg = s.restore_drill_resource_group
    for server in expired_drill_servers(client, rg, sources, ctx.now()):
        name = str(server.name)
        source = (server.tags or {}).get(TAG_SOURCE) or s.pg_server_name or ""
        proof: dict[str, Any] = {}
        try:
            step = begin_guarded_delete(client, rg, name, source, drill_group=rg,
                                        confirm=lambda: _not_the_slot_holders(journal, server, ctx.now()))
            proof = disposal.prove(client, rg, name, step, ctx.now(), "sweeper")  # operation id, completion, 404
            if proofs is not None:
                proofs[(rg.lower(), name.lower())] = proof
            outcome = msg("absent") if step is None else (msg("deleted") if step.succeeded else msg("deleting")
                                                          if not step.done else msg("failed: {reason}", reason=step.error))
        except CheckError as exc:
            outcome = msg("refused: {reason}", reason=exc.reason) if isinstance(exc, DrillGuardError) \
                else msg("failed: {reason}", reason=exc.reason)
        report.append({"server": name, "drill_id": (server.tags or {}).get("drill-id", ""), "resource_group": rg,
                       "result": outcome})
        log.info("drill sweeper: %s/%s %s (disposal %s, operation %s)", rg, name, outcome,
                 proof.get("status", "-"), proof.get("operation_id") or "-")
    return report


def _not_the_slot_holders(journal, server, now: datetime) -> None:
    """DrillGuardError when `server` belongs to a drill holding the slot (active or starting)."""
    drill_id = (server.tags or {}).get(TAG_DRILL_ID)
    holder = next((h for h in slot.live_holders(journal, now) if h.drill_id == drill_id), None) \
        if journal is not None else None
    if holder is not None:
        raise DrillGuardError(msg("drill {drill_id} holds the drill slot ({state}): its own cleanup deletes {name}",
                                  drill_id=holder.drill_id, state=holder.state, name=server.name))


def timer_tick(ctx: RunContext, journal, lookup: Lookup | None = None) -> dict[str, Any]:
    """The drill timer: advance active drills (each with its target's settings: `lookup`, None without a
    fleet); start the month's round's next due targets while RESTORE_DRILL_MAX_CONCURRENT allows; when a kept
    drill server has expired, sweep. Else nothing."""
    drills = load_drills(journal)
    out: dict[str, Any] = {"advanced": []}
    if any(d.active for d in drills):
        done = advance_all(ctx, journal, lookup)
        out["advanced"] = [{"drill_id": d.drill_id, "state": d.state, "target": d.target_name} for d in done]
        drills = load_drills(journal)
    now = ctx.now()
    current = rounds.read_round(journal, now) if ctx.settings.restore_drill_enabled else None
    if current is not None:
        pending = current.pending(drills, "" if lookup else ctx.settings.target_name)
        if pending:
            out.update(start_due(ctx, journal, pending, lookup))
            drills = load_drills(journal)
        if current.gave_up():  # visible on every tick: they wait for next month's round
            out["gave_up"] = current.gave_up()
    expired_kept = [d for d in drills if d.keep and parse_iso(d.expires_at) <= now and (d.cleanup.startswith("kept") or (
        d.disposal.get("by") == "sweeper" and d.disposal.get("status") == disposal.PENDING))]  # until proven gone
    if expired_kept:
        out["swept"] = _sweep_kept(ctx, journal, expired_kept, now, lookup)
    return out


def _sweep_kept(ctx: RunContext, journal, expired_kept: list[Drill], now: datetime, lookup: Lookup | None):
    """Sweep every drill group (TARGETS'; of a discovered fleet, the expired drills' targets' groups)."""
    fleet = None
    if lookup is not None and not ctx.settings.targets:
        fleet = []
        for name in sorted({d.target_name for d in expired_kept if d.target_name}):
            try:
                fleet.append(lookup(name))
            except UnknownTarget as exc:  # gone from the fleet: the deployment's own group is still swept
                log.warning("drill sweeper: %s", exc.reason)
    proofs: dict[tuple[str, str], dict[str, Any]] = {}
    swept = sweep(ctx, journal, fleet, proofs)
    for d in expired_kept:
        proof = proofs.get((d.resource_group.lower(), d.target_server.lower())) or _recheck(ctx, d, lookup, now)
        if proof:
            d.disposal = {k: v for k, v in {**d.disposal, **proof}.items()
                          if proof.get("status") == disposal.PENDING or k not in ("pending_reason", "detail")}
        d.cleanup = msg("deleted by the sweeper after expiry") if d.disposal.get("status") == disposal.PROVEN else \
            msg("disposal pending: the sweeper deleted {server}, not yet proven gone", server=d.target_server) if any(
                r["server"] == d.target_server and r["result"] in ("deleted", "deleting") for r in swept) else d.cleanup
        d.event(now, msg("sweeper: {cleanup}", cleanup=d.cleanup))
        save(journal, d, now)
    return swept


def _recheck(ctx: RunContext, drill: Drill, lookup: Lookup | None, now: datetime) -> dict[str, Any] | None:
    """The final GET for a kept drill's server the sweeper deleted earlier (no longer listed): its proof."""
    if drill.disposal.get("by") != "sweeper":
        return None
    try:
        with drill_context(ctx, drill.target_name, lookup) as (own, _problem):
            return disposal.recheck(arm_client(own), drill.resource_group, drill.target_server, now, drill.disposal)
    except CheckError as exc:  # its target cannot be looked up now: the next tick asks again
        log.warning("drill sweeper: disposal of %s not rechecked: %s", drill.target_server, exc.reason)
        return None


def start_due(ctx: RunContext, journal, names: Sequence[str], lookup: Lookup | None) -> dict[str, Any]:
    """Start the drills of `names` (oldest first) until RESTORE_DRILL_MAX_CONCURRENT is reached: what started,
    what waits for the next drill timer tick, and each target that could not start (and why)."""
    started: list[dict[str, Any]] = []
    errors: list[dict[str, str]] = []
    for index, name in enumerate(names):
        try:
            with drill_context(ctx, name, lookup) as (own, problem):
                if problem:
                    raise NotConfigured(problem)
                drill = start_drill(own, journal, trigger="timer")
        except slot.DrillBusy as exc:  # the bound: the rest wait for a drill to finish
            waiting = list(names[index:])
            log.warning("restore drills waiting for RESTORE_DRILL_MAX_CONCURRENT (%s): %s; the drill timer starts "
                        "them when a drill finishes", exc.limit, ", ".join(waiting))
            return {"started": started, "waiting": waiting, "errors": errors,
                    "note": msg("{targets}: waiting for a free drill (RESTORE_DRILL_MAX_CONCURRENT {limit}); the "
                                "drill timer starts them when a drill finishes", targets=", ".join(waiting),
                                limit=exc.limit)}
        except DrillActive as exc:  # this target's drill is running (another timer started it): not ours to start
            log.info("restore drill of %s not started: %s", name, exc.reason)
        except expected_errors() as exc:  # this target cannot start now; the others still do
            errors.append(_failed_start(ctx, journal, name, exc))
        else:
            started.append({"drill": drill.state, "drill_id": drill.drill_id, "target_server": drill.target_server,
                            "target": drill.target_name})
    return {"started": started, "waiting": [], "errors": errors}


def _failed_start(ctx: RunContext, journal, name: str, exc: Exception) -> dict[str, Any]:
    """Count a start that failed before any drill record in the month's round (tried again on the next ticks
    up to rounds.ROUND_MAX_TRIES times, then next month) and say so: the timer's and monthly hook's error row."""
    error = str(exc)[:rounds.ERROR_MAX]
    try:
        tries = rounds.record_failed_start(journal, ctx.now(), name, error)
    except JournalUnavailable as journal_exc:  # not counted: the next tick tries (and counts) again
        log.warning("drill round: failed start of %s not counted: %s", name, journal_exc)
        tries = 0
    gave_up = tries >= rounds.ROUND_MAX_TRIES
    log.error("restore drill of %s not started (try %d of %d%s): %s", name, tries, rounds.ROUND_MAX_TRIES,
              "; next month's round tries again" if gave_up else "", exc)
    return {"target": name, "error": error, "tries": tries, "max_tries": rounds.ROUND_MAX_TRIES, "gave_up": gave_up}


def cadences(s: Settings, fleet: Sequence[str], lookup: Lookup | None) -> dict[str, int]:
    """Each target's RESTORE_DRILL_EVERY_MONTHS (its own in TARGETS settings, else the deployment's), in fleet
    order; the deployment's own target without a fleet."""
    if not fleet:
        return {s.target_name: s.restore_drill_every_months}
    find = lookup or fleet_lookup(s)
    return {name: find(name).restore_drill_every_months for name in fleet}


def monthly_hook(ctx: RunContext, journal, fleet: Sequence[str] = (), lookup: Lookup | None = None
                 ) -> dict[str, Any] | None:
    """Called by the monthly run: open the month's drill round with every due target (checks/drill/rounds.py)
    and start them, oldest first, while RESTORE_DRILL_MAX_CONCURRENT allows; `fleet`: the targets' names when
    several are configured (empty: the deployment's own target).

    Returns what it did; an expected failure (expected_errors: Azure, journal, configuration) is
    logged and returned, never raised (the monthly verification's result stands on its own, already
    recorded). A bug raises: the invocation fails visibly instead of reading as a drill error.
    """
    s = ctx.settings
    if not s.restore_drill_enabled or journal is None:
        return None
    try:
        drills, now = load_drills(journal), ctx.now()
        own = "" if fleet else s.target_name
        due = rounds.due_targets(drills, cadences(s, fleet, lookup), own, now)
        current = rounds.open_round(journal, now, due)
        pending = current.pending(drills, own)
        out: dict[str, Any] = {"round": current.month, "due": [d.describe() for d in due], "pending": pending}
        if not pending:
            active = [d.drill_id for d in drills if d.active]
            return out | {"drill": "already active" if active else "not due", "active": active}
        return out | start_due(ctx, journal, pending, lookup)
    except expected_errors() as exc:  # a drill problem must not break the monthly run (a bug still raises)
        log.error("monthly restore drill not started: %s", exc)
        return {"drill": "error", "error": str(exc)[:300]}


def expected_errors() -> tuple[type[Exception], ...]:
    """What a drill invocation raises besides a bug: Azure (mapped to CheckError or not), the journal,
    configuration (ConfigError is a ValueError), a stored time that does not parse, a drill already active."""
    from azure.core.exceptions import AzureError
    return CheckError, NotConfigured, DrillActive, JournalUnavailable, ValueError, AzureError
