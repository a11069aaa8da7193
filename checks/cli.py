"""Command line: `python -m checks run|journal|list ...`.

Exit codes: 0 nothing failed, 1 a check failed or errored, 2 usage or configuration error.
Accepts the original procedure's flags: --dry-run, --azure-server NAME, --azure-resource-group NAME.
Settings: environment variables, over the `Values` of ./local.settings.json when it exists (the
file `make stack` writes and `func start` reads) or of `--settings FILE`.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from checks.cli_argparse import install as install_argparse_words
from checks.cli_text import print_run, print_run_list, reason_text, unknown_check_text, use_colour
from checks.engine.config import ConfigError, read_settings_file
from checks.engine.i18n import current, language, normalise_language, tr as _, tr_n as _n
from checks.journal_cli import add_action as add_journal_action
from checks.journal.store import JournalUnavailable
from checks.journal.lease import RunInProgress
from checks.engine.model import Status
from checks.engine.redact import RedactingFilter
from checks.engine.registry import UnknownCheck, all_checks
from checks.engine.timeutil import this_month

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_SETTINGS_FILE = "local.settings.json"
MAX_JOURNAL_MONTHS = 24  # --since/--until: one query per month, bounded
DEFAULT_SITE_DIR = "reports/site"  # `report --site` without DIR: under reports/, which .gitignore ignores
_FLAGS = {"PG_SERVER_NAME": "--azure-server", "PG_RESOURCE_GROUP": "--azure-resource-group"}

__all__ = ["main", "build_parser", "print_run"]


class UsageError(Exception):
    pass


def _month(value: str) -> str:
    from checks.report.checklist import ReportError, check_month
    try:
        return check_month(value)
    except ReportError as exc:
        raise argparse.ArgumentTypeError(reason_text(exc)) from None


def _day(value: str) -> date:
    from checks.engine.timeutil import INPUT_EARLIEST, INPUT_LATEST, TimeInputError, input_day
    try:
        return input_day(value)  # the shared input range: --until 9999-12-31 + 1 day would overflow
    except TimeInputError as exc:
        if exc.kind == "range":
            raise argparse.ArgumentTypeError(_("expected a date between {earliest} and {latest}, got {value}",
                                               earliest=INPUT_EARLIEST.date().isoformat(),
                                               latest=INPUT_LATEST.date().isoformat(), value=repr(value))) from None
        raise argparse.ArgumentTypeError(_("expected a date YYYY-MM-DD, got {value}", value=repr(value))) from None


def _add_common(parser: argparse.ArgumentParser, top: bool) -> None:
    # SUPPRESS below the top level: a subcommand without the flag keeps what was given before it
    default = None if top else argparse.SUPPRESS
    parser.add_argument("-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
                        help=_("log progress to stderr (LOG_LEVEL info)"))
    parser.add_argument("--settings", metavar="FILE", default=default,
                        help=_("read variables from this local.settings.json (default ./{file} if present); "
                               "environment variables win", file=DEFAULT_SETTINGS_FILE))
    parser.add_argument("--lang", choices=("en", "fr"), default=default,
                        help=_("language of the output (default: LANGUAGE, else en)"))


def _common_everywhere(parser: argparse.ArgumentParser) -> None:
    """-v, --settings and --lang also after the subcommand (`python -m checks run --lang fr`), at every level."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                _add_common(child, top=False)
                _common_everywhere(child)


def _add_target_options(report: argparse.ArgumentParser, signoff: argparse.ArgumentParser) -> None:
    """Several targets (checks/report/fleet.py): one target's checklist or every target's; whose sign-off."""
    report.add_argument("--target", metavar="NAME", help=_("that target's checklist (a name from TARGETS; "
                        "default: the only target; with several, the fleet overview)"))
    report.add_argument("--fleet", "--all-targets", dest="fleet", action="store_true",
                        help=_("every target of the month, worst first (exit 1 unless every target ticks every box)"))
    signoff.add_argument("--target", metavar="NAME", help=_("the target signed off (required with several targets)"))


