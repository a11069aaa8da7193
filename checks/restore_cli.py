"""`python -m checks restore postgres|blobs|status ...`: the incident restore's command line (a face).

Without --apply: the plan, nothing written; exit 0 valid, 2 invalid (every reason printed).
With --apply (needs --by; refused without a terminal unless --yes; on a terminal the person types
the target to confirm): the restore, progress while Azure works, bounded by --wait-minutes. Ctrl-C
stops watching only (the restore goes on in Azure, the record stays in the journal): resume with
`restore status ID`. Exit codes: 0 restored and verified (pass/warn), 1 failed or verification
failed, 2 invalid input or plan (nothing written), 3 still running when the wait ended, 130 Ctrl-C.
"""
from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from typing import Any, TextIO

from checks import restore
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import NotConfigured

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_RUNNING, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
DEFAULT_WAIT_MINUTES = 120.0
sleep = time.sleep  # tests replace it (and the clock) to watch without waiting


def _minutes(text: str) -> float:
    import argparse
    try:
        value = float(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 24 * 60:
        raise argparse.ArgumentTypeError(f"expected minutes between 1 and 1440, got {text!r}")
    return value


def add_cli(sub) -> None:
    """Registered by checks/cli.py."""
    restore = sub.add_parser("restore", help="incident restore: PostgreSQL to a NEW server, deleted/overwritten blobs")
    verbs = restore.add_subparsers(dest="restore_command", required=True)
    pg = verbs.add_parser("postgres", help="point-in-time restore of production to a NEW server (plan unless --apply)")
    pg.add_argument("--point", required=True, metavar="ISO|latest", help="restore point: latest, or ISO time with zone")
    pg.add_argument("--name", metavar="NAME", help="new server name (default <PG_SERVER_NAME>-pitr-YYYYMMDD-HHMM)")
    pg.add_argument("--resource-group", metavar="RG", help="resource group of the new server (default RESTORE_DRILL_RESOURCE_GROUP; never production's)")
    _apply_flags(pg)
    blobs = verbs.add_parser("blobs", help="bring back deleted or overwritten blobs (plan unless --apply); never deletes")
    blobs.add_argument("--container", required=True, metavar="C", help="the container")
    blobs.add_argument("--prefix", metavar="P", help="only blobs whose name starts with P")
    blobs.add_argument("--deleted-since", metavar="ISO", help="deleted (or overwritten) at or after this time, with zone")
    blobs.add_argument("--point", metavar="ISO", help="blob point-in-time restore of --prefix's range to this time "
                                                      "(account restore policy on; undoes every later change)")
    _apply_flags(blobs)
    status = verbs.add_parser("status", help="show an incident restore; resume watching one still in progress")
    status.add_argument("incident_id", nargs="?", metavar="ID", help="incident id (default: list the latest)")
    status.add_argument("--wait-minutes", type=_minutes, default=DEFAULT_WAIT_MINUTES, metavar="N")
    status.add_argument("--json", action="store_true")


def _apply_flags(parser) -> None:
    parser.add_argument("--apply", action="store_true", help="do it (default: only show the plan)")
    parser.add_argument("--yes", action="store_true", help="no confirmation prompt (required without a terminal)")
    parser.add_argument("--by", metavar="NAME", help="who asks for the restore (required with --apply)")
    parser.add_argument("--wait-minutes", type=_minutes, default=DEFAULT_WAIT_MINUTES, metavar="N",
                        help="stop watching after N minutes (the restore goes on; resume with restore status)")
    parser.add_argument("--json", action="store_true", help="the plan / record as JSON")


def command(args, out: TextIO, env) -> int:
    from checks.service import load_settings, open_journal

    if getattr(args, "apply", False):
        refusal = _apply_refusal(args)
        if refusal:
            print(f"error: {refusal}", file=sys.stderr)
            return EXIT_USAGE
    settings = load_settings(env)
    journal = open_journal(settings)
    ctx = restore.make_context(settings)
    try:
        if args.restore_command == "postgres":
            return _postgres(ctx, journal, args, out)
        if args.restore_command == "blobs":
            return _blobs(ctx, journal, args, out)
        return _status(ctx, journal, args, out)
    except NotConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        ctx.close()


def _apply_refusal(args) -> str:
    by = (args.by or "").strip()
    if not by or len(by) > 100 or not by.isprintable():
        return "--apply needs --by NAME (who asks for the restore, 1-100 printable characters)"
    if not args.yes and not sys.stdin.isatty():
        return "refusing --apply without a terminal; add --yes when a script really means it"
    return ""


def _confirmed(target: str, out: TextIO, args) -> bool:
    if args.yes:
        return True
    out.write(f"Type the target {target} to confirm the restore: ")
    out.flush()
    return sys.stdin.readline().strip() == target


def _gate(plan, describe_fn, confirm_word: str, args, out: TextIO, nothing_to_do: bool = False) -> int | None:
    """Show the plan; the exit code when nothing is to be applied (invalid, plan only, not confirmed), else None."""
    if args.json and not args.apply:
        _dump(plan.to_dict(), out)
    else:
        out.write(describe_fn(plan, applying=args.apply))
    if not plan.valid:
        return EXIT_USAGE
    if not args.apply or nothing_to_do:
        return EXIT_OK
    if not _confirmed(confirm_word, out, args):
        out.write("Not confirmed: nothing was done.\n")
        return EXIT_USAGE
    return None


# --- postgres ---------------------------------------------------------------------------------------------------
def _postgres(ctx: RunContext, journal, args, out: TextIO) -> int:
    from checks.restore.postgres import apply_postgres, plan_postgres

    plan, source = plan_postgres(ctx, journal, args.point, args.name, args.resource_group)
    stop = _gate(plan, describe_plan, plan.target_server, args, out)
    if stop is not None:
        return stop
    incident = apply_postgres(ctx, journal, plan, source, args.by.strip())
    out.write(f"Incident {incident.incident_id}: restore requested ({incident.target_server}).\n")
    return _follow(ctx, journal, incident, args, out)


def describe_plan(plan, applying: bool = False) -> str:
    verdict = "VALID" if plan.valid else "INVALID"
    lines = [f"Plan ({verdict}): point-in-time restore of {plan.source_server} to a NEW server",
             f"  restore point   {plan.point or '-'} ({plan.point_mode or '-'}); window "
             f"{' .. '.join(plan.window) or 'unknown'}",
             f"  target          {plan.target_server} in resource group {plan.resource_group} "
             f"({'free' if plan.target_free else 'not free' if plan.target_free is False else 'not checked'})",
             f"  location        {plan.location or '-'}",
             f"  network         {plan.network or '-'}",
             f"  estimated time  " + (f"~{plan.estimated_minutes:g} min ({plan.estimate_basis})"
                                      if plan.estimated_minutes is not None else plan.estimate_basis),
             "  tags            purpose=incident-restore (never deleted by the drill sweeper)"]
    lines += [f"  ✗ {reason}" for reason in plan.reasons]
    if plan.valid and not applying:
        lines.append("Nothing was written. Add --apply --by NAME to restore.")
    return "\n".join(lines) + "\n"


def _follow(ctx: RunContext, journal, incident, args, out: TextIO, poller: Any = None) -> int:
    from checks.restore.blob_ranges import watch_ranges
    from checks.restore.postgres import watch
    from checks.restore.record import FAILED, PROVISIONING, save

    def progress(inc, elapsed: timedelta) -> None:
        status = inc.plan.get("operation_status") or "-"
        out.write(f"  {_clock(elapsed)} elapsed  {inc.target_server}: {inc.state} (Azure: {status})\n")
        out.flush()

    try:
        if incident.kind == "blob-ranges" and incident.state == PROVISIONING:
            incident = watch_ranges(ctx, journal, incident, progress, args.wait_minutes, poller)
        elif incident.state in (PROVISIONING, "verifying"):
            incident = watch(ctx, journal, incident, progress, sleep, args.wait_minutes)
    except KeyboardInterrupt:
        incident.event(ctx.now(), "watching interrupted (Ctrl-C); the restore goes on in Azure")
        save(journal, incident, ctx.now())
        out.write(f"\nInterrupted: the restore goes on in Azure; the record is in the journal.\n"
                  f"Resume watching: python -m checks restore status {incident.incident_id}\n")
        return EXIT_INTERRUPTED
    if incident.state == PROVISIONING:
        out.write(f"Still in progress after {args.wait_minutes:g} min. Resume watching: "
                  f"python -m checks restore status {incident.incident_id}\n")
        return EXIT_RUNNING
    out.write(describe(incident))
    if incident.state == FAILED:
        return EXIT_FAILED
    if incident.kind == "postgres":
        out.write(runbook(incident, ctx.settings))
    return EXIT_OK if incident.outcome in ("pass", "warn") else EXIT_FAILED


def _clock(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def describe(incident) -> str:
    lines = [f"Incident {incident.incident_id} ({incident.kind}): {incident.state.upper()}"
             f"{' (' + incident.outcome + ')' if incident.outcome else ''}, requested by {incident.by} at "
             f"{incident.requested_at}",
             f"  restore point {incident.restore_point or '-'}, target {incident.target_server or '-'}, ready "
             f"{incident.ready_at or '-'}" + (f" ({incident.time_to_ready_minutes:g} min)"
                                              if incident.time_to_ready_minutes is not None else "")]
    if incident.summary:
        lines.append(f"  {incident.summary}")
    lines += [f"    {r['name']}: {r.get('result')}, {r.get('hash', '-')}" for r in incident.verification.get("results", [])[:20]]
    checks = incident.verification.get("checks", {})
    lines += [f"    {cid}: {c['status']} — {c['summary']}" for cid, c in checks.items()]
    counts = incident.verification.get("counts", {})
    if counts:
        lines.append(f"    {'table':<32} {'restored':>10} {'production':>10}")
        lines += [f"    {table:<32} {_n(c.get('restored')):>10} {_n(c.get('production')):>10}"
                  for table, c in counts.items()]
    lines += [f"    {e}" for e in incident.events[-6:]]
    return "\n".join(lines) + "\n"


def _n(value: Any) -> str:
    return "-" if value is None else str(value)


def runbook(incident, settings: Settings) -> str:
    """What the on-call person does next. Nothing is switched automatically."""
    host = incident.target_host or f"{incident.target_server}.postgres.database.azure.com"
    return "\n".join([
        "Runbook (nothing was switched over; production is untouched):",
        f"  1. Connect:  psql \"host={host} dbname=<app db> user=<admin or Entra user> sslmode=require\"",
        f"     Same logins and passwords as {incident.source_server} at {incident.restore_point}.",
        "  2. Check what the incident needs on the restored copy (the counts above are beside production's).",
        "  3. Either copy the needed rows back (pg_dump -t TABLE --data-only from the restored server, reviewed, "
        "then restored into production),",
        f"     or point the application at it: set its database host to {host} (app settings / DATABASE_URL),",
        "     after re-creating firewall rules / private DNS the application needs, and re-granting the verifier.",
        f"  4. Record the decision: python -m checks restore status {incident.incident_id} shows this record;",
        f"     the server is tagged purpose=incident-restore and is never deleted automatically: delete "
        f"{incident.target_server} by hand when done.",
    ]) + "\n"


# --- blobs ---------------------------------------------------------------------------------------------------
def _blobs(ctx: RunContext, journal, args, out: TextIO) -> int:
    from checks.restore.blobs import apply_blobs, plan_blobs

    if args.point is not None:
        return _blob_ranges(ctx, journal, args, out)
    plan = plan_blobs(ctx, args.container, args.prefix, args.deleted_since)
    stop = _gate(plan, describe_blob_plan, plan.container, args, out, nothing_to_do=not plan.candidates)
    if stop is not None:
        return stop
    incident = apply_blobs(ctx, journal, plan, args.by.strip())
    if args.json:
        _dump(incident.public(), out)
    else:
        out.write(describe(incident))
    return EXIT_OK if incident.outcome in ("pass", "warn") else EXIT_FAILED


def _blob_ranges(ctx: RunContext, journal, args, out: TextIO) -> int:
    from checks.restore.blob_ranges import apply_ranges, plan_ranges

    plan = plan_ranges(ctx, args.container, args.prefix, args.point)
    if args.deleted_since:
        plan.reasons.append("--deleted-since and --point do not go together (--point restores the whole range)")
    stop = _gate(plan, describe_range_plan, plan.range_start, args, out)
    if stop is not None:
        return stop
    incident, poller = apply_ranges(ctx, journal, plan, args.by.strip())
    out.write(f"Incident {incident.incident_id}: blob range restore requested ({plan.range_start}).\n")
    return _follow(ctx, journal, incident, args, out, poller)


def describe_range_plan(plan, applying: bool = False) -> str:
    lines = [f"Plan ({'VALID' if plan.valid else 'INVALID'}): blob point-in-time restore in storage account "
             f"{plan.account} (resource group {plan.resource_group})",
             f"  range           {plan.range_start or '-'} (included) .. {plan.range_end or '-'} (excluded)",
             f"  restore point   {plan.point or '-'}; window {' .. '.join(plan.window) or 'unknown'}",
             "  documented limits:"]
    lines += [f"    - {limit}" for limit in plan.limits]
    lines += [f"  ✗ {reason}" for reason in plan.reasons]
    if plan.valid and not applying:
        lines.append(f"Nothing was written. Add --apply --by NAME to restore (you will type {plan.range_start}).")
    return "\n".join(lines) + "\n"


def describe_blob_plan(plan, applying: bool = False) -> str:
    data = plan.to_dict()
    since = f", deleted or overwritten since {plan.deleted_since}" if plan.deleted_since else ""
    lines = [f"Plan ({'VALID' if plan.valid else 'INVALID'}): restore blobs in {plan.account}/{plan.container}"
             f"{' under ' + repr(plan.prefix) if plan.prefix else ''}{since}",
             f"  {data['count']} blob(s) to restore, {data['bytes']} bytes; {plan.listed} listed"
             + (" (listing capped at BLOB_LIST_CAP: narrow with --prefix)" if plan.cap_hit else "")]
    lines += [f"    {c.action:<8} {c.name}  ({c.why})" for c in plan.candidates[:5]]
    if len(plan.candidates) > 5:
        lines.append(f"    ... and {len(plan.candidates) - 5} more (--json lists them)")
    lines += [f"  ✗ {reason}" for reason in plan.reasons]
    if plan.valid and not applying:
        lines.append("Nothing was written; nothing is ever deleted. Add --apply --by NAME to restore.")
    return "\n".join(lines) + "\n"


# --- status -----------------------------------------------------------------------------------------------------
def _status(ctx: RunContext, journal, args, out: TextIO) -> int:
    from checks.restore.record import FAILED, WATCHABLE, load, recent

    if not args.incident_id:
        incidents = recent(journal)
        if args.json:
            _dump([i.public() for i in incidents], out)
        else:
            out.write("".join(describe(i) for i in incidents) or "No incident restore recorded.\n")
        return EXIT_OK
    incident = load(journal, args.incident_id)
    if incident is None:
        print(f"error: incident {args.incident_id} not found in the journal", file=sys.stderr)
        return EXIT_USAGE
    if incident.kind in ("postgres", "blob-ranges") and incident.state in WATCHABLE:
        return _follow(ctx, journal, incident, args, out)
    if args.json:
        _dump(incident.public(), out)
    else:
        out.write(describe(incident))
    return EXIT_FAILED if incident.state == FAILED or incident.outcome in ("fail", "error") else EXIT_OK


def _dump(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, default=str)
    out.write("\n")
