"""The restore drill's entry points (a face, beside checks/cli.py and checks/http_api.py):
`python -m checks drill start|status|cleanup`, `POST /api/drill`, the drill timer and the monthly
timer's hook. The drill itself (state machine, guards, rule) is checks/drill/.
"""
from __future__ import annotations

import json
import logging
import sys
from typing import Any, TextIO

from checks.drill import restore_drill
from checks.drill.state import FAILED, Drill, DrillActive, DrillGuardError, validate_server_name
from checks.engine.config import ConfigError, Settings
from checks.cli_text import error_line, reason_text
from checks.engine.i18n import current, msg, tr as _
from checks.engine.model import CheckError, NotConfigured
from checks.service import load_settings, open_journal

log = logging.getLogger("checks.drill_face")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CLI_FLAGS = {"restore_point": "--restore-point", "target": "--target"}


def start_problems(settings: Settings, restore_point: str | None, target: str | None,
                   names: dict[str, str] | None = None) -> dict[str, str]:
    """What is wrong with a drill request, found before anything is asked of Azure: {field: why}.

    `names` maps restore_point/target to what the caller calls them (CLI flags, JSON fields)."""
    names = names or {"restore_point": "restore_point", "target": "target"}
    problems: dict[str, str] = {}
    if restore_point is not None:
        try:
            settings.override(restore_point=restore_point)  # RESTORE_POINT's own validation (a real time)
        except ConfigError as exc:
            problems[names["restore_point"]] = exc.problems["RESTORE_POINT"]
    if target is not None:
        try:
            validate_server_name(target)
            if settings.pg_server_name and target.lower() == settings.pg_server_name.lower():
                raise DrillGuardError(msg("{target} is production's server (PG_SERVER_NAME): a drill restores "
                                          "to a new server only", target=repr(target)))
        except DrillGuardError as exc:
            problems[names["target"]] = exc.reason
    return problems


def describe(drill: Drill) -> str:
    """A drill for people, in the language being rendered (its stored texts through their message ids)."""
    tr = current().message
    outcome = f" ({drill.outcome})" if drill.outcome else ""
    lines = [_("Drill {drill_id}: {state}{outcome} — {source} → {target}", drill_id=drill.drill_id,
               state=drill.state.upper(), outcome=outcome, source=drill.source_server, target=drill.target_server),
             "  " + _("restore point {point} ({mode}), requested {requested}, ready {ready}, expires {expires}",
               point=drill.restore_point or "-", mode=drill.restore_point_mode or "-", requested=drill.requested_at,
               ready=drill.ready_at or "-", expires=drill.expires_at)]
    if drill.summary:
        lines.append(f"  {tr(drill.summary)}")
    if drill.cleanup:
        lines.append("  " + _("cleanup: {cleanup}", cleanup=tr(drill.cleanup)))
    lines += [f"    {tr(e)}" for e in drill.events[-8:]]
    return "\n".join(lines) + "\n"


# --- CLI ----------------------------------------------------------------------------------------
def add_cli(sub) -> None:
    """`python -m checks drill start|status|cleanup` (registered by checks/cli.py)."""
    drill = sub.add_parser("drill", help=_("restore drill: PITR to a new server, verified and cleaned up"))
    verbs = drill.add_subparsers(dest="drill_command", required=True)
    start = verbs.add_parser("start", help=_("request a point-in-time restore to a new server (RESTORE_DRILL_ENABLED)"))
    start.add_argument("--restore-point", metavar="WHEN", help=_("latest | random | ISO time (default RESTORE_POINT)"))
    start.add_argument("--target", metavar="NAME", help=_("target server name (default <prefix>-YYYYMMDD[-HHMM])"))
    start.add_argument("--json", action="store_true")
    status = verbs.add_parser("status", help=_("advance the active drill and show the latest drills"))
    status.add_argument("--json", action="store_true")
    cleanup = verbs.add_parser("cleanup", help=_("delete expired drill servers (drill tags only)"))
    cleanup.add_argument("--json", action="store_true")