def _add_site_option(report: argparse.ArgumentParser) -> None:
    """`report --site [DIR]`: without DIR under reports/, which git ignores (pages about patients' records)."""
    report.add_argument("--site", metavar="DIR", nargs="?", const=DEFAULT_SITE_DIR,
                        help=_("write the linked HTML pages (overview, months, runs, drills) into DIR as a static "
                               "site (default {folder}, which git ignores); exit 0 once written",
                               folder=DEFAULT_SITE_DIR))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m checks",
                                     description=_("MedicApp backup & restore verifier"))
    _add_common(parser, top=True)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help=_("run the checks and record them in the journal"))
    run.add_argument("--check", action="append", default=[], metavar="ID",
                     help=_("check id or glob (repeatable), e.g. postgres.* ; default all"))
    run.add_argument("--dry-run", action="store_true", help=_("read-only checks only (the procedure's dry run)"))
    run.add_argument("--azure-server", metavar="NAME", help=_("PostgreSQL flexible server (overrides PG_SERVER_NAME)"))
    run.add_argument("--azure-resource-group", metavar="NAME",
                     help=_("its resource group (overrides PG_RESOURCE_GROUP)"))
    run.add_argument("--json", action="store_true", help=_("print the run as JSON"))
    run.add_argument("--no-journal", action="store_true", help=_("do not write the journal"))
    from checks.fleet_cli import add_cli as add_fleet_cli  # --target/--all-targets, `targets` (checks/fleet_cli.py)
    add_fleet_cli(sub, run)

    journal = sub.add_parser("journal", help=_("read the journal"))
    journal.add_argument("--month", type=_month, help=_("YYYY-MM (default: this month, UTC)"))
    journal.add_argument("--run", metavar="ID", help=_("one run's results"))
    journal.add_argument("--since", type=_day, metavar="YYYY-MM-DD", help=_("runs started on or after this day (UTC)"))
    journal.add_argument("--until", type=_day, metavar="YYYY-MM-DD",
                         help=_("runs started on or before this day (UTC; default today)"))
    journal.add_argument("--json", action="store_true")
    add_journal_action(journal)  # journal verify | seal (checks/journal_cli.py)

    sub.add_parser("list", help=_("list the known checks"))

    from checks.drill_face import add_cli as add_drill_cli  # restore drill (checks/drill_face.py)
    add_drill_cli(sub)
    from checks.restore_cli import add_cli as add_restore_cli  # incident restore (checks/restore_cli.py)
    add_restore_cli(sub)

    report = sub.add_parser("report", help=_("the monthly checklist from the journal (exit 1 = not all boxes ticked)"))
    report.add_argument("--month", type=_month, help=_("YYYY-MM (default: this month, UTC); last month of --months"))
    report.add_argument("--format", choices=("md", "html", "json"), default="md")
    report.add_argument("--months", type=int, default=None, metavar="N",
                        help=_("overview of N months ending --month (default 1; 12 with --site)"))
    _add_site_option(report)

    ack = sub.add_parser("ack", help=_("accept a result's counts as the new baseline (e.g. after a known deletion)"))
    ack.add_argument("--run", required=True, metavar="RUN", help=_("run id whose counts to accept"))
    ack.add_argument("--check", required=True, metavar="ID", help=_("e.g. database.essential_counts"))
    ack.add_argument("--by", required=True, metavar="NAME", help=_("who accepts them"))
    ack.add_argument("--reason", required=True, metavar="TEXT", help=_("why the drop is expected"))

    signoff = sub.add_parser("signoff", help=_("record who reviewed a month's checklist"))
    signoff.add_argument("--month", type=_month, required=True, help=_("YYYY-MM"))
    signoff.add_argument("--by", required=True, metavar="NAME", help=_("who reviewed it"))
    signoff.add_argument("--comment", default="", help=_("optional remark (at most 500 characters)"))
    signoff.add_argument("--force", action="store_true", help=_("sign off a month in which no run verified "
                         "anything (needs --comment saying why; recorded as forced)"))
    _add_target_options(report, signoff)
    _common_everywhere(parser)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None, env: Mapping[str, str] | None = None) -> int:
    """`env`: the variables to use (tests); None = os.environ over ./local.settings.json.
    Ctrl-C or SIGTERM: one line, exit 130/143, never a traceback (checks/cli_interrupt.py)."""
    from checks.cli_interrupt import guarded
    return guarded(lambda: _main(argv, out, env), _early_language(argv, env))


