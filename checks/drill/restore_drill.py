"""Restore drill: point-in-time restore of production to a NEW server, verified, measured, cleaned up.

A drill outlives one function invocation. Its state lives in the journal table (PartitionKey
`drill`, RowKey the drill id, see checks/drill/state.py) and a state machine advances it on later
invocations (the drill timer, `python -m checks drill status`), each step doing bounded work:

    provisioning ──restore succeeded──▶ verifying ──▶ cleaning_up ──▶ succeeded | failed
         │ Azure failed / 409 / past RESTORE_DRILL_MAX_HOURS ──────────▲ (failed)

* provisioning: one status poll of the restore's long-running operation per invocation
  (continuation token in the state). Ready time = the operation's endTime (else when seen).
* verifying: first the access-parity check (checks/drill/parity.py: the drill server's network, public
  access, firewall rules, key and authentication against production's as read at the start); a copy more
  open than production fails the drill before any data is read. Then the database checks (`database.*`) run against the restored server
  (RunContext.db_host = its FQDN from ARM, same credentials and auth mode), production's
  essential counts are taken at the same time, and `evaluate_drill` compares them: the restored
  server must not hold MORE rows than production (production only grew since the restore point),
  a shortfall above COUNT_DROP_THRESHOLD_PERCENT is reported, the Alembic revision must match.
* cleaning_up: guarded delete (only a server carrying this drill's tags), unless
  RESTORE_DRILL_KEEP, when the server stays until its `expires-at` tag and the sweeper deletes it. The
  deletion is proven (checks/drill/disposal.py: the operation's id, its completion, a final GET answering 404)
  or the drill shows its disposal pending.

When a drill ends, a run with trigger `drill` and one result `drill.restore` is written to the
journal (details: rto_minutes, restore_point, target_server, drill_id, verification, and what an auditor
reads: checks/drill/record.py), so the
monthly report finds it. The drill's own database results are nested in `verification` rather
than journaled as `database.*` results: they describe the restored server, not production, and
must not feed production's count-drop comparison.

Every status is decided by `evaluate_drill` (checks/drill/verify.py). `drill.restore` is registered
like the other checks (`python -m checks list`), on demand only: a verification run does not start
a drill. Its entry points (CLI, HTTP, timers) are the faces' (checks/drill_face.py).
"""
from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import datetime, timedelta

from checks.drill.state import (CLEANING_UP, FAILED, PARTITION, PROVISIONING, SUCCEEDED, TERMINAL, VERIFYING,
                                Drill, DrillActive, LroStep, DrillGuardError, begin_restore,
                                choose_restore_point, drill_tags, expired_drill_servers, get_server,
                                poll_restore, restore_window, target_names, validate_server_name)
from checks.drill import disposal, parity
from checks.drill.record import (CHECK_ID, REMEDIATION, SEVERITY, TITLE, drill_run, drill_target,  # noqa: F401
                                 parity_warnings)
from checks.drill import slot
from checks.drill.source import refuse_public_source
from checks.drill.targets import Lookup, drill_context, refuse_production_drill_group
from checks.drill.verify import DrillFacts, evaluate_drill, gather_facts
from checks.engine.config import Settings, variable_name
from checks.engine.controls import RESTORE_TEST
from checks.engine.context import RunContext
from checks.engine.model import CheckError, NotConfigured, Outcome, Status, new_run_id
from checks.engine.i18n import N_, msg, msgn
from checks.engine.registry import check
from checks.engine.timeutil import iso_z as iso, minutes, parse_iso

log = logging.getLogger("checks.drill.restore_drill")

RISK = N_("A backup that has never been restored is a hope, not a backup: the drill proves restore works and how long it takes.")
LATEST_MARGIN = timedelta(minutes=10)  # 'latest' = now - margin: the newest WAL may not be archived yet
CLEANUP_GRACE = disposal.CLEANUP_GRACE  # a deletion still not proven this long after the deadline: the sweeper's
MAX_STEPS = 4  # per invocation: provisioning → verifying → cleaning_up → done
NO_SERVER = msg("not needed (no server was created)")


__all__ = ["start_drill", "advance_all", "advance_drill", "load_drills", "evaluate_drill", "DrillFacts",
           "choose_restore_point", "Drill", "DrillActive", "DrillGuardError", "make_context", "restore"]


@check(id=CHECK_ID, title=TITLE, severity=SEVERITY, remediation=REMEDIATION, risk=RISK, read_only=False,
       on_demand=True, controls=RESTORE_TEST)