def cli_command(args, out: TextIO, env) -> int:
    settings = load_settings(env)
    if args.drill_command == "start":  # the arguments first: nothing touches Azure for a typo
        problems = start_problems(settings, args.restore_point, args.target, CLI_FLAGS)
        if problems:
            print("\n".join(_("error: {flag}: {why}", flag=flag, why=why) for flag, why in problems.items()),
                  file=sys.stderr)
            return EXIT_USAGE
    journal = open_journal(settings)
    ctx = restore_drill.make_context(settings)
    try:
        if args.drill_command == "cleanup":
            return _cli_cleanup(ctx, args, out)
        if args.drill_command == "start":
            try:
                drills = [restore_drill.start_drill(ctx, journal, trigger="cli", restore_point=args.restore_point,
                                                    target=args.target)]
            except NotConfigured as exc:  # not enabled, or the Azure target not set: configuration
                print(error_line(exc), file=sys.stderr)
                return EXIT_USAGE
            except (DrillActive, CheckError) as exc:
                print(error_line(exc), file=sys.stderr)
                return EXIT_FAILED
        else:
            restore_drill.advance_all(ctx, journal)
            drills = restore_drill.load_drills(journal)[:5]
    finally:
        ctx.close()
    if args.json:
        json.dump([d.public() for d in drills], out, indent=2, default=str)
        out.write("\n")
    else:
        out.write("".join(describe(d) for d in drills) or _("No restore drill recorded.") + "\n")
    return EXIT_FAILED if drills and drills[0].state == FAILED else EXIT_OK


def _cli_cleanup(ctx, args, out: TextIO) -> int:
    try:
        swept = restore_drill.sweep(ctx)
    except NotConfigured as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except CheckError as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        json.dump({"swept": swept}, out, indent=2)
        out.write("\n")
    else:
        out.write("".join(f"{r['server']}: {current().message(r['result'])}\n" for r in swept)
                  or _("No expired drill server.") + "\n")
    return EXIT_FAILED if any(r["result"].startswith(("refused", "failed")) for r in swept) else EXIT_OK


# --- HTTP and timers ----------------------------------------------------------------------------
def http_start(settings: Settings, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """POST /api/drill: (status code, payload)."""
    problems = start_problems(settings, body.get("restore_point"), body.get("target"))
    if problems:
        problems = {key: current().message(why) for key, why in problems.items()}
        return 400, {"error": "; ".join(f"{k}: {v}" for k, v in problems.items()), "problems": problems}
    journal = open_journal(settings)
    ctx = restore_drill.make_context(settings)
    try:
        drill = restore_drill.start_drill(ctx, journal, trigger="http", restore_point=body.get("restore_point"),
                                          target=body.get("target"))
    except NotConfigured as exc:
        return 400, {"error": reason_text(exc)}
    except DrillActive as exc:
        return 409, {"error": reason_text(exc), "drill_id": exc.drill_id, "state": exc.state}
    except CheckError as exc:
        return 502, {"error": reason_text(exc), "remediation": current().message(exc.remediation or "") or None}
    finally:
        ctx.close()
    return (422 if drill.state == FAILED else 202), drill.public()


def timer_entry(settings: Settings) -> dict[str, Any]:
    """The drill timer (RESTORE_DRILL_SCHEDULE): an expected failure is logged and returned; a bug raises."""
    try:
        journal = open_journal(settings)
        ctx = restore_drill.make_context(settings)
        try:
            return restore_drill.timer_tick(ctx, journal)
        finally:
            ctx.close()
    except restore_drill.expected_errors() as exc:  # logged, the next tick tries again; a bug fails the invocation
        log.error("restore drill timer: %s", exc)
        return {"error": str(exc)[:300]}


def monthly_entry(settings: Settings, journal) -> dict[str, Any] | None:
    """From the monthly run (checks/http_api.run_timer): maybe start a drill; raises only on a bug."""
    if not settings.restore_drill_enabled:
        return None
    ctx = restore_drill.make_context(settings)
    try:
        return restore_drill.monthly_hook(ctx, journal)
    finally:
        ctx.close()
