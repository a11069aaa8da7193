"""The restore drill's entry points (a face, beside checks/cli.py and checks/http_api.py):
`python -m checks drill start|status|cleanup`, `POST /api/drill`, the drill timer and the monthly
timer's hook. The drill itself (state machine, guards, rule) is checks/drill/.

A drill is about one target of the fleet: `--target NAME` / `{"target": "NAME"}` / `?target=NAME`
(a name of TARGETS or of DISCOVER_TAG's discovery), by default the deployment's own target. The new
server's name is `--target-server` / `target_server`.
"""
from __future__ import annotations

import json
import logging
import sys
from typing import Any, Mapping, TextIO

from checks.drill import restore_drill, rounds, schedule
from checks.drill.state import FAILED, NOT_RECORDED, Drill, DrillActive, DrillGuardError, validate_server_name
from checks.drill.targets import Lookup, UnknownTarget, fleet_lookup
from checks.engine.config import ConfigError, Settings
from checks.cli_text import error_and_hint, error_line, reason_text
from checks.engine.i18n import current, msg, tr as _
from checks.engine.model import CheckError, NotConfigured
from checks.service import load_settings, open_journal

log = logging.getLogger("checks.drill_face")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
CLI_FLAGS = {"restore_point": "--restore-point", "target_server": "--target-server", "target": "--target"}
FIELDS = {"restore_point": "restore_point", "target_server": "target_server", "target": "target"}


def start_problems(settings: Settings, restore_point: str | None, target_server: str | None,
                   names: dict[str, str] | None = None, production: str | None = None) -> dict[str, str]:
    """What is wrong with a drill request, found before anything is asked of Azure: {field: why}.

    `names` maps restore_point/target_server to what the caller calls them (CLI flags, JSON fields);
    `production`: the drilled target's server (default PG_SERVER_NAME)."""
    names = names or FIELDS
    production = settings.pg_server_name if production is None else production
    problems: dict[str, str] = {}
    if restore_point is not None:
        try:
            settings.override(restore_point=restore_point)  # RESTORE_POINT's own validation (a real time)
        except ConfigError as exc:
            problems[names["restore_point"]] = exc.problems["RESTORE_POINT"]
    if target_server is not None:
        try:
            validate_server_name(target_server)
            if production and target_server.lower() == production.lower():
                raise DrillGuardError(msg("{target} is production's server (PG_SERVER_NAME): a drill restores "
                                          "to a new server only", target=repr(target_server)))
        except DrillGuardError as exc:
            problems[names["target_server"]] = exc.reason
    return problems


def target_lookup(settings: Settings, ctx: Any = None) -> Lookup | None:
    """A target's name -> its settings: TARGETS, or DISCOVER_TAG's targets (discovered on the first
    lookup only: a timer tick without an active drill asks Resource Graph nothing); None without a fleet."""
    if settings.targets or not settings.discover_tag:
        return fleet_lookup(settings) if settings.targets else None
    found: dict[str, Any] = {}

    def lookup(name: str) -> Settings:
        if not found:
            found.update((t.name, t) for t in _discovered(settings, ctx))
        if name not in found:
            raise UnknownTarget(name, list(found))
        return found[name].settings_for(settings)
    return lookup


def _discovered(settings: Settings, ctx: Any) -> tuple:
    from checks.connect.discovery import DiscoveryError
    from checks.fleet_run import resolve_fleet  # lazy: Resource Graph SDK
    try:
        return resolve_fleet(settings, ctx).targets
    except DiscoveryError as exc:  # transient or misconfigured: a CheckError, the next invocation retries
        raise CheckError(exc.reason, exc.remediation) from None


def fleet_names(settings: Settings, ctx: Any = None) -> list[str]:
    """The fleet's target names when the deployment has a fleet (TARGETS or DISCOVER_TAG), else []."""
    if settings.targets:
        return [t.name for t in settings.targets]
    return [t.name for t in _discovered(settings, ctx)] if settings.discover_tag else []


def settings_of(settings: Settings, target: str | None) -> Settings:
    """The settings of the drill's target: the deployment's own without a name, else that fleet
    target's (`FleetTarget.settings_for`); UnknownTarget naming the known targets."""
    if target is None:
        return settings
    if not settings.discover_tag or settings.targets:
        return fleet_lookup(settings)(target)
    ctx = restore_drill.make_context(settings)
    try:
        return target_lookup(settings, ctx)(target)
    finally:
        ctx.close()