def restore(ctx: RunContext) -> Outcome:
    """The drill outlives a run, so a verification run never starts one: it runs through its own entry
    points and journals its own run (trigger `drill`). Its status: `evaluate_drill`."""
    raise NotConfigured(msg("the restore drill runs on its own: python -m checks drill start|status, "
                            "POST /api/drill, or every RESTORE_DRILL_EVERY_MONTHS from the monthly timer"))


# --- journal ------------------------------------------------------------------------------------
def load_drills(journal) -> list[Drill]:
    """All drills, newest first (drill ids sort by time)."""
    from checks.drill.records import read_drills  # an unreadable entity is logged, never a drill

    drills = read_drills(journal.partition(PARTITION))
    return sorted(drills, key=lambda d: d.drill_id, reverse=True)


def save(journal, drill: Drill, now: datetime, held: slot.Held | None = None) -> None:
    """Write the drill's record; with `held`, only while this invocation still holds the slot (SlotLost)."""
    if held is not None:
        held.confirm(now)
    drill.updated_at = iso(now)
    journal.upsert(drill.to_entity())


# --- start --------------------------------------------------------------------------------------
def start_drill(ctx: RunContext, journal, trigger: str, restore_point: str | None = None,
                target_server: str | None = None, rng: random.Random | None = None, who: dict | None = None) -> Drill:
    """Request the restore and persist the drill (state provisioning, or failed when refused).

    The drill is about the fleet target whose settings `ctx` carries (TARGET_NAME, or a TARGETS name:
    checks/drill/targets.py); `target_server` names the NEW server (default <prefix>-YYYYMMDD[-HHMM]).

    Raises NotConfigured (drill not enabled / Azure target not set), DrillActive (one at a time; SlotLost
    when this start stalled and another took its slot: no PUT, no record), CheckError (the source server
    cannot be read). Refusals by a guard and Azure errors on the PUT are recorded as a failed drill (with
    its journal run) and returned.
    """
    from checks.connect.azure import postgres_client

    s = ctx.settings
    if not s.restore_drill_enabled:
        raise NotConfigured(msg("{variable} is not true: the restore drill is opt-in (it creates a billable server "
                                "for a few hours)", variable=variable_name("restore_drill_enabled")))
    s.require("azure_subscription_id", "pg_resource_group", "pg_server_name", "restore_drill_resource_group")
    refuse_production_drill_group(s)  # never next to a production resource of any target (a discovered one too)
    client = postgres_client(ctx)
    now = ctx.now()
    drill_id = new_run_id(now)
    with slot.claimed(journal, drill_id, now, s.target_name, s.restore_drill_max_concurrent) as held:  # atomic
        source = get_server(client, s.pg_resource_group, s.pg_server_name)
        if source is None:
            raise CheckError(msg("source server {server} not found in resource group {group}", server=s.pg_server_name,
                                 group=s.pg_resource_group),
                             msg("Check PG_SERVER_NAME / PG_RESOURCE_GROUP / AZURE_SUBSCRIPTION_ID."))
        drill = _new_drill(s, trigger, source, now, target_server, drill_id, who)  # who: the HTTP caller
        try:
            step = _request(ctx, journal, client, drill, source, held, (restore_point, target_server, rng))
        except slot.SlotLost:
            slot.abandon(journal, drill, ctx.now())
            raise
        if step is None:
            return drill  # refused: recorded as a failed drill
        drill.created = True
        drill.create_token = step.token
        drill.event(now, msg("Azure accepted the restore (operation {status})", status=step.status))
        _after_restore_poll(drill, step, now, s)
        save(journal, drill, now)  # not conditional: the token of a server this start created is never dropped
        if drill.state != PROVISIONING:
            return advance_drill(ctx, journal, drill, held)
        return drill


