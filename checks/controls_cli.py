"""`python -m checks report --framework c5|iso27001|hds|soc2 [--month M | --year YYYY] [--target NAME]`:
a framework's controls, each with its evidence and verdict (checks/report/control_evidence.py).

Exit 0 when every control is met, 1 when some control is not (or has findings or no evidence), 2 on bad
input (checked before the journal is opened: the framework with a did-you-mean, the year 2000-2099).
"""
from __future__ import annotations

import argparse
from typing import TextIO

from checks.cli_common import EXIT_FAILED, EXIT_OK, UsageError
from checks.cli_text import reason_text
from checks.engine.controls import FRAMEWORKS
from checks.engine.i18n import tr as _


def add_options(report: argparse.ArgumentParser) -> None:
    """`report --framework NAME` and `--year YYYY` (the control view instead of the checklist)."""
    report.add_argument("--framework", metavar="NAME", help=_("the control view of a framework ({names}): each "
                        "control with its evidence and verdict (exit 1 unless every control is met)",
                        names=", ".join(FRAMEWORKS)))
    report.add_argument("--year", metavar="YYYY", help=_("with --framework: the verdicts of a whole year "
                                                         "(up to this month) instead of one month"))


def wanted(args: argparse.Namespace) -> bool:
    """The control view was asked for (--framework, or --year, which needs it)."""
    return getattr(args, "framework", None) is not None or getattr(args, "year", None) is not None


def command(args: argparse.Namespace, out: TextIO, env) -> int:
    from checks.report.control_evidence import check_period, framework_report, render_framework
    from checks.report.model import ReportError
    from checks.service import load_settings, open_journal

    if args.framework is None:
        raise UsageError(_("--year needs --framework (one of {names})", names=", ".join(FRAMEWORKS)))
    for flag, given in (("--months", args.months is not None), ("--site", bool(args.site)), ("--fleet", args.fleet)):
        if given:
            raise UsageError(_("{flag} does not go with --framework (the control view covers every target, or "
                               "--target NAME's)", flag=flag))
    try:
        check_period(args.framework, args.month, args.year)  # every input checked before any I/O
        settings = load_settings(env)
        report = framework_report(open_journal(settings), settings, args.framework, args.month, args.year,
                                  target=args.target)
    except ReportError as exc:
        raise UsageError(reason_text(exc)) from None
    out.write(render_framework(report, args.format, standalone=True))  # one page: its links would lead nowhere
    return EXIT_OK if report.complete else EXIT_FAILED
