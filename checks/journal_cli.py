"""`python -m checks journal [--month M | --run ID | --since D --until D]`: the runs in the journal;
`journal verify [--month M]` and `journal seal --month M`: the tamper-evident journal.

verify: recompute each month's hash chain and compare it with the month's seals; every edited,
deleted, inserted or reordered entity is named by RowKey. Exit 0 intact, 1 broken (or the journal
or the seal container unreachable), 2 bad input. Without --month: every sealed month and the 12
months ending this one (one partition query each, one listing of the seals).
seal: write the month's seal now (the monthly timer and a sign-off do it by themselves), and the
deviation chain's head with it (seals/deviation/); verify compares that chain with those seals too.
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, TextIO

from checks.cli_common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, day_arg, month_arg
from checks.cli_text import print_run, print_run_list, reason_text
from checks.engine.i18n import N_, current, tr as _, tr_n as _n
from checks.engine.timeutil import this_month

DEFAULT_MONTHS = 12
MAX_JOURNAL_MONTHS = 24  # --since/--until: one query per month, bounded
KIND_WORDS = {"edited": N_("edited"), "deleted": N_("deleted"), "inserted": N_("inserted"),
              "reordered": N_("reordered"), "unsealed": N_("not sealed"), "seal": N_("seal")}


def add_cli(sub: argparse._SubParsersAction) -> None:
    journal = sub.add_parser("journal", help=_("read the journal"))
    journal.add_argument("--month", type=month_arg, help=_("YYYY-MM (default: this month, UTC)"))
    journal.add_argument("--run", metavar="ID", help=_("one run's results"))
    journal.add_argument("--since", type=day_arg, metavar="YYYY-MM-DD", help=_("runs started on or after this day (UTC)"))
    journal.add_argument("--until", type=day_arg, metavar="YYYY-MM-DD",
                         help=_("runs started on or before this day (UTC; default today)"))
    journal.add_argument("--json", action="store_true")
    add_action(journal)


def add_action(journal: Any) -> None:
    journal.add_argument("action", nargs="?", choices=("verify", "seal"),
                         help=_("verify: recompute the hash chain and compare it with the seals (exit 1 = broken); "
                                "seal: seal --month now"))


def command(args, out: TextIO, env) -> int:
    from checks.service import load_settings, open_journal

    if args.action:  # journal verify | seal
        return _verify_or_seal(args, out, env)
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


def _verify_or_seal(args: Any, out: TextIO, env: Any) -> int:
    from checks.journal.seal import SealUnavailable
    from checks.service import load_settings, open_journal

    settings = load_settings(env)
    if args.run or args.since or args.until or (args.action == "seal" and not args.month):
        print(_("error: {reason}", reason=_("journal {action} takes --month YYYY-MM only", action=args.action)),
              file=sys.stderr)
        return EXIT_USAGE
    journal = open_journal(settings)
    try:
        if args.action == "seal":
            return _seal(journal, settings, args, out)
        return _verify(journal, settings, args, out)
    except SealUnavailable as exc:
        print(_("error: {reason}", reason=_("seal container unavailable: {reason}", reason=reason_text(exc))),
              file=sys.stderr)
        return EXIT_FAILED


def _seal(journal: Any, settings: Any, args: Any, out: TextIO) -> int:
    from checks.journal.seal import container_client, seal_deviations, seal_month
    container = container_client(settings)
    name = seal_month(journal, container, args.month, "cli")
    out.write((_("Sealed {month}: {seal}", month=args.month, seal=name) if name else
               _("{month} is already sealed at its current head", month=args.month)) + "\n")
    deviations = seal_deviations(journal, container, "cli")  # the deviation chain's head with every month's seal
    if deviations:
        out.write(_("Sealed the deviation chain: {seal}", seal=deviations) + "\n")
    return EXIT_OK


def _months(container: Any, month: str | None) -> list[str]:
    if month:
        return [month]
    from checks.journal.seal import sealed_months
    from checks.report.checklist import month_range
    return sorted(set(sealed_months(container)) | set(month_range(this_month(), DEFAULT_MONTHS)))


def _verify(journal: Any, settings: Any, args: Any, out: TextIO) -> int:
    from checks.journal.seal import container_client, verify_month
    container = container_client(settings)
    results = [verify_month(journal, container, m) for m in _months(container, args.month)]
    results = [r for r in results if r.entities or r.seals or r.findings or args.month]
    from checks.journal.deviations import verify_partition  # its own chain (checks/journal/deviations.py)
    deviations = None if args.month else verify_partition(journal, container)
    intact = all(r.intact for r in results) and (deviations is None or deviations.intact)
    if args.json:
        json.dump({"intact": intact, "intact_since": intact_since(results),
                   "months": [r.to_dict() for r in results],
                   **({"deviations": deviations.to_dict()} if deviations else {})}, out, indent=2, default=str)
        out.write("\n")
    else:
        shown = deviations is not None and (deviations.entities or deviations.seals or deviations.findings)
        for result in results + ([deviations] if shown else []):  # every event deleted after a seal: shown
            print_month(result, out)
        since = intact_since(results)
        out.write((_("Journal intact since {month}.", month=since) if since and all(r.intact for r in results) else
                   _("Journal intact since {month} (broken before).", month=since) if since else
                   _("Journal broken in {month}.", month=results[-1].partition) if results else
                   _("No journal entries in these months.")) + "\n")
        if deviations is not None and not deviations.intact:  # the line above speaks of the months only
            out.write(_("The deviation chain is broken: see its findings above.") + "\n")
    return EXIT_OK if intact else EXIT_FAILED


def intact_since(results: list[Any]) -> str | None:
    """The first month of the unbroken intact run of months that ends with the newest one."""
    since = None
    for result in reversed(results):
        if not result.intact:
            break
        since = result.partition
    return since


def print_month(result: Any, out: TextIO) -> None:
    t = current()
    if result.intact:
        out.write(_n("{month}: intact ({links} link; entities: {entities}; seals: {seals})",
                     "{month}: intact ({links} links; entities: {entities}; seals: {seals})", "links",
                     month=result.partition, links=result.links, entities=result.entities, seals=result.seals) + "\n")
    else:
        out.write(_n("{month}: BROKEN, {count} finding", "{month}: BROKEN, {count} findings", "count",
                     month=result.partition, count=len(result.findings)) + "\n")
    if result.partition == "deviation" and result.entities and not result.seals:  # like this month's: not a failure
        out.write("  " + _("not sealed yet (sealed with the next month's seal: timer, sign-off or journal seal)")
                  + "\n")
    if result.unchained:
        since = t.time(result.since) if result.since else "?"
        out.write("  " + _n("{count} entity unchained (written before {since}): {rows}",
                            "{count} entities unchained (written before {since}): {rows}", "count",
                            count=len(result.unchained), since=since, rows=", ".join(result.unchained[:5])) + "\n")
    for finding in result.findings:
        word = t.gettext(KIND_WORDS.get(finding.kind, finding.kind))
        out.write(f"  {word:<10} {finding.row_key}  {t.message(finding.detail)}\n")