def _request(ctx: RunContext, journal, client, drill: Drill, source, held: slot.Held, asked: tuple) -> LroStep | None:
    """Choose the point and the name, save the drill and PUT, the slot confirmed after the reads and right
    before the PUT (SlotLost: another start took it); None when a guard or Azure refused (recorded)."""
    s, now = ctx.settings, parse_iso(drill.requested_at)
    restore_point, target_server, rng = asked
    rg = s.restore_drill_resource_group  # where the restored server goes
    try:
        refuse_public_source(source)  # before any PUT: no firewall rule for a copy of health data
        earliest, latest = restore_window(source, now, LATEST_MARGIN)
        point, mode = choose_restore_point(restore_point or s.restore_point, earliest, latest, rng)
        drill.restore_point, drill.restore_point_mode = iso(point), mode
        drill.restore_window = {"earliest": iso(earliest), "latest": iso(latest)}
        others = [h for h in slot.live_holders(journal, now) if h.drill_id != drill.drill_id]  # racing starts
        drill.target_server = _pick_target(client, rg, s.pg_server_name, s.restore_drill_prefix, now, target_server,
                                           drill.drill_id, bool(others))
        drill.event(now, msg("restore of {source} at {point} ({mode}) to {target} requested ({trigger})",
                             source=s.pg_server_name, point=drill.restore_point, mode=mode, target=drill.target_server,
                             trigger=drill.trigger))
        held.confirm(ctx.now())  # still ours after the reads, before anything is written
        save(journal, drill, now)  # before the PUT: a crash after it still leaves a trace (and the tags)
        return begin_restore(client, rg, drill.target_server, source, point,
                             drill_tags(drill.drill_id, s.pg_server_name, parse_iso(drill.expires_at)), drill_group=rg,
                             confirm=lambda: held.confirm(ctx.now()))
    except CheckError as exc:
        # refused by a guard, or Azure refused the PUT (409, 403...): no server of ours exists
        kind = "guard" if isinstance(exc, DrillGuardError) else \
            "conflict" if exc.details.get("http_status") == 409 else "azure"
        _stop(drill, kind, exc.reason, msg("drill not started: {reason}", reason=exc.reason), s)
        drill.cleanup = NO_SERVER
        drill.event(now, msg("refused: {reason}", reason=exc.reason))
        _finish(ctx, journal, drill, now, held)
        return None


def _new_drill(s: Settings, trigger: str, source, now: datetime, target: str | None, drill_id: str, who=None) -> Drill:
    keep = bool(s.restore_drill_keep)
    expires = now + timedelta(hours=s.restore_drill_max_hours + (s.restore_drill_keep_hours if keep else 0))
    return Drill(drill_id=drill_id, state=PROVISIONING, trigger=trigger, source_server=s.pg_server_name,
                 resource_group=s.restore_drill_resource_group, target_server=target or "", requested_at=iso(now),
                 restore_point="", restore_point_mode="", expires_at=iso(expires), keep=keep,
                 location=source.location or "", target_name=s.target_name or "",
                 production_access=parity.access_of(source),  # what the drill server's access is compared with
                 **{f"requested_by_{key}": value for key, value in (who or {}).items()})


def _stop(drill: Drill, kind: str, error: str, summary: str, settings: Settings) -> None:
    """The drill stops before verification (`kind`: a verify.STOPPED_STATUS key); the rule decides its status."""
    drill.stopped_by, drill.error, drill.summary = kind, error, summary
    facts = DrillFacts(drill.target_server, stopped_by=kind, stop_reason=error, stop_summary=summary)
    drill.outcome = evaluate_drill(facts, settings).status.value


def _pick_target(client, rg: str, source_name: str, prefix: str, now: datetime, target: str | None,
                 drill_id: str = "", others: bool = False) -> str:
    """The new server's name: `<prefix>-YYYYMMDD`, else `-HHMM`, else `-HHMM-<drill id's suffix>`; only the last
    when `others` (another drill holds the slot: two starts that both found the day's name free would both
    pick it; each claimed its slot before picking, so of two racing starts the later sees the earlier)."""
    if target:
        return validate_server_name(target)  # the existence guard runs right before the PUT
    unique = [f"{prefix[:42]}-{now:%Y%m%d-%H%M}-{drill_id[-6:]}"] if drill_id[-6:].isalnum() else []
    names = [validate_server_name(n) for n in (unique if others and unique else target_names(prefix, now) + unique)]
    for name in names:
        if name.lower() != source_name.lower() and get_server(client, rg, name) is None:
            return name
    return names[-1]  # taken too: begin_restore refuses it with the reason


# --- advance ------------------------------------------------------------------------------------
def advance_all(ctx: RunContext, journal, lookup: Lookup | None = None) -> list[Drill]:
    """Advance every active drill by bounded steps, each with its own target's settings (`lookup`: a
    target's name -> its settings; default TARGETS); [] when none is active (nothing else is done)."""
    done = []
    for drill in (d for d in load_drills(journal) if d.active):
        with drill_context(ctx, drill.target_name, lookup) as (own, problem):
            if problem and drill.state != CLEANING_UP:  # its server, its database: unknown now; clean up
                now = ctx.now()
                _stop(drill, "azure", problem, problem, own.settings)
                drill.keep = False
                drill.event(now, problem)
                drill.state = CLEANING_UP
            done.append(advance_drill(own, journal, drill))
    return done


