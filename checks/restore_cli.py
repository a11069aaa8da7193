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
from checks.engine.i18n import current, msg, plain, tr as _
from checks.cli_text import error_and_hint, error_line, reason_text
from checks.engine.model import CheckError, JournalUnavailable, NotConfigured
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
    status.add_argument("--server", metavar="NAME", help=_("the restored server's name instead of the id: follows "
                                                           "the restore even without the journal"))
    status.add_argument("--resource-group", metavar="RG", help=_("the server's resource group (default "
                                                                 "RESTORE_DRILL_RESOURCE_GROUP), with --server"))
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
    """The command line is validated first (nothing read or written on bad input), then the journal's
    setting, then Azure and the journal are asked."""
    from checks.service import load_settings

    if getattr(args, "apply", False):
        refusal = _apply_refusal(args)
        if refusal:
            print(_("error: {reason}", reason=refusal), file=sys.stderr)
            return EXIT_USAGE
    settings = load_settings(env)
    ctx = restore.make_context(settings)
    try:
        if args.restore_command == "postgres":
            return _postgres(ctx, args, out)
        if args.restore_command == "blobs":
            return _blobs(ctx, args, out)
        return _status(ctx, args, out)
    except NotConfigured as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    finally:
        ctx.close()


def _journal(settings: Settings, required: bool = True) -> Any:
    """The journal (no I/O yet); not configured is a configuration error when `required`, else None."""
    from checks.service import open_journal

    try:
        return open_journal(settings)
    except JournalUnavailable:  # the only reason before any I/O: neither setting is there
        if required:
            raise NotConfigured(_("journal not configured: set JOURNAL_ACCOUNT_URL (managed identity) or "
                                  "AzureWebJobsStorage (connection string)")) from None
        return None


def _kept(ctx: RunContext, journal: Any, started: tuple[str, ...] = ()) -> Any:
    """The journal as an incident restore writes it: this machine's copy first once Azure has accepted."""
    from checks.restore.local import KeptJournal, folder_of

    def warn(reason: str) -> None:
        print(_("warning: {reason}; the incident record is kept on this machine in {folder} and written to the "
                "journal by the next `python -m checks restore status`", reason=reason, folder=str(folder)),
              file=sys.stderr)
    folder = folder_of(ctx.settings)
    return KeptJournal(journal, folder, warn, started)


