"""Restore drill: point-in-time restore of production to a NEW server, verified, measured, cleaned up.

A drill outlives one function invocation. Its state lives in the journal table (PartitionKey
`drill`, RowKey the drill id, see checks/drill/state.py) and a state machine advances it on later
invocations (the drill timer, `python -m checks drill status`), each step doing bounded work:

    provisioning ──restore succeeded──▶ verifying ──▶ cleaning_up ──▶ succeeded | failed
         │ Azure failed / 409 / past RESTORE_DRILL_MAX_HOURS ──────────▲ (failed)

* provisioning: one status poll of the restore's long-running operation per invocation
  (continuation token in the state). Ready time = the operation's endTime (else when seen).
* verifying: the database checks (`database.*`) run against the restored server
  (RunContext.db_host = its FQDN from ARM, same credentials and auth mode), production's
  essential counts are taken at the same time, and `evaluate_drill` compares them: the restored
  server must not hold MORE rows than production (production only grew since the restore point),
  a shortfall above COUNT_DROP_THRESHOLD_PERCENT is reported, the Alembic revision must match.
* cleaning_up: guarded delete (only a server carrying this drill's tags), unless
  RESTORE_DRILL_KEEP, when the server stays until its `expires-at` tag and the sweeper deletes it.

When a drill ends, a run with trigger `drill` and one result `drill.restore` is written to the
journal (details: rto_minutes, restore_point, target_server, drill_id, verification), so the
monthly report finds it. The drill's own database results are nested in `verification` rather
than journaled as `database.*` results: they describe the restored server, not production, and
must not feed production's count-drop comparison.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from checks.engine.config import Settings, variable_name
from checks.engine.context import RunContext
from checks.drill.state import (CLEANING_UP, FAILED, PARTITION, PROVISIONING, SUCCEEDED, TERMINAL, VERIFYING,
                          Drill, DrillActive, DrillGuardError, begin_guarded_delete, begin_restore, drill_tags,
                          expired_drill_servers, get_server, iso, parse_iso, poll_delete, poll_restore,
                          restore_window, target_names, validate_server_name)
from checks.engine.model import CheckError, CheckResult, NotConfigured, Outcome, Run, Severity, Status

log = logging.getLogger("checks.drill.restore_drill")

CHECK_ID = "drill.restore"
TITLE = "Restore drill: point-in-time restore to a new server"
SEVERITY = Severity.HIGH
REMEDIATION = ("Read the drill's events (python -m checks drill status); fix what failed (restore permissions: "
               "Contributor on the resource group; network access of the verifier to the restored server), "
               "then start a new drill.")
RISK = "A backup that has never been restored is a hope, not a backup: the drill proves restore works and how long it takes."
LATEST_MARGIN = timedelta(minutes=10)  # 'latest' = now - margin: the newest WAL may not be archived yet
CLEANUP_GRACE = timedelta(hours=24)  # a delete still not done this long after the deadline is left to the sweeper
MAX_STEPS = 4  # per invocation: provisioning → verifying → cleaning_up → done


__all__ = ["start_drill", "advance_all", "advance_drill", "sweep", "timer_tick", "monthly_hook", "load_drills",
           "evaluate_drill", "DrillFacts", "choose_restore_point", "Drill", "DrillActive", "DrillGuardError"]


# --- journal ------------------------------------------------------------------------------------
def load_drills(journal) -> list[Drill]:
    """All drills, newest first (drill ids sort by time)."""
    drills = [Drill.from_entity(e) for e in journal.partition(PARTITION)]
    return sorted(drills, key=lambda d: d.drill_id, reverse=True)


def save(journal, drill: Drill, now: datetime) -> None:
    drill.updated_at = iso(now)
    journal.upsert(drill.to_entity())


# --- restore point ------------------------------------------------------------------------------
def choose_restore_point(spec: str, earliest: datetime, latest: datetime,
                         rng: random.Random | None = None) -> tuple[datetime, str]:
    """(point, mode) for RESTORE_POINT = latest | random | ISO time, inside [earliest, latest]."""
    if latest <= earliest:
        raise CheckError(f"no restore window: earliest restore point {iso(earliest)} is not before {iso(latest)}",
                         "Check the source server's backups (postgres.* checks) before drilling.")
    if spec == "latest":
        return latest, "latest"
    if spec == "random":
        rng = rng or random.SystemRandom()
        span = (latest - earliest).total_seconds()
        return (earliest + timedelta(seconds=int(span * rng.random()))).replace(microsecond=0), "random"
    try:
        point = parse_iso(spec)
    except ValueError:
        point = None
    if point is None:
        raise DrillGuardError(f"restore point {spec!r} is not latest, random or an ISO time with a zone")
    if not earliest <= point <= latest:
        raise DrillGuardError(f"restore point {iso(point)} is outside the restore window {iso(earliest)} .. "
                              f"{iso(latest)}", "Pick a time inside the backup retention window.")
    return point, "given"


# --- start --------------------------------------------------------------------------------------
def start_drill(ctx: RunContext, journal, trigger: str, restore_point: str | None = None,
                target: str | None = None, rng: random.Random | None = None) -> Drill:
    """Request the restore and persist the drill (state provisioning, or failed when refused).

    Raises NotConfigured (drill not enabled / Azure target not set), DrillActive (one at a time),
    CheckError (the source server cannot be read). Refusals by a guard and Azure errors on the PUT
    are recorded as a failed drill (with its journal run) and returned.
    """
    from checks.connect.azure import postgres_client

    s = ctx.settings
    if not s.restore_drill_enabled:
        raise NotConfigured(f"{variable_name('restore_drill_enabled')} is not true: the restore drill is opt-in "
                            "(it creates a billable server for a few hours)")
    s.require("azure_subscription_id", "pg_resource_group", "pg_server_name")
    active = [d for d in load_drills(journal) if d.active]
    if active:
        raise DrillActive(active[0].drill_id, active[0].state)
    client = postgres_client(ctx)
    now = ctx.now()
    rg, source_name = s.pg_resource_group, s.pg_server_name
    source = get_server(client, rg, source_name)
    if source is None:
        raise CheckError(f"source server {source_name} not found in resource group {rg}",
                         "Check PG_SERVER_NAME / PG_RESOURCE_GROUP / AZURE_SUBSCRIPTION_ID.")
    from checks.engine.model import new_run_id
    drill_id = new_run_id(now)
    keep = bool(s.restore_drill_keep)
    expires = now + timedelta(hours=s.restore_drill_max_hours + (s.restore_drill_keep_hours if keep else 0))
    drill = Drill(drill_id=drill_id, state=PROVISIONING, trigger=trigger, source_server=source_name,
                  resource_group=rg, target_server=target or "", requested_at=iso(now), restore_point="",
                  restore_point_mode="", expires_at=iso(expires), keep=keep, location=source.location or "")
    try:
        earliest, latest = restore_window(source, now, LATEST_MARGIN)
        point, mode = choose_restore_point(restore_point or s.restore_point, earliest, latest, rng)
        drill.restore_point, drill.restore_point_mode = iso(point), mode
        drill.target_server = _pick_target(client, rg, source_name, s.restore_drill_prefix, now, target)
        drill.event(now, f"restore of {source_name} at {drill.restore_point} ({mode}) to {drill.target_server} "
                         f"requested ({trigger})")
        save(journal, drill, now)  # before the PUT: a crash after it still leaves a trace (and the tags)
        step = begin_restore(client, rg, drill.target_server, source, point,
                             drill_tags(drill_id, source_name, expires))
    except CheckError as exc:
        # refused by a guard, or Azure refused the PUT (409, 403...): no server of ours exists
        drill.error = exc.reason
        drill.outcome = Status.FAIL.value if isinstance(exc, DrillGuardError) or \
            exc.details.get("http_status") == 409 else Status.ERROR.value
        drill.summary = f"drill not started: {exc.reason}"
        drill.cleanup = "not needed (no server was created)"
        drill.event(now, f"refused: {exc.reason}")
        _finish(ctx, journal, drill, now)
        return drill
    drill.created = True
    drill.create_token = step.token
    drill.event(now, f"Azure accepted the restore (operation {step.status})")
    _after_restore_poll(drill, step, now)
    save(journal, drill, now)
    if drill.state != PROVISIONING:
        return advance_drill(ctx, journal, drill)
    return drill


def _pick_target(client, rg: str, source_name: str, prefix: str, now: datetime, target: str | None) -> str:
    if target:
        return validate_server_name(target)  # the existence guard runs right before the PUT
    names = [validate_server_name(n) for n in target_names(prefix, now)]
    for name in names:
        if name.lower() != source_name.lower() and get_server(client, rg, name) is None:
            return name
    return names[-1]  # taken too: begin_restore refuses it with the reason


# --- advance ------------------------------------------------------------------------------------
def advance_all(ctx: RunContext, journal) -> list[Drill]:
    """Advance every active drill by bounded steps; [] when none is active (nothing else is done)."""
    return [advance_drill(ctx, journal, d) for d in load_drills(journal) if d.active]


def advance_drill(ctx: RunContext, journal, drill: Drill) -> Drill:
    for _ in range(MAX_STEPS):
        before = drill.state
        now = ctx.now()
        try:
            if drill.state in (PROVISIONING, VERIFYING) and _overdue(drill, ctx.settings, now):
                hours = ctx.settings.restore_drill_max_hours
                drill.outcome, drill.error = Status.FAIL.value, f"drill exceeded RESTORE_DRILL_MAX_HOURS ({hours} h) " \
                                                                f"while {drill.state}"
                drill.summary = drill.error
                drill.keep = False  # an overdue drill is always cleaned up
                drill.event(now, drill.error)
                drill.state = CLEANING_UP
            elif drill.state == PROVISIONING:
                _provisioning(ctx, drill, now)
            elif drill.state == VERIFYING:
                _verifying(ctx, drill, now)
            elif drill.state == CLEANING_UP:
                _cleaning_up(ctx, drill, now)
        except CheckError as exc:  # transient Azure trouble: stay in the state, the deadline bounds it
            drill.error = exc.reason
            drill.event(now, f"{drill.state}: {exc.reason}")
        if drill.state in TERMINAL:
            _finish(ctx, journal, drill, now)
            return drill
        save(journal, drill, now)
        if drill.state == before:
            break  # waiting on Azure: the next invocation goes on
    return drill


def _overdue(drill: Drill, settings: Settings, now: datetime) -> bool:
    return now - parse_iso(drill.requested_at) > timedelta(hours=settings.restore_drill_max_hours)


def _client(ctx: RunContext):
    from checks.connect.azure import postgres_client
    return postgres_client(ctx)


def _provisioning(ctx: RunContext, drill: Drill, now: datetime) -> None:
    step = poll_restore(_client(ctx), drill.resource_group, drill.target_server, drill.create_token)
    drill.create_token = step.token
    _after_restore_poll(drill, step, now)


def _after_restore_poll(drill: Drill, step, now: datetime) -> None:
    if not step.done:
        return
    if not step.succeeded:
        drill.outcome, drill.error = Status.FAIL.value, f"restore failed in Azure: {step.error or step.status}"
        drill.summary = drill.error
        drill.event(now, drill.error)
        drill.state = CLEANING_UP
        return
    requested = parse_iso(drill.requested_at)
    ready = step.end_time if step.end_time and requested <= step.end_time <= now else now
    drill.ready_at = iso(ready)
    props = getattr(step.resource, "properties", None)
    drill.target_host = (getattr(props, "fully_qualified_domain_name", None) or "") if props else ""
    drill.error = ""
    drill.event(now, f"restored server {drill.target_server} ready at {drill.ready_at} "
                     f"(RTO {_minutes(ready - requested)} min), host {drill.target_host or '?'}")
    drill.state = VERIFYING


def _verifying(ctx: RunContext, drill: Drill, now: datetime) -> None:
    if not drill.target_host:
        server = get_server(_client(ctx), drill.resource_group, drill.target_server)
        drill.target_host = (server.properties.fully_qualified_domain_name or "") if server and server.properties \
            else ""
    facts = gather_facts(ctx, drill)
    outcome = evaluate_drill(facts, ctx.settings)
    drill.outcome, drill.summary = outcome.status.value, outcome.summary
    drill.verification = dict(outcome.details.get("verification", {}))
    drill.event(now, f"verification {outcome.status.value}: {outcome.summary}")
    if drill.keep:
        drill.cleanup = f"kept until {drill.expires_at} (RESTORE_DRILL_KEEP); the sweeper deletes it then"
        drill.event(now, drill.cleanup)
        drill.state = SUCCEEDED if outcome.status in (Status.PASS, Status.WARN) else FAILED
    else:
        drill.state = CLEANING_UP


def _cleaning_up(ctx: RunContext, drill: Drill, now: datetime) -> None:
    if not drill.created:
        drill.cleanup = drill.cleanup or "not needed (no server was created)"
        drill.state = _final_state(drill)
        return
    client = _client(ctx)
    try:
        if drill.delete_token:
            step = poll_delete(client, drill.resource_group, drill.target_server, drill.delete_token)
        else:
            step = begin_guarded_delete(client, drill.resource_group, drill.target_server, drill.source_server,
                                        drill.drill_id)
    except DrillGuardError as exc:
        drill.cleanup = f"refused: {exc.reason}"
        drill.event(now, drill.cleanup)
        drill.state = _final_state(drill)
        return
    except CheckError as exc:
        if now - parse_iso(drill.requested_at) > timedelta(hours=ctx.settings.restore_drill_max_hours) + CLEANUP_GRACE:
            drill.cleanup = f"failed: {exc.reason}; the sweeper deletes it after {drill.expires_at}"
            drill.event(now, drill.cleanup)
            drill.state = _final_state(drill)
            return
        raise
    if step is None:
        drill.cleanup = drill.cleanup or "not needed (the server does not exist)"
        drill.event(now, f"cleanup: {drill.target_server} does not exist")
        drill.state = _final_state(drill)
        return
    drill.delete_token = step.token
    if not step.done:
        if drill.cleanup != "deleting":
            drill.event(now, f"deletion of {drill.target_server} requested")
        drill.cleanup = "deleting"
        return
    drill.cleanup = "deleted" if step.succeeded else f"failed: {step.error or step.status}; " \
                                                      f"the sweeper deletes it after {drill.expires_at}"
    drill.event(now, f"cleanup: {drill.cleanup}")
    drill.state = _final_state(drill)


def _final_state(drill: Drill) -> str:
    return SUCCEEDED if drill.outcome in (Status.PASS.value, Status.WARN.value) else FAILED


def _finish(ctx: RunContext, journal, drill: Drill, now: datetime) -> None:
    """Terminal: journal the drill.restore run (idempotent: run id = drill id), then the state."""
    if drill.state not in TERMINAL:
        drill.state = FAILED
    drill.finished_at = drill.finished_at or iso(now)
    drill.create_token = drill.delete_token = ""  # no use any more; keeps the entity small
    run = drill_run(drill, now)
    journal.write_run(run)
    drill.event(now, f"drill {drill.state}; recorded as run {run.run_id} ({run.status.value})")
    save(journal, drill, now)
    log.info("restore drill %s %s: %s", drill.drill_id, drill.state, drill.summary,
             extra={"run_id": run.run_id, "status": run.status.value})


def drill_run(drill: Drill, now: datetime) -> Run:
    """The journal run of a finished drill: trigger `drill`, one result `drill.restore`."""
    requested = parse_iso(drill.requested_at)
    ready = parse_iso(drill.ready_at)
    status = Status(drill.outcome) if drill.outcome else Status.ERROR
    cleanup = drill.cleanup or ""
    if status == Status.PASS and (cleanup.startswith("refused") or cleanup.startswith("failed")):
        status = Status.WARN
    summary = drill.summary or drill.error or f"drill {drill.state}"
    if cleanup:
        summary = f"{summary}; server {drill.target_server}: {cleanup}"
    details = {
        "drill_id": drill.drill_id,
        "target_server": drill.target_server,
        "source_server": drill.source_server,
        "restore_point": drill.restore_point,
        "restore_point_mode": drill.restore_point_mode,
        "requested_at": drill.requested_at,
        "ready_at": drill.ready_at or None,
        "rto_minutes": _minutes(ready - requested) if ready else None,
        "verification": drill.verification or {"status": "not run", "reason": drill.error or drill.summary},
        "cleanup": cleanup,
        "state": drill.state,
        "trigger": drill.trigger,
    }
    result = CheckResult(check_id=CHECK_ID, title=TITLE, status=status, severity=SEVERITY, summary=summary,
                         details=details, remediation=REMEDIATION if status != Status.PASS else "",
                         started_at=requested, duration_ms=int((now - requested).total_seconds() * 1000))
    return Run(run_id=drill.drill_id, trigger="drill", started_at=requested, finished_at=now, results=[result])


def _minutes(delta: timedelta) -> float:
    return round(delta.total_seconds() / 60, 1)


# --- verification -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DrillFacts:
    target_server: str
    restored_checks: dict[str, tuple[str, str]]  # check id -> (status, summary) on the restored server
    restored_counts: dict[str, int]
    production_counts: dict[str, int]
    restored_revision: str | None
    production_revision: str | None
    revision_error: str = ""
    production_error: str = ""
    rto_minutes: float | None = None
    restore_point: str = ""


def evaluate_drill(facts: DrillFacts, settings: Settings) -> Outcome:
    """Passes when every database check passes on the restored server, its Alembic revision equals
    production's and no essential table holds more rows than production (it cannot: production only
    grew since the restore point). Fails on a failing/erroring check, a revision mismatch or a table
    larger than production's. Warns when the shortfall of a table exceeds
    COUNT_DROP_THRESHOLD_PERCENT, or when there were no counts to compare."""
    threshold = settings.count_drop_threshold_percent
    counts, larger, short = {}, [], []
    for table in sorted(set(facts.restored_counts) | set(facts.production_counts)):
        restored, production = facts.restored_counts.get(table), facts.production_counts.get(table)
        entry: dict[str, Any] = {"restored": restored, "production": production}
        if restored is not None and production is not None:
            entry["shortfall_percent"] = round(100 * (production - restored) / production, 1) if production else 0.0
            if restored > production:
                larger.append(table)
            elif production and entry["shortfall_percent"] > threshold:
                short.append(f"{table} {restored}/{production} (-{entry['shortfall_percent']:g}%)")
        counts[table] = entry
    failing = [cid for cid, (st, _) in facts.restored_checks.items() if st in ("fail", "error")]
    warned = [cid for cid, (st, _) in facts.restored_checks.items() if st == "warn"]
    verification = {
        "checks": {cid: {"status": st, "summary": summary[:200]} for cid, (st, summary) in facts.restored_checks.items()},
        "counts": counts,
        "alembic_revision": {"restored": facts.restored_revision, "production": facts.production_revision},
        "shortfall_threshold_percent": threshold,
    }
    if facts.revision_error:
        verification["alembic_error"] = facts.revision_error[:300]
    if facts.production_error:
        verification["production_error"] = facts.production_error[:300]
    problems, warnings = [], []
    if not any(st == "pass" for st, _ in facts.restored_checks.values()):
        problems.append("nothing was verified on the restored server (no database check passed; "
                        "is the database configured?)")
    if failing:
        problems.append("on the restored server: " + "; ".join(
            f"{cid} {facts.restored_checks[cid][0]} ({facts.restored_checks[cid][1][:120]})" for cid in failing))
    if facts.restored_revision != facts.production_revision:
        problems.append(f"Alembic revision {facts.restored_revision or 'unknown'} on the restored server, "
                        f"{facts.production_revision or 'unknown'} in production")
    if larger:
        problems.append("more rows restored than in production (wrong source, or production lost rows): " +
                        ", ".join(f"{t} {counts[t]['restored']}>{counts[t]['production']}" for t in larger))
    if short:
        warnings.append(f"shortfall above {threshold:g}% vs production: " + ", ".join(short))
    if not counts:
        warnings.append("no essential table counts to compare (ESSENTIAL_TABLES / database.essential_counts)")
    if warned:
        warnings.append("warnings on the restored server: " + ", ".join(warned))
    rto = f"RTO {facts.rto_minutes:g} min" if facts.rto_minutes is not None else "RTO unknown"
    if problems:
        verification["status"] = Status.FAIL.value
        return Outcome.fail(f"restore drill to {facts.target_server} failed verification: " + "; ".join(problems),
                            "Investigate the restored server before trusting the backups; re-run the drill "
                            "with RESTORE_DRILL_KEEP=true to inspect it.", verification=verification)
    compared = f"{len(counts)} table(s) ≤ production" if counts else "no counts compared"
    if warnings:
        verification["status"] = Status.WARN.value
        return Outcome.warn(f"restored {facts.target_server} ({rto}); " + "; ".join(warnings), None,
                            verification=verification)
    verification["status"] = Status.PASS.value
    return Outcome.passed(f"restored {facts.target_server} to {facts.restore_point} ({rto}); "
                          f"{len(facts.restored_checks)} database checks pass, {compared}, "
                          f"Alembic {facts.restored_revision}", verification=verification)


def gather_facts(ctx: RunContext, drill: Drill) -> DrillFacts:
    """Run the database checks on the restored server and production's counts (bounded by check timeouts)."""
    from checks.engine.registry import select
    from checks.engine.runner import run_checks

    specs = select(["database.*"])
    restored_ctx = _sub_context(ctx, drill.target_host or None)
    try:
        restored = run_checks(specs, restored_ctx, trigger="drill")
    finally:
        restored_ctx.close()
    production_counts: dict[str, int] = {}
    production_error = ""
    count_specs = [s for s in specs if s.id == "database.essential_counts"]
    if count_specs:
        prod_ctx = _sub_context(ctx, None)
        try:
            prod = run_checks(count_specs, prod_ctx, trigger="drill").results[0]
        finally:
            prod_ctx.close()
        production_counts = _counts(prod.details)
        if prod.status in (Status.ERROR,) and not production_counts:
            production_error = prod.summary
    restored_counts = next((_counts(r.details) for r in restored.results if r.check_id == "database.essential_counts"),
                           {})
    restored_rev, err1 = _alembic_revision(ctx, drill.target_host or None)
    production_rev, err2 = _alembic_revision(ctx, None)
    ready, requested = parse_iso(drill.ready_at), parse_iso(drill.requested_at)
    return DrillFacts(target_server=drill.target_server,
                      restored_checks={r.check_id: (r.status.value, r.summary) for r in restored.results},
                      restored_counts=restored_counts, production_counts=production_counts,
                      restored_revision=restored_rev, production_revision=production_rev,
                      revision_error="; ".join(e for e in (err1 and f"restored: {err1}", err2 and f"production: {err2}") if e),
                      production_error=production_error,
                      rto_minutes=_minutes(ready - requested) if ready and requested else None,
                      restore_point=drill.restore_point)