def advance_drill(ctx: RunContext, journal, drill: Drill, held: slot.Held | None = None) -> Drill:
    """Advance one drill by bounded steps, holding the drill slot (`held`, else taken now: checks/drill/slot.py);
    an invocation that finds the slot another's writes nothing more (logged) and returns the drill as it was."""
    try:
        return _advance(ctx, journal, drill, held or slot.hold(journal, drill.drill_id, ctx.now(), drill.target_name))
    except slot.SlotLost as exc:
        log.warning("restore drill %s not advanced: %s", drill.drill_id, exc.reason)
        return drill


def _advance(ctx: RunContext, journal, drill: Drill, held: slot.Held) -> Drill:
    for _ in range(MAX_STEPS):
        before = drill.state
        now = ctx.now()
        if _starting(drill, now):
            break  # saved by a start that has not PUT yet: its start's, not ours to write
        try:
            if drill.state in (PROVISIONING, VERIFYING) and _overdue(drill, ctx.settings, now):
                hours = ctx.settings.restore_drill_max_hours
                error = msg("drill exceeded RESTORE_DRILL_MAX_HOURS ({hours} h) while {state}", hours=hours,
                            state=drill.state)
                _stop(drill, "overdue", error, error, ctx.settings)
                drill.keep = False  # an overdue drill is always cleaned up
                drill.event(now, drill.error)
                drill.state = CLEANING_UP
            elif drill.state == PROVISIONING:
                _provisioning(ctx, drill, now)
            elif drill.state == VERIFYING:
                _verifying(ctx, drill, now)
            elif drill.state == CLEANING_UP:
                _cleaning_up(ctx, drill, now, held)
        except CheckError as exc:  # transient Azure trouble: stay in the state, the deadline bounds it
            drill.error = exc.reason
            drill.event(now, msg("{state}: {reason}", state=drill.state, reason=exc.reason))
        if drill.state in TERMINAL:
            _finish(ctx, journal, drill, now, held)
            return drill
        save(journal, drill, now, held)
        if drill.state == before:
            break  # waiting on Azure: the next invocation goes on
    return drill


def _starting(drill: Drill, now: datetime) -> bool:
    """Saved by its start, not yet accepted by Azure, and recent: the start is between its save and its PUT."""
    return drill.state == PROVISIONING and not drill.created and now - parse_iso(drill.requested_at) < slot.STALE_AFTER


def _overdue(drill: Drill, settings: Settings, now: datetime) -> bool:
    return now - parse_iso(drill.requested_at) > timedelta(hours=settings.restore_drill_max_hours)


def arm_client(ctx: RunContext):
    from checks.connect.azure import postgres_client
    return postgres_client(ctx)


def _provisioning(ctx: RunContext, drill: Drill, now: datetime) -> None:
    step = poll_restore(arm_client(ctx), drill.resource_group, drill.target_server, drill.create_token)
    drill.create_token = step.token
    _after_restore_poll(drill, step, now, ctx.settings)


def _after_restore_poll(drill: Drill, step, now: datetime, settings: Settings) -> None:
    if not step.done:
        return
    if not step.succeeded:
        error = msg("restore failed in Azure: {error}", error=step.error or step.status)
        _stop(drill, "restore_failed", error, error, settings)
        drill.event(now, drill.error)
        drill.state = CLEANING_UP
        return
    requested = parse_iso(drill.requested_at)
    ready = step.end_time if step.end_time and requested <= step.end_time <= now else now
    drill.ready_at = iso(ready)
    props = getattr(step.resource, "properties", None)
    drill.target_host = (getattr(props, "fully_qualified_domain_name", None) or "") if props else ""
    drill.error = ""
    drill.event(now, msg("restored server {server} ready at {ready} (RTO {minutes} min), host {host}",
                         server=drill.target_server, ready=drill.ready_at, minutes=minutes(ready - requested),
                         host=drill.target_host or "?"))
    drill.state = VERIFYING