def describe(drill: Drill) -> str:
    """A drill for people, in the language being rendered (its stored texts through their message ids)."""
    tr = current().message
    outcome = f" ({current().word(drill.outcome)})" if drill.outcome else ""
    lines = [_("Drill {drill_id}: {state}{outcome} — {source} → {target}", drill_id=drill.drill_id,
               state=current().word(drill.state).upper(), outcome=outcome, source=drill.source_server,
               target=drill.target_server),
             "  " + _("target {name}", name=drill.target_name or tr(NOT_RECORDED)),
             "  " + _("restore point {point} ({mode}), requested {requested}, ready {ready}, expires {expires}",
               point=drill.restore_point or "-", mode=drill.restore_point_mode or "-", requested=drill.requested_at,
               ready=drill.ready_at or "-", expires=drill.expires_at)]
    if drill.summary:
        lines.append(f"  {tr(drill.summary)}")
    if drill.cleanup:
        lines.append("  " + _("cleanup: {cleanup}", cleanup=tr(drill.cleanup)))
    lines += _audit_lines(drill)
    lines += [f"    {tr(e)}" for e in drill.events[-8:]]
    return "\n".join(lines) + "\n"


def _audit_lines(drill: Drill) -> list[str]:
    """Access parity and proof of disposal, when the drill recorded them (read tolerantly: checks/report/drillview.py)."""
    from checks.report.drillview import disposal, parity

    lines, found, proof = [], parity(drill), disposal(drill)
    if found and found["status"]:
        fails = [f["field"] for f in found["findings"] if f["severity"] == "fail"]
        lines.append("  " + _("access parity with production: {status}; failing: {fields}",
                              status=current().word(found["status"]), fields=", ".join(fails) or "-"))
    if proof and proof["status"] == "proven":
        lines.append("  " + _("disposal proven: delete operation {operation}, completed {completed}, GET answered 404 "
                              "at {at}", operation=proof["operation_id"] or "-", completed=proof["completed_at"] or "-",
                              at=proof["final_get_at"] or "-"))
    elif proof and proof["status"] == "pending":
        lines.append("  " + _("DISPOSAL PENDING: delete operation {operation}; {why}", operation=proof["operation_id"] or "-",
                              why=current().message(proof["pending"]) if proof["pending"] else "-"))
    return lines


# --- CLI ----------------------------------------------------------------------------------------
def add_cli(sub) -> None:
    """`python -m checks drill start|status|cleanup` (registered by checks/cli.py)."""
    drill = sub.add_parser("drill", help=_("restore drill: PITR to a new server, verified and cleaned up"))
    verbs = drill.add_subparsers(dest="drill_command", required=True)
    start = verbs.add_parser("start", help=_("request a point-in-time restore to a new server (RESTORE_DRILL_ENABLED)"))
    start.add_argument("--restore-point", metavar="WHEN", help=_("latest | random | ISO time (default RESTORE_POINT)"))
    start.add_argument("--target", metavar="NAME", help=_("the target drilled (a name of TARGETS / DISCOVER_TAG; "
                                                          "default: the deployment's own)"))
    start.add_argument("--target-server", metavar="NAME",
                       help=_("name of the new server (default <prefix>-YYYYMMDD[-HHMM])"))
    start.add_argument("--json", action="store_true")
    status = verbs.add_parser("status", help=_("advance the active drill and show the latest drills"))
    status.add_argument("--target", metavar="NAME", help=_("show that target's drills only"))
    status.add_argument("--json", action="store_true")
    cleanup = verbs.add_parser("cleanup", help=_("delete expired drill servers (drill tags only)"))
    cleanup.add_argument("--json", action="store_true")


