"""What every command-line verb shares: exit codes, the usage error and the month/day argument types."""
from __future__ import annotations

import argparse
from datetime import date

from checks.cli_text import reason_text
from checks.engine.i18n import tr as _

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input on the command line: one line on stderr, exit 2."""


def month_arg(value: str) -> str:
    from checks.report.checklist import ReportError, check_month
    try:
        return check_month(value)
    except ReportError as exc:
        raise argparse.ArgumentTypeError(reason_text(exc)) from None


def day_arg(value: str) -> date:
    from checks.engine.timeutil import INPUT_EARLIEST, INPUT_LATEST, TimeInputError, input_day
    try:
        return input_day(value)  # the shared input range: --until 9999-12-31 + 1 day would overflow
    except TimeInputError as exc:
        if exc.kind == "range":
            raise argparse.ArgumentTypeError(_("expected a date between {earliest} and {latest}, got {value}",
                                               earliest=INPUT_EARLIEST.date().isoformat(),
                                               latest=INPUT_LATEST.date().isoformat(), value=repr(value))) from None
        raise argparse.ArgumentTypeError(_("expected a date YYYY-MM-DD, got {value}", value=repr(value))) from None