def _verifying(ctx: RunContext, drill: Drill, now: datetime) -> None:
    if not drill.parity and not _access_matches(ctx, drill, now):
        return  # a drill server more open than production: stopped before any data is read
    facts = gather_facts(ctx, drill.target_server, drill.target_host, drill.restore_point, drill.requested_at,
                         drill.ready_at)
    outcome = evaluate_drill(replace(facts, parity_warnings=parity_warnings(drill)), ctx.settings)
    drill.outcome, drill.summary = outcome.status.value, outcome.summary
    drill.verification = dict(outcome.details.get("verification", {}))
    drill.event(now, msg("verification {status}: {summary}", status=outcome.status.value, summary=outcome.summary))
    if drill.keep:
        drill.cleanup = msg("kept until {expires} (RESTORE_DRILL_KEEP); the sweeper deletes it then",
                            expires=drill.expires_at)
        drill.event(now, drill.cleanup)
        drill.state = SUCCEEDED if outcome.status in (Status.PASS, Status.WARN) else FAILED
    else:
        drill.state = CLEANING_UP


def _access_matches(ctx: RunContext, drill: Drill, now: datetime) -> bool:
    """The access-parity check (checks/drill/parity.py) on the drill server as ARM shows it now, recorded in
    `drill.parity`; False (the drill stopped, its server to be deleted) when a difference fails it."""
    client = arm_client(ctx)
    server = get_server(client, drill.resource_group, drill.target_server)
    if server is None:
        raise CheckError(msg("restored server {server} not found in {group}", server=drill.target_server,
                             group=drill.resource_group))
    props = getattr(server, "properties", None)
    drill.target_host = drill.target_host or (getattr(props, "fully_qualified_domain_name", None) or "")
    if not drill.production_access:  # started before production's access was recorded: nothing to compare
        drill.parity = {"status": "not checked", "findings": []}
        return True
    drill.parity = dict(parity.evaluate_parity(drill.production_access, parity.read_access(
        client, drill.resource_group, drill.target_server, server)), checked_at=iso(now))
    failing = [f["field"] for f in drill.parity["findings"] if f["severity"] == "fail"]
    drill.event(now, msgn("access parity with production: {status} ({count} finding)",
                          "access parity with production: {status} ({count} findings)", "count",
                          status=drill.parity["status"], count=len(drill.parity["findings"])))
    if not failing:
        return True
    error = msg("access parity: the drill server's {fields} differ from production's; no data was read",
                fields=", ".join(failing))
    _stop(drill, "parity", error, error, ctx.settings)
    drill.keep = False  # a copy more open than production is never kept
    drill.state = CLEANING_UP
    return False


def _cleaning_up(ctx: RunContext, drill: Drill, now: datetime, held: slot.Held) -> None:
    if disposal.cleaning_up(lambda: arm_client(ctx), drill, now, ctx.settings.restore_drill_resource_group,
                            ctx.settings.restore_drill_max_hours, confirm=lambda: held.confirm(now)):
        drill.state = _final_state(drill)


def _final_state(drill: Drill) -> str:
    return SUCCEEDED if drill.outcome in (Status.PASS.value, Status.WARN.value) else FAILED


def _finish(ctx: RunContext, journal, drill: Drill, now: datetime, held: slot.Held) -> None:
    """Terminal: journal the drill.restore run (idempotent: run id = drill id), then the state; only while
    this invocation holds the slot."""
    held.confirm(now)
    if drill.state not in TERMINAL:
        drill.state = FAILED
    drill.finished_at = drill.finished_at or iso(now)
    drill.create_token = drill.delete_token = ""  # no use any more; keeps the entity small
    run = drill_run(drill, now, ctx.settings)
    from checks.journal.deviation_log import after_drill  # a failed drill opens a deviation, a passing one closes it
    run.notes.extend(after_drill(journal, run, ctx.settings))
    journal.write_run(run)
    drill.event(now, msg("drill {state}; recorded as run {run_id} ({status})", state=drill.state, run_id=run.run_id,
                         status=run.status.value))
    save(journal, drill, now)
    # WARNING/ERROR: the drill-failed alert reads this line whatever LOG_LEVEL is (checks/engine/logsetup.py)
    log.log(logging.ERROR if drill.state == FAILED else logging.WARNING,
            "restore drill %s %s: %s", drill.drill_id, drill.state, drill.summary,
            extra={"run_id": run.run_id, "status": run.status.value, "outcome_line": True})


# --- context of a drill invocation -------------------------------------------------------------
def make_context(settings: Settings) -> RunContext:
    """The context of a drill invocation (tests replace this to inject a transport and a clock)."""
    return RunContext(settings=settings)