def _sub_context(ctx: RunContext, host: str | None) -> RunContext:
    # no journal: the checks must not compare the restored server with production's previous run
    return RunContext(settings=ctx.settings, clock=ctx.clock, credential=ctx.credential,
                      azure_kwargs=dict(ctx.azure_kwargs), db_host=host)


def _counts(details: dict[str, Any]) -> dict[str, int]:
    out = {}
    for table, value in (details.get("counts") or {}).items():
        if isinstance(value, dict):
            value = value.get("count", value.get("rows"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[str(table)] = int(value)
    return out


def _alembic_revision(ctx: RunContext, host: str | None) -> tuple[str | None, str]:
    """(revision, error) read through a read-only session on the given host."""
    from psycopg import sql
    from checks.connect.database import connect

    s = ctx.settings
    getter = ctx.get_credential if s.pg_auth == "entra" else None
    try:
        conn = connect(s, getter, host=host)
    except (CheckError, NotConfigured) as exc:
        return None, str(exc)
    try:
        with conn:
            row = conn.execute(sql.SQL("select version_num from {}.{} limit 1").format(
                sql.Identifier(s.alembic_schema), sql.Identifier(s.alembic_version_table))).fetchone()
        return (row[0] if row else None), ("" if row else "no Alembic revision row")
    except Exception as exc:  # missing table etc.
        return None, str(exc).splitlines()[0][:200]


# --- sweeper, timer, monthly --------------------------------------------------------------------
def sweep(ctx: RunContext) -> list[dict[str, str]]:
    """Delete expired drill servers (drill tags and expires-at passed) in PG_RESOURCE_GROUP."""
    s = ctx.settings
    s.require("azure_subscription_id", "pg_resource_group", "pg_server_name")
    client = _client(ctx)
    now = ctx.now()
    report = []
    for server in expired_drill_servers(client, s.pg_resource_group, s.pg_server_name, now):
        name = str(server.name)
        try:
            step = begin_guarded_delete(client, s.pg_resource_group, name, s.pg_server_name)
            outcome = "absent" if step is None else ("deleted" if step.succeeded else
                                                     "deleting" if not step.done else f"failed: {step.error}")
        except CheckError as exc:
            outcome = f"refused: {exc.reason}" if isinstance(exc, DrillGuardError) else f"failed: {exc.reason}"
        report.append({"server": name, "drill_id": (server.tags or {}).get("drill-id", ""), "result": outcome})
        log.info("drill sweeper: %s %s", name, outcome)
    return report


def timer_tick(ctx: RunContext, journal) -> dict[str, Any]:
    """The drill timer: advance active drills; when a kept drill server has expired, sweep. Else nothing."""
    drills = load_drills(journal)
    active = [d for d in drills if d.active]
    if active:
        done = [advance_drill(ctx, journal, d) for d in active]
        return {"advanced": [{"drill_id": d.drill_id, "state": d.state} for d in done]}
    now = ctx.now()
    expired_kept = [d for d in drills if d.keep and d.cleanup.startswith("kept") and parse_iso(d.expires_at) <= now]
    if not expired_kept:
        return {"advanced": []}
    swept = sweep(ctx)
    for d in expired_kept:
        d.cleanup = "deleted by the sweeper after expiry" if any(
            r["server"] == d.target_server and r["result"] in ("deleted", "deleting", "absent") for r in swept) \
            else d.cleanup
        d.event(now, f"sweeper: {d.cleanup}")
        save(journal, d, now)
    return {"advanced": [], "swept": swept}


def months_between(earlier: datetime, later: datetime) -> int:
    return (later.year * 12 + later.month) - (earlier.year * 12 + earlier.month)


def monthly_hook(ctx: RunContext, journal) -> dict[str, Any] | None:
    """Called by the monthly run: start a drill every RESTORE_DRILL_EVERY_MONTHS when enabled.

    Never raises (the monthly verification's result stands on its own); returns what it did.
    """
    s = ctx.settings
    if not s.restore_drill_enabled or journal is None:
        return None
    try:
        drills = load_drills(journal)
        if any(d.active for d in drills):
            return {"drill": "already active", "drill_id": next(d.drill_id for d in drills if d.active)}
        now = ctx.now()
        if drills:
            last = parse_iso(drills[0].requested_at)
            if months_between(last, now) < s.restore_drill_every_months:
                return {"drill": "not due", "last_drill_id": drills[0].drill_id,
                        "every_months": s.restore_drill_every_months}
        drill = start_drill(ctx, journal, trigger="timer")
        return {"drill": drill.state, "drill_id": drill.drill_id, "target_server": drill.target_server}
    except Exception as exc:  # a drill problem must not break the monthly run
        log.error("monthly restore drill not started: %s", exc)
        return {"drill": "error", "error": str(exc)[:300]}


# --- entry points (CLI, HTTP, timers) -----------------------------------------------------------
def make_context(settings: Settings) -> RunContext:
    """The context of a drill invocation (tests replace this to inject a transport and a clock)."""
    return RunContext(settings=settings)


def describe(drill: Drill) -> str:
    lines = [f"Drill {drill.drill_id}: {drill.state.upper()}"
             f"{' (' + drill.outcome + ')' if drill.outcome else ''} — {drill.source_server} → {drill.target_server}",
             f"  restore point {drill.restore_point or '-'} ({drill.restore_point_mode or '-'}), requested "
             f"{drill.requested_at}, ready {drill.ready_at or '-'}, expires {drill.expires_at}"]
    if drill.summary:
        lines.append(f"  {drill.summary}")
    if drill.cleanup:
        lines.append(f"  cleanup: {drill.cleanup}")
    lines += [f"    {e}" for e in drill.events[-8:]]
    return "\n".join(lines) + "\n"


def add_cli(sub) -> None:
    """`python -m checks drill start|status|cleanup` (registered by checks/cli.py)."""
    drill = sub.add_parser("drill", help="restore drill: PITR to a new server, verified and cleaned up")
    verbs = drill.add_subparsers(dest="drill_command", required=True)
    start = verbs.add_parser("start", help="request a point-in-time restore to a new server (RESTORE_DRILL_ENABLED)")
    start.add_argument("--restore-point", metavar="WHEN", help="latest | random | ISO time (default RESTORE_POINT)")
    start.add_argument("--target", metavar="NAME", help="target server name (default <prefix>-YYYYMMDD[-HHMM])")
    start.add_argument("--json", action="store_true")
    status = verbs.add_parser("status", help="advance the active drill and show the latest drills")
    status.add_argument("--json", action="store_true")
    cleanup = verbs.add_parser("cleanup", help="delete expired drill servers (drill tags only)")
    cleanup.add_argument("--json", action="store_true")


def cli_command(args, out, env) -> int:
    import json
    from checks.service import load_settings, open_journal

    settings = load_settings(env)
    journal = open_journal(settings)
    ctx = make_context(settings)
    try:
        if args.drill_command == "start":
            try:
                drill = start_drill(ctx, journal, trigger="cli", restore_point=args.restore_point, target=args.target)
            except (NotConfigured, DrillActive, CheckError) as exc:
                print(f"error: {getattr(exc, 'reason', exc)}", file=__import__("sys").stderr)
                return 1
            drills = [drill]
        elif args.drill_command == "status":
            advance_all(ctx, journal)
            drills = load_drills(journal)[:5]
        else:
            try:
                swept = sweep(ctx)
            except (NotConfigured, CheckError) as exc:
                print(f"error: {getattr(exc, 'reason', exc)}", file=__import__("sys").stderr)
                return 1
            if args.json:
                json.dump({"swept": swept}, out, indent=2)
                out.write("\n")
            else:
                out.write("".join(f"{r['server']}: {r['result']}\n" for r in swept) or "No expired drill server.\n")
            return 1 if any(r["result"].startswith(("refused", "failed")) for r in swept) else 0
    finally:
        ctx.close()
    if args.json:
        json.dump([d.public() for d in drills], out, indent=2, default=str)
        out.write("\n")
    else:
        out.write("".join(describe(d) for d in drills) or "No restore drill recorded.\n")
    return 1 if drills and drills[0].state == FAILED else 0


def http_start(settings: Settings, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /api/drill: (status code, payload)."""
    from checks.service import open_journal

    journal = open_journal(settings)
    ctx = make_context(settings)
    try:
        drill = start_drill(ctx, journal, trigger="http", restore_point=body.get("restore_point"),
                            target=body.get("target"))
    except NotConfigured as exc:
        return 400, {"error": str(exc)}
    except DrillActive as exc:
        return 409, {"error": str(exc), "drill_id": exc.drill_id, "state": exc.state}
    except CheckError as exc:
        return 502, {"error": exc.reason, "remediation": exc.remediation}
    finally:
        ctx.close()
    return (422 if drill.state == FAILED else 202), drill.public()


def timer_entry(settings: Settings) -> dict[str, Any]:
    """The drill timer (RESTORE_DRILL_SCHEDULE): never raises."""
    from checks.service import open_journal
    try:
        journal = open_journal(settings)
        ctx = make_context(settings)
        try:
            return timer_tick(ctx, journal)
        finally:
            ctx.close()
    except Exception as exc:
        log.error("restore drill timer: %s", exc)
        return {"error": str(exc)[:300]}


def monthly_entry(settings: Settings, journal) -> dict[str, Any] | None:
    """From the monthly run (checks/http_api.run_timer): maybe start a drill; never raises."""
    if not settings.restore_drill_enabled:
        return None
    ctx = make_context(settings)
    try:
        return monthly_hook(ctx, journal)
    finally:
        ctx.close()