def _main(argv: Sequence[str] | None, out: TextIO | None, env: Mapping[str, str] | None) -> int:
    out = out or sys.stdout
    install_argparse_words()  # "usage:", "options:" and argparse's errors follow --lang too
    try:
        with language(_early_language(argv, env)):  # argparse's own errors in the language asked for
            args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage error
        return EXIT_OK if exc.code == 0 else EXIT_USAGE
    with language(args.lang or _early_language(argv, env)):  # errors before the settings are read
        try:
            env = effective_env(args.settings, env)
            _setup_logging(args.verbose, env)
            args.colour = use_colour(out, env)
            with language(args.lang or _configured_language(env)):
                return COMMANDS[args.command](args, out, env)
        except (ConfigError, UnknownCheck, UsageError) as exc:
            print(_("error: {reason}", reason=error_text(exc)), file=sys.stderr)
            return EXIT_USAGE
        except (JournalUnavailable, RunInProgress) as exc:
            print(_("error: {reason}", reason=error_text(exc)), file=sys.stderr)
            return EXIT_FAILED


def _early_language(argv: Sequence[str] | None, env: Mapping[str, str] | None) -> str | None:
    """--lang (or LANGUAGE in the environment) before the arguments are parsed and the settings read."""
    words = list(sys.argv[1:] if argv is None else argv)
    for index, word in enumerate(words):
        if word == "--lang" and index + 1 < len(words):
            return normalise_language(words[index + 1])
        if word.startswith("--lang="):
            return normalise_language(word.partition("=")[2])
    value = (os.environ if env is None else env).get("LANGUAGE", "")
    return next(filter(None, map(normalise_language, value.split(":"))), None)


def error_text(exc: Exception) -> str:
    """A usage, configuration or journal error in the language being rendered."""
    if isinstance(exc, ConfigError):
        colon = current().separator(": ")  # French: "NAME : attendu ..."
        lines = [f"  {name}{colon}{current().message(why)}" for name, why in sorted(exc.problems.items())]
        return _("invalid configuration:") + "\n" + "\n".join(lines)
    if isinstance(exc, UnknownCheck):
        return unknown_check_text(exc)
    if isinstance(exc, RunInProgress):
        return _("a verification run is already in progress for {target}: {run_id}", target=exc.target,
                 run_id=exc.running_run_id or _("unknown id"))
    return reason_text(exc)


def _configured_language(env) -> str | None:
    """LANGUAGE from the settings; None (English) while the settings are invalid: the command
    itself then reports the configuration error."""
    from checks.service import load_settings
    try:
        return load_settings(env).language
    except ConfigError:
        return None


def effective_env(settings_file: str | None, env: Mapping[str, str] | None) -> Mapping[str, str]:
    """Environment variables over the settings file's Values. An explicit `env` (tests, embedding)
    only reads a file named with --settings, never ./local.settings.json by itself."""
    if settings_file is None:
        default = Path.cwd() / DEFAULT_SETTINGS_FILE
        if env is not None or not default.is_file():
            return os.environ if env is None else env
        settings_file = str(default)
    base = os.environ if env is None else env
    return {**read_settings_file(settings_file), **base}