def cli_command(args, out: TextIO, env) -> int:
    base = load_settings(env)
    target = getattr(args, "target", None)
    try:
        chosen = settings_of(base, target)  # an unknown name is refused before the journal or Azure
    except (UnknownTarget, CheckError) as exc:  # CheckError: discovery failed
        print(_("error: {flag}: {why}", flag="--target", why=reason_text(exc)), file=sys.stderr)
        return EXIT_USAGE if isinstance(exc, UnknownTarget) else EXIT_FAILED
    settings = chosen if args.drill_command == "start" else base  # status advances every target's drill
    if args.drill_command == "start":  # the arguments first: nothing touches Azure for a typo
        problems = start_problems(settings, args.restore_point, args.target_server, CLI_FLAGS)
        if problems:
            print("\n".join(_("error: {flag}: {why}", flag=flag, why=why) for flag, why in problems.items()),
                  file=sys.stderr)
            return EXIT_USAGE
    journal = open_journal(settings)
    ctx = restore_drill.make_context(settings)
    try:
        if args.drill_command == "cleanup":
            return _cli_cleanup(ctx, journal, args, out)
        if args.drill_command == "start":
            try:
                drills = [restore_drill.start_drill(ctx, journal, trigger="cli", restore_point=args.restore_point,
                                                    target_server=args.target_server, who={"user": cli_user(env)})]
            except NotConfigured as exc:  # not enabled, or the Azure target not set: configuration
                print(error_line(exc), file=sys.stderr)
                return EXIT_USAGE
            except (DrillActive, CheckError) as exc:
                print(error_and_hint(exc), file=sys.stderr)  # no credential: the sign-in hint, as restore gives
                return EXIT_FAILED
        else:
            restore_drill.advance_all(ctx, journal, target_lookup(settings, ctx))
            every = restore_drill.load_drills(journal)
            drills = [d for d in every if target is None or d.target_name == target][:5]
            view = round_view(settings, journal, ctx.now(), every, target)
    finally:
        ctx.close()
    if args.json:  # status: the drills and the month's round; start: the drill
        shown = [d.public() for d in drills]
        json.dump(shown if args.drill_command == "start" else {"drills": shown, "round": view}, out, indent=2,
                  default=str)
        out.write("\n")
    else:
        out.write("".join(describe(d) for d in drills) or _("No restore drill recorded.") + "\n")
        if args.drill_command == "status" and settings.restore_drill_enabled:
            out.write(round_text(view))
    return EXIT_FAILED if drills and drills[0].state == FAILED else EXIT_OK


def round_view(settings: Settings, journal, now, drills: list[Drill], target: str | None) -> dict[str, Any] | None:
    """The month's drill round (checks/drill/rounds.py) as `drill status` shows it, about `target` only when
    given; None when the drill is off or the monthly run has not opened this month's round."""
    current = rounds.read_round(journal, now) if settings.restore_drill_enabled else None
    if current is None:
        return None
    own = "" if settings.targets or settings.discover_tag else settings.target_name
    view = current.describe(drills, own, settings.restore_drill_max_concurrent)
    if target is not None:
        for key in ("due", "started", "pending", "gave_up"):
            view[key] = [n for n in view[key] if n == target]
        view["failed_starts"] = {n: a for n, a in view["failed_starts"].items() if n == target}
    return view


def round_text(view: dict[str, Any] | None) -> str:
    """The round for people: who is due, started, waiting (for a place or the next tick), failed to start."""
    if view is None:
        return _("No drill round this month yet: the monthly run opens it with the due targets.") + "\n"
    lines = [_("Drill round {month} (opened {opened}): due {due}", month=view["month"], opened=view["started_at"],
               due=", ".join(view["due"]) or "-"),
             "  " + _("started: {targets}", targets=", ".join(view["started"]) or "-")]
    if view["pending"] and view["waiting_for_place"]:
        lines.append("  " + _("waiting for a free drill (RESTORE_DRILL_MAX_CONCURRENT {limit}, {active} active): "
                              "{targets}", limit=view["limit"], active=view["active"], targets=", ".join(view["pending"])))
    elif view["pending"]:
        lines.append("  " + _("to start at the next drill timer tick: {targets}", targets=", ".join(view["pending"])))
    for name, attempt in view["failed_starts"].items():
        lines.append("  " + _("failed to start: {target} ({tries} of {max_tries} tries, last {at}): {error}",
                              target=name, tries=attempt.get("tries", "?"), max_tries=view["max_tries"],
                              at=attempt.get("last_at", "-"), error=attempt.get("error") or "-"))
    if view["gave_up"]:
        lines.append("  " + _("not tried again this month (next month's round tries again): {targets}",
                              targets=", ".join(view["gave_up"])))
    return "\n".join(lines) + "\n"


def cli_user(env: Mapping[str, str] | None = None) -> str:
    """Who runs the CLI, recorded as who started a drill: the login name (LOGNAME, USER, LNAME, USERNAME of the
    environment, else the account's), printable characters only, at most 64; "" when the system cannot tell."""
    import getpass
    import os
    env = os.environ if env is None else env
    name = next((env[k] for k in ("LOGNAME", "USER", "LNAME", "USERNAME") if env.get(k)), None)
    if name is None:
        try:
            name = getpass.getuser()
        except (OSError, KeyError, ImportError):  # no such variable and no account entry (a container's uid)
            return ""
    return "".join(c for c in str(name) if c.isprintable())[:64]