def _accepted(ctx: RunContext, out: TextIO, follow: str):
    """Right after Azure accepted a restore, before the journal: the continuation on this machine, and printed."""
    from checks.restore.local import folder_of, keep

    def accepted(incident) -> None:
        try:
            where = str(keep(folder_of(ctx.settings), incident.to_entity()))
        except (OSError, ValueError) as exc:
            where = _("nowhere ({reason})", reason=reason_text(exc))
        out.write(_("Azure accepted the restore. Continuation kept in {path}", path=where) + "\n"
                  + "  " + _("continuation token: {token}", token=incident.create_token) + "\n"
                  + "  " + _("follow it from any machine: python -m checks restore status {follow}",
                             follow=follow.format(incident=incident)) + "\n")
        out.flush()
    return accepted


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
def _postgres(ctx: RunContext, args, out: TextIO) -> int:
    from checks.restore.postgres import apply_postgres, plan_postgres, postgres_input

    request, _point = postgres_input(ctx.settings, args.point, args.name, args.resource_group, ctx.now())
    if not request.valid:  # the command line alone is wrong: neither the journal nor Azure is asked
        return _gate(request, describe_plan, request.target_server, args, out)
    journal = _journal(ctx.settings, required=args.apply)
    plan, source = plan_postgres(ctx, journal, args.point, args.name, args.resource_group)
    stop = _gate(plan, describe_plan, plan.target_server, args, out)
    if stop is not None:
        return stop
    kept = _kept(ctx, journal)
    incident = apply_postgres(ctx, kept, plan, source, args.by.strip(),
                              accepted=_accepted(ctx, out, "--server {incident.target_server}"))
    out.write(_("Incident {incident_id}: restore requested ({target}).", incident_id=incident.incident_id,
                target=incident.target_server) + "\n")
    return _follow(ctx, kept, incident, args, out)


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
    except CheckError as exc:  # nothing to follow with (a blob range restore without its continuation)
        print(error_and_hint(exc), file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        incident.event(ctx.now(), msg("watching interrupted (Ctrl-C); the restore goes on in Azure"))
        save(journal, incident, ctx.now())
        out.write("\n" + _("Interrupted: the restore goes on in Azure; the record is in the journal.") + "\n"
                  + _("Resume watching: python -m checks restore status {incident_id}",
                      incident_id=_resume(incident)) + "\n")
        return EXIT_INTERRUPTED
    if incident.state == PROVISIONING:
        out.write(_("Still in progress after {minutes} min. Resume watching: python -m checks restore status "
                    "{incident_id}", minutes=plain(args.wait_minutes), incident_id=_resume(incident)) + "\n")
        return EXIT_RUNNING
    out.write(describe(incident))
    if incident.state == FAILED:
        return EXIT_FAILED
    if incident.kind == "postgres":
        out.write(runbook(incident, ctx.settings))
    return EXIT_OK if incident.outcome in ("pass", "warn") else EXIT_FAILED


def _resume(incident) -> str:
    """What `restore status` takes to resume: the id, or the server of a restore followed without a record."""
    return incident.incident_id or f"--server {incident.target_server}"


def _clock(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


# --- blobs ---------------------------------------------------------------------------------------------------
def _blobs(ctx: RunContext, args, out: TextIO) -> int:
    from checks.restore.blobs import apply_blobs, blob_input, plan_blobs

    if args.point is not None:
        return _blob_ranges(ctx, args, out)
    journal = None if blob_input(args.container, args.deleted_since, args.prefix)[0] or not args.apply \
        else _journal(ctx.settings)
    plan = plan_blobs(ctx, args.container, args.prefix, args.deleted_since)  # no I/O when the input is wrong
    stop = _gate(plan, describe_blob_plan, plan.container, args, out, nothing_to_do=not plan.candidates)
    if stop is not None:
        return stop
    incident = apply_blobs(ctx, _kept(ctx, journal), plan, args.by.strip())
    if args.json:
        _dump(incident.public(), out)
    else:
        out.write(describe(incident))
    return EXIT_OK if incident.outcome in ("pass", "warn") else EXIT_FAILED


def _blob_ranges(ctx: RunContext, args, out: TextIO) -> int:
    from checks.restore.blob_ranges import apply_ranges, plan_ranges, ranges_input

    request, _point = ranges_input(ctx.settings, args.container, args.prefix, args.point)
    if args.deleted_since is not None:
        request.reasons.append(msg("--deleted-since and --point do not go together (--point restores the whole "
                                   "range)"))
    if not request.valid:  # the command line alone is wrong: neither the journal nor Azure is asked
        return _gate(request, describe_range_plan, request.range_start, args, out)
    journal = _journal(ctx.settings) if args.apply else None
    plan = plan_ranges(ctx, args.container, args.prefix, args.point)
    stop = _gate(plan, describe_range_plan, plan.range_start, args, out)
    if stop is not None:
        return stop
    kept = _kept(ctx, journal)
    incident, poller = apply_ranges(ctx, kept, plan, args.by.strip(),
                                    accepted=_accepted(ctx, out, "{incident.incident_id}"))
    out.write(_("Incident {incident_id}: blob range restore requested ({start}).", incident_id=incident.incident_id,
                start=plan.range_start) + "\n")
    return _follow(ctx, kept, incident, args, out, poller)


# --- status -----------------------------------------------------------------------------------------------------
def _status(ctx: RunContext, args, out: TextIO) -> int:
    from checks.restore.record import FAILED, WATCHABLE, save

    refusal = _status_refusal(args)
    if refusal:  # before anything is read
        print(_("error: {reason}", reason=refusal), file=sys.stderr)
        return EXIT_USAGE
    journal = _journal(ctx.settings, required=not (args.incident_id or args.server))
    if not args.incident_id and not args.server:
        return _list(ctx, journal, args, out)
    incident, local_newer, failure = _find(ctx, journal, args)
    if incident is None:
        if failure:
            print(_("error: {reason}; no record of {incident_id} on this machine: follow the restore with "
                    "python -m checks restore status --server NAME", reason=failure, incident_id=args.incident_id),
                  file=sys.stderr)
            return EXIT_FAILED
        print(_("error: incident {incident_id} not found in the journal", incident_id=args.incident_id),
              file=sys.stderr)
        return EXIT_USAGE
    if failure:
        print(_("warning: {reason}; following the record kept on this machine", reason=failure), file=sys.stderr)
    kept = _kept(ctx, journal, (incident.incident_id,)) if incident.incident_id else _Unrecorded()
    if incident.kind in ("postgres", "blob-ranges") and incident.state in WATCHABLE:
        return _follow(ctx, kept, incident, args, out)
    if local_newer:  # the journal missed the last writes: it gets them now (and the local copy goes when done)
        save(kept, incident, ctx.now())
    if args.json:
        _dump(incident.public(), out)
    else:
        out.write(describe(incident))
    return EXIT_FAILED if incident.state == FAILED or incident.outcome in ("fail", "error") else EXIT_OK


def _status_refusal(args) -> str:
    from checks.drill.state import DrillGuardError, validate_server_name
    from checks.restore.record import is_incident_id

    if args.incident_id is not None and args.server is not None:
        return _("give an incident id or --server NAME, not both")
    if args.incident_id is not None and not is_incident_id(args.incident_id):
        return _("incident id {incident_id} is not an id like 20261126T140000Z-3f9a1c",
                 incident_id=repr(args.incident_id))
    if args.server is not None:
        try:
            validate_server_name(args.server)
        except DrillGuardError as exc:
            return _("--server: {reason}", reason=current().message(exc.reason))
    if args.resource_group is not None:
        from checks.engine.config import parse_value
        try:
            parse_value("pg_resource_group", args.resource_group)
        except ValueError as exc:
            return _("--resource-group: {reason}", reason=current().message(exc.args[0]))
    return ""


def _find(ctx: RunContext, journal: Any, args) -> tuple[Any, bool, str]:
    """(incident, the local copy is newer than the journal's, the journal's failure or ''): by id, or by
    --server (this machine's copy, the journal, else the server itself in Azure)."""
    from checks.restore import local
    from checks.restore.incidents import load_readable
    from checks.restore.record import PARTITION, load

    folder = local.folder_of(ctx.settings)
    mine = local.read(folder, args.incident_id) if args.incident_id else local.by_server(folder, args.server)
    journaled, failure = None, ""
    try:
        if journal is None:
            failure = _("journal not configured")
        elif args.incident_id:
            journaled = load(journal, args.incident_id)
        else:
            same = [e for e in journal.partition(PARTITION) if str(e.get("Target", "")).lower() == args.server.lower()]
            journaled = load_readable(max(same, key=lambda e: e.get("RowKey", ""))) if same else None
    except JournalUnavailable as exc:
        failure = str(exc)
    incident = local.newer(journaled, mine)
    if incident is None and args.server:
        incident = _from_server(ctx, args)
    return incident, incident is mine and mine is not None and journaled is not mine, failure


def _from_server(ctx: RunContext, args) -> Any:
    """No record anywhere reachable: follow the restore from the server alone (nothing is recorded)."""
    from checks.engine.timeutil import iso_z
    from checks.restore.record import PROVISIONING, Incident

    group = args.resource_group or ctx.settings.restore_drill_resource_group
    if not group:
        raise NotConfigured(_("--resource-group not given and RESTORE_DRILL_RESOURCE_GROUP not set: where is "
                              "the server {server}?", server=args.server))
    incident = Incident(incident_id="", kind="postgres", state=PROVISIONING, by="-", requested_at=iso_z(ctx.now()),
                        source_server=ctx.settings.pg_server_name or "", resource_group=group,
                        target_server=args.server)
    incident.event(ctx.now(), msg("no incident record found: following the server {server} itself (not recorded)",
                                  server=args.server))
    return incident


class _Unrecorded:
    """The journal of a restore followed from its server alone: nothing to record it under."""

    def upsert(self, entity: dict) -> None:
        pass


def _list(ctx: RunContext, journal: Any, args, out: TextIO) -> int:
    from checks.restore import local
    from checks.restore.record import recent

    try:
        incidents, code = recent(journal), EXIT_OK
    except JournalUnavailable as exc:  # what this machine keeps, said as such
        print(_("warning: {reason}; showing the records kept on this machine", reason=reason_text(exc)), file=sys.stderr)
        incidents, code = local.all_kept(local.folder_of(ctx.settings))[:5], EXIT_FAILED
    if args.json:
        _dump([i.public() for i in incidents], out)
    else:
        out.write("".join(describe(i) for i in incidents) or _("No incident restore recorded.") + "\n")
    return code


def _dump(data: Any, out: TextIO) -> None:
    json.dump(data, out, indent=2, default=str)
    out.write("\n")