def _setup_logging(verbose: bool, env: Mapping[str, str]) -> None:
    """LOG_LEVEL sets the level (the CLI's default: warning); -v raises it to at least info."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    if not verbose:  # a run's or drill's outcome line is WARNING for the alerts; the CLI prints the outcome itself
        handler.addFilter(lambda record: not getattr(record, "outcome_line", False))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    name = (env.get("LOG_LEVEL") or "").strip().upper()  # an invalid value is reported by Settings
    level = getattr(logging, name) if name in ("DEBUG", "INFO", "WARNING", "ERROR") else logging.WARNING
    root.setLevel(min(level, logging.INFO) if verbose else level)
    logging.getLogger("azure").setLevel(logging.WARNING)
    # a missing credential is explained in the results (once, in the summary), not per attempt here
    logging.getLogger("azure.identity").setLevel(logging.DEBUG if level <= logging.DEBUG else logging.ERROR)


def cmd_run(args, out: TextIO, env) -> int:
    from checks.service import RunRequest, load_settings, open_journal, verify

    settings = load_settings(env)
    overrides = {"pg_server_name": args.azure_server, "pg_resource_group": args.azure_resource_group}
    try:
        settings.override(**overrides)
    except ConfigError as exc:  # report the flag the user typed, not the variable it overrides
        raise UsageError("; ".join(f"{_FLAGS.get(n, n)}: {current().message(why)}"
                                   for n, why in sorted(exc.problems.items()))) from None
    journal = None
    if not args.no_journal:
        try:
            journal = open_journal(settings)
        except JournalUnavailable as exc:
            print(_("warning: {reason}; results will not be recorded", reason=reason_text(exc)), file=sys.stderr)
    request = RunRequest(trigger="cli", checks=args.check, dry_run=args.dry_run,
                         write_journal=not args.no_journal, overrides=overrides)
    from checks.cli_interrupt import after_stop, run_stops_itself
    from checks.fleet_cli import FleetUsageError, cmd_run_fleet, wants_fleet
    with run_stops_itself():  # Ctrl-C or SIGTERM: the run records what finished as an interrupted run
        if wants_fleet(args, settings):
            try:
                return after_stop(cmd_run_fleet(args, out, settings, journal, request))
            except FleetUsageError as exc:
                raise UsageError(str(exc)) from None
        run = verify(request, settings, journal)
    if (code := after_stop(None, run)) is not None:
        return code
    if args.json:
        json.dump(run.to_dict(), out, indent=2, default=str)
        out.write("\n")
    else:
        print_run(run, out, args.colour)
    journal_failed = run.journal_status.startswith("error")
    return EXIT_FAILED if run.status in (Status.FAIL, Status.ERROR) or journal_failed else EXIT_OK


def cmd_journal(args, out: TextIO, env) -> int:
    from checks.service import load_settings, open_journal

    if args.action:  # journal verify | seal
        from checks.journal_cli import command
        return command(args, out, env)
    journal = open_journal(load_settings(env))
    if args.run:
        try:
            run = journal.get_run(args.run)
        except ValueError as exc:
            raise UsageError(reason_text(exc)) from None
        if run is None:
            print(_("error: run {run_id} not found in the journal", run_id=args.run), file=sys.stderr)
            return EXIT_FAILED
        if args.json:
            json.dump(run.to_dict(), out, indent=2, default=str)
            out.write("\n")
        else:
            print_run(run, out, args.colour)
        return EXIT_OK
    runs, heading = _journal_runs(journal, args)
    if args.json:
        json.dump(runs, out, indent=2, default=str)
        out.write("\n")
        return EXIT_OK
    print_run_list(runs, heading, out, args.colour)
    return EXIT_OK


def _journal_runs(journal, args) -> tuple[list[dict], str]:
    """Runs of --month (default this month) or of --since/--until, one query per month."""
    if args.month and (args.since or args.until):
        raise UsageError(_("--month cannot be combined with --since/--until"))
    if not (args.since or args.until):
        month = args.month or this_month()
        return journal.list_runs(month), _("in {month}", month=month)
    until = args.until or datetime.now(timezone.utc).date()
    since = args.since or until.replace(day=1)
    if since > until:
        raise UsageError(_("--since {since} is after --until {until}", since=since, until=until))
    months = _months_between(since, until)
    if len(months) > MAX_JOURNAL_MONTHS:
        raise UsageError(_("--since/--until span {count} months; at most {limit}", count=len(months),
                           limit=MAX_JOURNAL_MONTHS))
    start = datetime.combine(since, time.min, timezone.utc)
    end = datetime.combine(until + timedelta(days=1), time.min, timezone.utc)
    runs = [r for month in reversed(months) for r in journal.list_runs(month)
            if start <= datetime.fromisoformat(r["started_at"]) < end]
    return runs, _("from {since} to {until}", since=since, until=until)


def _months_between(since: date, until: date) -> list[str]:
    months, year, month = [], since.year, since.month
    while (year, month) <= (until.year, until.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def cmd_list(args, out: TextIO, env) -> int:
    for spec in all_checks().values():
        mode = "" if spec.read_only else "  " + _("(writes: not in --dry-run)")
        if spec.on_demand:
            mode = "  " + _("(writes; on demand: python -m checks drill start|status)")
        title = current().gettext(spec.title)  # check titles are in the catalog: --lang fr lists them in French
        out.write(f"{spec.id:<32} {current().word(spec.severity.value):<8} {title}{mode}\n")
    return EXIT_OK


def cmd_report(args, out: TextIO, env) -> int:
    from checks.report.checklist import ReportError, check_months
    from checks.report.fleet import checklist_for
    from checks.report.render import render
    from checks.service import load_settings, open_journal

    settings = load_settings(env)
    if args.site:
        from checks.report.site import cli_site
        return cli_site(args, out, open_journal(settings), UsageError, settings)
    try:
        months = check_months(1 if args.months is None else args.months)
        result = checklist_for(open_journal(settings), args.month or this_month(), settings, target=args.target,
                               months=months, fleet=args.fleet)
    except ReportError as exc:
        raise UsageError(reason_text(exc)) from None
    out.write(render(result, args.format, standalone=True))  # one page: its links would lead nowhere
    return EXIT_OK if result.complete else EXIT_FAILED


def cmd_signoff(args, out: TextIO, env) -> int:
    from checks.report.checklist import ReportError
    from checks.report.fleet import sign_off_target
    from checks.service import load_settings, open_journal

    settings = load_settings(env)
    try:
        stored, report = sign_off_target(open_journal(settings), args.month, args.by, args.comment, settings,
                                         args.target, via="cli", force=args.force)
    except ReportError as exc:
        raise UsageError(reason_text(exc)) from None
    if args.target:
        out.write(_n("Signed off {month} for {target} by {by} at {at}: {ticked} of {boxes} boxes ticked, {runs} "
                     "run, report digest {digest}",
                     "Signed off {month} for {target} by {by} at {at}: {ticked} of {boxes} boxes ticked, {runs} "
                     "runs, report digest {digest}", "runs",
                     month=args.month, target=args.target, by=stored.by, at=stored.at,
                     ticked=report.ticked, boxes=len(report.boxes), runs=len(report.runs), digest=report.digest) + "\n")
    else:
        out.write(_n("Signed off {month} by {by} at {at}: {ticked} of {boxes} boxes ticked, {runs} run, report "
                     "digest {digest}",
                     "Signed off {month} by {by} at {at}: {ticked} of {boxes} boxes ticked, {runs} runs, report "
                     "digest {digest}", "runs", month=args.month, by=stored.by, at=stored.at, ticked=report.ticked,
                     boxes=len(report.boxes), runs=len(report.runs), digest=report.digest) + "\n")
    if not report.complete:
        flag = f" --target {args.target}" if args.target else ""
        out.write(_("Note: not every box is ticked; see `python -m checks report --month {month}`",
                    month=f"{args.month}{flag}") + "\n")
    return EXIT_OK


def cmd_ack(args, out: TextIO, env) -> int:
    from checks.report.acks import AckRefused, acknowledge
    from checks.report.checklist import ReportError
    from checks.service import load_settings, open_journal

    try:
        ack = acknowledge(open_journal(load_settings(env)), args.run, args.check, args.by, args.reason, via="cli")
    except AckRefused as exc:  # understood, but the journal holds nothing to act on: 1, as `journal --run`
        print(_("error: {reason}", reason=reason_text(exc)), file=sys.stderr)
        return EXIT_FAILED
    except ReportError as exc:
        raise UsageError(reason_text(exc)) from None
    out.write(_("Acknowledged {check_id} in run {run_id} by {by} at {at}; the next run compares with these counts: "
                "{counts}", check_id=ack["check_id"], run_id=ack["run_id"], by=ack["by"], at=ack["at"],
                counts=json.dumps(ack["counts"], sort_keys=True)) + "\n")
    return EXIT_OK


def cmd_drill(args, out: TextIO, env) -> int:
    from checks.drill_face import cli_command
    return cli_command(args, out, env)


def cmd_restore(args, out: TextIO, env) -> int:
    from checks.restore_cli import command
    return command(args, out, env)


def cmd_targets(args, out: TextIO, env) -> int:
    from checks.fleet_cli import cmd_targets as targets
    return targets(args, out, env)


COMMANDS = {"run": cmd_run, "journal": cmd_journal, "list": cmd_list, "report": cmd_report,
            "signoff": cmd_signoff, "ack": cmd_ack, "drill": cmd_drill, "restore": cmd_restore,
            "targets": cmd_targets}
