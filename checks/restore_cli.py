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
from checks.engine.i18n import msg, plain, tr as _
from checks.cli_text import error_line
from checks.engine.model import NotConfigured
from checks.restore_text import describe, describe_blob_plan, describe_plan, describe_range_plan, runbook

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
        raise argparse.ArgumentTypeError(_("expected minutes between 1 and 1440, got {value}", value=repr(text)))
    return value


def add_cli(sub) -> None:
    """Registered by checks/cli.py."""
    restore = sub.add_parser("restore", help=_("incident restore: PostgreSQL to a NEW server, deleted/overwritten blobs"))
    verbs = restore.add_subparsers(dest="restore_command", required=True)
    pg = verbs.add_parser("postgres", help=_("point-in-time restore of production to a NEW server (plan unless --apply)"))
    pg.add_argument("--point", required=True, metavar="ISO|latest", help=_("restore point: latest, or ISO time with zone"))
    pg.add_argument("--name", metavar="NAME", help=_("new server name (default <PG_SERVER_NAME>-pitr-YYYYMMDD-HHMM)"))
    pg.add_argument("--resource-group", metavar="RG", help=_("resource group of the new server (default RESTORE_DRILL_RESOURCE_GROUP; never production's)"))
    _apply_flags(pg)
    blobs = verbs.add_parser("blobs", help=_("bring back deleted or overwritten blobs (plan unless --apply); never deletes"))
    blobs.add_argument("--container", required=True, metavar="C", help=_("the container"))
    blobs.add_argument("--prefix", metavar="P", help=_("only blobs whose name starts with P"))
    blobs.add_argument("--deleted-since", metavar="ISO", help=_("deleted (or overwritten) at or after this time, with zone"))
    blobs.add_argument("--point", metavar="ISO", help=_("blob point-in-time restore of --prefix's range to this time "
                                                      "(account restore policy on; undoes every later change)"))
    _apply_flags(blobs)
    status = verbs.add_parser("status", help=_("show an incident restore; resume watching one still in progress"))
    status.add_argument("incident_id", nargs="?", metavar="ID", help=_("incident id (default: list the latest)"))
    status.add_argument("--wait-minutes", type=_minutes, default=DEFAULT_WAIT_MINUTES, metavar="N")
    status.add_argument("--json", action="store_true")


def _apply_flags(parser) -> None:
    parser.add_argument("--apply", action="store_true", help=_("do it (default: only show the plan)"))
    parser.add_argument("--yes", action="store_true", help=_("no confirmation prompt (required without a terminal)"))
    parser.add_argument("--by", metavar="NAME", help=_("who asks for the restore (required with --apply)"))
    parser.add_argument("--wait-minutes", type=_minutes, default=DEFAULT_WAIT_MINUTES, metavar="N",
                        help=_("stop watching after N minutes (the restore goes on; resume with restore status)"))
    parser.add_argument("--json", action="store_true", help=_("the plan / record as JSON"))


def command(args, out: TextIO, env) -> int:
    from checks.service import load_settings, open_journal

    if getattr(args, "apply", False):
        refusal = _apply_refusal(args)
        if refusal:
            print(_("error: {reason}", reason=refusal), file=sys.stderr)
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
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    finally:
        ctx.close()


def _apply_refusal(args) -> str:
    by = (args.by or "").strip()
    if not by or len(by) > 100 or not by.isprintable():
        return _("--apply needs --by NAME (who asks for the restore, 1-100 printable characters)")
    if not args.yes and not sys.stdin.isatty():
        return _("refusing --apply without a terminal; add --yes when a script really means it")
    return ""


def _confirmed(target: str, out: TextIO, args) -> bool:
    if args.yes:
        return True
    out.write(_("Type the target {target} to confirm the restore: ", target=target))
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
        out.write(_("Not confirmed: nothing was done.") + "\n")
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
    out.write(_("Incident {incident_id}: restore requested ({target}).", incident_id=incident.incident_id,
                target=incident.target_server) + "\n")
    return _follow(ctx, journal, incident, args, out)


def _follow(ctx: RunContext, journal, incident, args, out: TextIO, poller: Any = None) -> int:
    from checks.restore.blob_ranges import watch_ranges
    from checks.restore.postgres import watch
    from checks.restore.record import FAILED, PROVISIONING, save

    def progress(inc, elapsed: timedelta) -> None:
        status = inc.plan.get("operation_status") or "-"
        out.write("  " + _("{clock} elapsed  {target}: {state} (Azure: {status})", clock=_clock(elapsed),
                           target=inc.target_server, state=inc.state, status=status) + "\n")
        out.flush()

    try:
        if incident.kind == "blob-ranges" and incident.state == PROVISIONING:
            incident = watch_ranges(ctx, journal, incident, progress, args.wait_minutes, poller)
        elif incident.state in (PROVISIONING, "verifying"):
            incident = watch(ctx, journal, incident, progress, sleep, args.wait_minutes)
    except KeyboardInterrupt:
        incident.event(ctx.now(), msg("watching interrupted (Ctrl-C); the restore goes on in Azure"))
        save(journal, incident, ctx.now())
        out.write("\n" + _("Interrupted: the restore goes on in Azure; the record is in the journal.") + "\n"
                  + _("Resume watching: python -m checks restore status {incident_id}",
                      incident_id=incident.incident_id) + "\n")
        return EXIT_INTERRUPTED
    if incident.state == PROVISIONING:
        out.write(_("Still in progress after {minutes} min. Resume watching: python -m checks restore status "
                    "{incident_id}", minutes=plain(args.wait_minutes), incident_id=incident.incident_id) + "\n")
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
        plan.reasons.append(msg("--deleted-since and --point do not go together (--point restores the whole range)"))
    stop = _gate(plan, describe_range_plan, plan.range_start, args, out)
    if stop is not None:
        return stop
    incident, poller = apply_ranges(ctx, journal, plan, args.by.strip())
    out.write(_("Incident {incident_id}: blob range restore requested ({start}).", incident_id=incident.incident_id,
                start=plan.range_start) + "\n")
    return _follow(ctx, journal, incident, args, out, poller)


# --- status -----------------------------------------------------------------------------------------------------
def _status(ctx: RunContext, journal, args, out: TextIO) -> int:
    from checks.restore.record import FAILED, WATCHABLE, load, recent

    if not args.incident_id:
        incidents = recent(journal)
        if args.json:
            _dump([i.public() for i in incidents], out)
        else:
            out.write("".join(describe(i) for i in incidents) or _("No incident restore recorded.") + "\n")
        return EXIT_OK
    incident = load(journal, args.incident_id)
    if incident is None:
        print(_("error: incident {incident_id} not found in the journal", incident_id=args.incident_id),
              file=sys.stderr)
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
