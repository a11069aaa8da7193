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
from pathlib import Path
from typing import Mapping, Sequence, TextIO

from checks.checklist_cli import DEFAULT_SITE_DIR, add_cli as add_checklist_cli
from checks.cli_argparse import install as install_argparse_words
from checks.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError
from checks.cli_text import print_run, reason_text, unknown_check_text, use_colour
from checks.engine.config import ConfigError, read_settings_file
from checks.engine.i18n import current, language, normalise_language, tr as _
from checks.journal_cli import add_cli as add_journal_cli
from checks.journal.store import JournalUnavailable
from checks.journal.lease import RunInProgress
from checks.engine.model import Status
from checks.engine.redact import RedactingFilter
from checks.engine.registry import UnknownCheck

DEFAULT_SETTINGS_FILE = "local.settings.json"
_FLAGS = {"PG_SERVER_NAME": "--azure-server", "PG_RESOURCE_GROUP": "--azure-resource-group"}

__all__ = ["main", "build_parser", "print_run", "DEFAULT_SITE_DIR", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE",
           "UsageError"]


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
    run.add_argument("--owner", metavar="NAME", help=_("owner of the deviations this run opens (default: unassigned)"))
    from checks.fleet_cli import add_cli as add_fleet_cli  # --target/--all-targets, `targets` (checks/fleet_cli.py)
    add_fleet_cli(sub, run)
    add_journal_cli(sub)  # journal [verify|seal] (checks/journal_cli.py)
    sub.add_parser("list", help=_("list the known checks"))

    from checks.drill_face import add_cli as add_drill_cli  # restore drill (checks/drill_face.py)
    add_drill_cli(sub)
    from checks.restore_cli import add_cli as add_restore_cli  # incident restore (checks/restore_cli.py)
    add_restore_cli(sub)
    add_checklist_cli(sub)  # report | ack | signoff (checks/checklist_cli.py)
    from checks.deviations_cli import add_cli as add_deviations_cli  # deviations (checks/deviations_cli.py)
    add_deviations_cli(sub)
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
    from checks.deviations_cli import owner_arg
    owner = owner_arg(args.owner)  # checked before anything is read or written (UsageError)
    journal = None
    if not args.no_journal:
        try:
            journal = open_journal(settings)
        except JournalUnavailable as exc:
            print(_("warning: {reason}; results will not be recorded", reason=reason_text(exc)), file=sys.stderr)
    request = RunRequest(trigger="cli", checks=args.check, dry_run=args.dry_run,
                         write_journal=not args.no_journal, overrides=overrides, owner=owner)
    from checks.cli_interrupt import after_stop, run_stops_itself
    from checks.fleet_cli import FleetUsageError, cmd_run_fleet, wants_fleet
    with run_stops_itself():  # Ctrl-C or SIGTERM: the run records what finished as an interrupted run
        if wants_fleet(args, settings):
            try:
                return after_stop(cmd_run_fleet(args, out, settings, journal, request))
            except FleetUsageError as exc:
                raise UsageError(exc.args[0] if exc.args else str(exc)) from None  # a Message keeps its language
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
    from checks.journal_cli import command
    return command(args, out, env)


def cmd_list(args, out: TextIO, env) -> int:
    from checks.checklist_cli import cmd_list as list_checks
    return list_checks(args, out, env)


def cmd_report(args, out: TextIO, env) -> int:
    from checks.checklist_cli import cmd_report as report
    return report(args, out, env)


def cmd_signoff(args, out: TextIO, env) -> int:
    from checks.checklist_cli import cmd_signoff as signoff
    return signoff(args, out, env)


def cmd_ack(args, out: TextIO, env) -> int:
    from checks.checklist_cli import cmd_ack as ack
    return ack(args, out, env)


def cmd_drill(args, out: TextIO, env) -> int:
    from checks.drill_face import cli_command
    return cli_command(args, out, env)


def cmd_restore(args, out: TextIO, env) -> int:
    from checks.restore_cli import command
    return command(args, out, env)


def cmd_deviations(args, out: TextIO, env) -> int:
    from checks.deviations_cli import command
    return command(args, out, env)


def cmd_targets(args, out: TextIO, env) -> int:
    from checks.fleet_cli import cmd_targets as targets
    return targets(args, out, env)


COMMANDS = {"run": cmd_run, "journal": cmd_journal, "list": cmd_list, "report": cmd_report,
            "signoff": cmd_signoff, "ack": cmd_ack, "drill": cmd_drill, "restore": cmd_restore,
            "targets": cmd_targets, "deviations": cmd_deviations}