def _cli_cleanup(ctx, journal, args, out: TextIO) -> int:
    try:
        swept = schedule.sweep(ctx, journal, _discovered_settings(ctx))
    except NotConfigured as exc:
        print(error_line(exc), file=sys.stderr)
        return EXIT_USAGE
    except CheckError as exc:
        print(error_and_hint(exc), file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        json.dump({"swept": swept}, out, indent=2)
        out.write("\n")
    else:
        colon = current().separator(": ")
        out.write("".join(f"{r['server'] or r.get('resource_group', '')}{colon}{current().message(r['result'])}\n"
                          for r in swept)
                  or _("No expired drill server.") + "\n")
    return EXIT_FAILED if any(r["result"].startswith(("refused", "failed")) for r in swept) else EXIT_OK


def _discovered_settings(ctx) -> list[Settings] | None:
    """The sweeper's targets of a DISCOVER_TAG fleet (each in its own subscription: its drill group is there);
    None: TARGETS' or the deployment's own, the sweeper's default. A failed discovery is a CheckError."""
    settings = ctx.settings
    if settings.targets or not settings.discover_tag:
        return None
    return [t.settings_for(settings) for t in _discovered(settings, ctx)]


# --- HTTP and timers ----------------------------------------------------------------------------
def http_start(settings: Settings, body: dict[str, Any], query: Mapping[str, str] | None = None,
               who: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """POST /api/drill[?target=NAME] {"target": NAME, "restore_point": ..., "target_server": ...}:
    (status code, payload). `who`: the Entra caller ({"object_id", "name"}), recorded on the drill."""
    target, asked = body.get("target"), (query or {}).get("target")
    if asked is not None and target is not None and asked != target:
        return _bad({"target": msg("?target={query} and the body's target {body} differ: give one", query=asked,
                                   body=target)})
    try:
        settings = settings_of(settings, target if target is not None else asked)
    except UnknownTarget as exc:
        return _bad({"target": exc.reason}, known_targets=exc.known)
    except CheckError as exc:  # discovery failed
        return 502, {"error": reason_text(exc), "remediation": current().message(exc.remediation or "") or None}
    problems = start_problems(settings, body.get("restore_point"), body.get("target_server"))
    if problems:
        return _bad(problems)
    journal = open_journal(settings)
    ctx = restore_drill.make_context(settings)
    try:
        drill = restore_drill.start_drill(ctx, journal, trigger="http", restore_point=body.get("restore_point"),
                                          target_server=body.get("target_server"), who=who)
    except NotConfigured as exc:
        return 400, {"error": reason_text(exc)}
    except DrillActive as exc:
        return 409, {"error": reason_text(exc), "drill_id": exc.drill_id, "state": exc.state,
                     "target": exc.target or None}
    except CheckError as exc:
        return 502, {"error": reason_text(exc), "remediation": current().message(exc.remediation or "") or None}
    finally:
        ctx.close()
    return (422 if drill.state == FAILED else 202), drill.public()


def _bad(problems: dict[str, str], **extra: Any) -> tuple[int, dict[str, Any]]:
    problems = {key: current().message(why) for key, why in problems.items()}
    return 400, {"error": "; ".join(f"{k}: {v}" for k, v in problems.items()), "problems": problems, **extra}


def timer_entry(settings: Settings) -> dict[str, Any]:
    """The drill timer (RESTORE_DRILL_SCHEDULE): an expected failure is logged and returned; a bug raises."""
    try:
        journal = open_journal(settings)
        ctx = restore_drill.make_context(settings)
        try:
            return schedule.timer_tick(ctx, journal, target_lookup(settings, ctx))
        finally:
            ctx.close()
    except schedule.expected_errors() as exc:  # logged, the next tick tries again; a bug fails the invocation
        log.error("restore drill timer: %s", exc)
        return {"error": str(exc)[:300]}


def monthly_entry(settings: Settings, journal) -> dict[str, Any] | None:
    """From the monthly run (checks/http_api.run_timer): maybe start a drill; raises only on a bug."""
    if not settings.restore_drill_enabled:
        return None
    ctx = restore_drill.make_context(settings)
    try:
        try:
            fleet = fleet_names(settings, ctx)
        except CheckError as exc:  # discovery failed: no drill this month, the verification stands
            log.error("monthly restore drill not started: %s", exc)
            return {"drill": "error", "error": str(exc)[:300]}
        return schedule.monthly_hook(ctx, journal, fleet, target_lookup(settings, ctx))
    finally:
        ctx.close()
