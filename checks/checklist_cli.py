"""`python -m checks report | signoff | ack | list`: the monthly checklist from the journal, who reviewed it,
accepted baselines, and the catalogue of checks."""
from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

from checks.cli_common import EXIT_FAILED, EXIT_OK, UsageError, month_arg
from checks.cli_text import reason_text
from checks.engine.i18n import current, tr as _, tr_n as _n
from checks.engine.registry import all_checks
from checks.engine.timeutil import this_month

DEFAULT_SITE_DIR = "reports/site"  # `report --site` without DIR: under reports/, which .gitignore ignores


def add_cli(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help=_("the monthly checklist from the journal (exit 1 = not all boxes ticked)"))
    report.add_argument("--month", type=month_arg, help=_("YYYY-MM (default: this month, UTC); last month of --months"))
    report.add_argument("--format", choices=("md", "html", "json"), default="md")
    report.add_argument("--months", type=int, default=None, metavar="N",
                        help=_("overview of N months ending --month (default 1; 12 with --site)"))
    _add_site_option(report)
    from checks.controls_cli import add_options as add_framework_options  # --framework, --year (controls_cli.py)
    add_framework_options(report)

    ack = sub.add_parser("ack", help=_("accept a result's counts as the new baseline (e.g. after a known deletion)"))
    ack.add_argument("--run", required=True, metavar="RUN", help=_("run id whose counts to accept"))
    ack.add_argument("--check", required=True, metavar="ID", help=_("e.g. database.essential_counts"))
    ack.add_argument("--by", required=True, metavar="NAME", help=_("who accepts them"))
    ack.add_argument("--reason", required=True, metavar="TEXT", help=_("why the drop is expected"))

    signoff = sub.add_parser("signoff", help=_("record who reviewed a month's checklist"))
    signoff.add_argument("--month", type=month_arg, required=True, help=_("YYYY-MM"))
    signoff.add_argument("--by", required=True, metavar="NAME", help=_("who reviewed it"))
    signoff.add_argument("--comment", default="", help=_("optional remark (at most 500 characters)"))
    signoff.add_argument("--force", action="store_true", help=_("sign off a month in which no run verified "
                         "anything (needs --comment saying why; recorded as forced)"))
    _add_target_options(report, signoff)


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
    from checks import controls_cli
    if controls_cli.wanted(args):  # a framework's controls (checks/controls_cli.py)
        return controls_cli.command(args, out, env)

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
    from checks.report.pages import utc_time  # the moment as the reports show it, never raw ISO
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
                     month=args.month, target=args.target, by=stored.by, at=utc_time(stored.at),
                     ticked=report.ticked, boxes=len(report.boxes), runs=len(report.runs), digest=report.digest) + "\n")
    else:
        out.write(_n("Signed off {month} by {by} at {at}: {ticked} of {boxes} boxes ticked, {runs} run, report "
                     "digest {digest}",
                     "Signed off {month} by {by} at {at}: {ticked} of {boxes} boxes ticked, {runs} runs, report "
                     "digest {digest}", "runs", month=args.month, by=stored.by, at=utc_time(stored.at), ticked=report.ticked,
                     boxes=len(report.boxes), runs=len(report.runs), digest=report.digest) + "\n")
    if not report.complete:
        flag = f" --target {args.target}" if args.target else ""
        out.write(_("Note: not every box is ticked; see `python -m checks report --month {month}`",
                    month=f"{args.month}{flag}") + "\n")
    return EXIT_OK


def cmd_ack(args, out: TextIO, env) -> int:
    from checks.report.acks import AckRefused, acknowledge
    from checks.report.pages import utc_time
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
                "{counts}", check_id=ack["check_id"], run_id=ack["run_id"], by=ack["by"], at=utc_time(ack["at"]),
                counts=json.dumps(ack["counts"], sort_keys=True)) + "\n")
    return EXIT_OK
