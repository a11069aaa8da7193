"""`python -m checks deviations [--open] [--target NAME] [--json]`, `deviations close ID --note TEXT [--by NAME]`
and `deviations assign ID --owner NAME` (issue 30 item 1; checks/journal/deviations.py).

Every input is checked before the journal is read: the id has our form, the note and the names are
short printable text, the target is one of the fleet's. Exit 0 done, 1 journal unavailable or no such
deviation, 2 bad input or a close the journal refuses (the check still fails for its target, or the
deviation is closed already).
"""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

from checks.engine.i18n import tr as _, tr_n as _n

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
ACTIONS = ("list", "close", "assign")


def add_cli(sub: Any) -> None:
    """Registered by checks/cli.py."""
    dev = sub.add_parser("deviations", help=_("deviations tracked to closure: list, close (with a note), assign"))
    dev.add_argument("action", nargs="?", choices=ACTIONS, default="list",
                     help=_("list (default), close ID, or assign ID"))
    dev.add_argument("deviation_id", nargs="?", metavar="ID", help=_("the deviation (close, assign)"))
    dev.add_argument("--open", action="store_true", help=_("only the open deviations"))
    dev.add_argument("--target", metavar="NAME", help=_("only this target's deviations"))
    dev.add_argument("--json", action="store_true", help=_("print JSON"))
    dev.add_argument("--note", metavar="TEXT", help=_("why it is closed (close; at most 1000 characters)"))
    dev.add_argument("--by", metavar="NAME", help=_("who closes or assigns it (default: your login name)"))
    dev.add_argument("--owner", metavar="NAME", help=_("who must act on it (assign)"))


def _usage(args: Any) -> str | None:
    """What is wrong with the combination of arguments (None: nothing)."""
    if args.action == "list":
        extra = [flag for flag, value in (("ID", args.deviation_id), ("--note", args.note), ("--owner", args.owner),
                                          ("--by", args.by)) if value is not None]
        return _("deviations (list) does not take {flags}", flags=", ".join(extra)) if extra else None
    if args.deviation_id is None:
        return _("deviations {action} needs the deviation id, e.g. {example}", action=args.action,
                 example="dev-3f9a1c2b7d4e5a60-0001")
    if args.action == "close" and (args.note is None or args.owner is not None):
        return _("deviations close takes --note TEXT (required) and --by NAME")
    if args.action == "assign" and (args.owner is None or args.note is not None):
        return _("deviations assign takes --owner NAME (required) and --by NAME")
    return None


def _validated(args: Any, settings: Any) -> dict[str, Any]:
    """Every input checked before any I/O (ReportError naming the field)."""
    from checks.report import deviations as face
    checked: dict[str, Any] = {}
    if args.target is not None:
        checked["target"] = face.known_target(settings, args.target)
    if args.deviation_id is not None:
        checked["id"] = face.checked_id(args.deviation_id)
    if args.note is not None:
        checked["note"] = face.checked_note(args.note)
    if args.owner is not None:
        checked["owner"] = face.checked_owner(args.owner)
    by = args.by if args.by is not None else _login()
    if args.action != "list":
        from checks.journal.deviations import MAX_OWNER_CHARS, clean_text
        try:
            checked["by"] = clean_text(by, "--by", MAX_OWNER_CHARS, required=args.by is not None)
        except ValueError as exc:
            from checks.report.model import ReportError
            raise ReportError(exc.args[0]) from None
    return checked


def owner_arg(value: str | None) -> str:
    """`run --owner NAME`: short printable text ("" when not given); UsageError (exit 2) naming the flag."""
    if value is None:
        return ""
    from checks.cli_common import UsageError
    from checks.journal.deviations import MAX_OWNER_CHARS, clean_text
    try:
        return clean_text(value, "--owner", MAX_OWNER_CHARS)
    except ValueError as exc:
        raise UsageError(_reason(exc)) from None


def _login() -> str:
    import getpass
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (a container)
        return ""


def command(args: Any, out: TextIO, env: Any) -> int:
    from checks.engine.model import JournalUnavailable
    from checks.journal.deviation_log import DeviationRefused
    from checks.report.model import ReportError
    from checks.service import load_settings, open_journal

    settings = load_settings(env)
    problem = _usage(args)
    try:
        if problem:
            raise ReportError(problem)
        checked = _validated(args, settings)
    except ReportError as exc:
        print(_("error: {reason}", reason=_reason(exc)), file=sys.stderr)
        return EXIT_USAGE
    try:
        journal = open_journal(settings)
        if args.action == "list":
            return _list(journal, args, checked, out)
        return _change(journal, args, checked, settings, out)
    except DeviationRefused as exc:  # unknown: nothing to act on (1, like ack of a run not there); refused: 2
        print(_("error: {reason}", reason=_reason(exc)), file=sys.stderr)
        return EXIT_FAILED if exc.status == 404 else EXIT_USAGE
    except JournalUnavailable as exc:
        print(_("error: {reason}", reason=_reason(exc)), file=sys.stderr)
        return EXIT_FAILED


def _reason(exc: Exception) -> str:
    from checks.engine.i18n import current
    return current().message(exc.args[0]) if exc.args else str(exc)


def _change(journal: Any, args: Any, checked: dict[str, Any], settings: Any, out: TextIO) -> int:
    from checks.journal.deviation_log import assign, close_by_hand, find
    if args.action == "assign":
        dev = assign(journal, checked["id"], checked["owner"], "", checked["by"], "cli")
        out.write(_("Deviation {id} assigned to {owner}.", id=dev.id, owner=dev.owner) + "\n")
        return EXIT_OK
    from checks.report.fleet import scopes_of
    target = find(journal, checked["id"]).target
    scope = next((s for s in scopes_of(settings) if s.name == target), None)
    dev = close_by_hand(journal, checked["id"], checked["note"], checked["by"], "", "cli",
                        scope.target if scope else None)  # None: a target no longer configured, its own runs
    out.write((_("Deviation {id} closed; evidence: run {run_id}.", id=dev.id, run_id=dev.evidence_run_id)
               if dev.evidence_run_id else _("Deviation {id} closed (no newer result of its check).", id=dev.id)) + "\n")
    return EXIT_OK


def _list(journal: Any, args: Any, checked: dict[str, Any], out: TextIO) -> int:
    from checks.journal.deviations import read_state
    now = datetime.now(timezone.utc)
    state = read_state(journal)
    devs = [d for d in state.deviations.values() if (d.is_open or not args.open)
            and d.target == checked.get("target", d.target)]
    devs.sort(key=lambda d: (not d.is_open, d.due, d.id))
    if args.json:
        json.dump({"deviations": [d.to_dict(now) for d in devs], "notes": [str(n) for n in state.notes()],
                   "intact": not state.findings}, out, indent=2, default=str)
        out.write("\n")
        return EXIT_OK
    for dev in devs:
        print_one(dev, now, out)
    if not devs:
        out.write(_("No open deviations.") if args.open else _("No deviations recorded."))
        out.write("\n")
    from checks.engine.i18n import current
    for note in state.notes():
        out.write(_("Note:") + " " + current().message(note) + "\n")
    return EXIT_OK


def print_one(dev: Any, now: datetime, out: TextIO) -> None:
    from checks.engine.i18n import current
    t = current()
    owner = dev.owner or _("unassigned")
    if dev.is_open:
        state = _("OVERDUE") if dev.overdue(now) else _("open")
        out.write(f"{dev.id}  {state}  {dev.target}  {dev.check_id}  " + _n(
            "severity {severity}, first seen {at} (run {run_id}), {days} day old, due {due}, owner {owner}",
            "severity {severity}, first seen {at} (run {run_id}), {days} days old, due {due}, owner {owner}", "days",
            severity=dev.severity, at=t.time(dev.first_seen), run_id=dev.first_run_id,
            days=dev.age_days(now), due=t.time(dev.due), owner=owner) + "\n")
    else:
        closed = _("closed")  # each text its own call: Babel does not extract a call nested in another's arguments
        evidence = _("run {run_id}", run_id=dev.evidence_run_id) if dev.evidence_run_id else _("none")
        line = _("closed {at} automatically; evidence: {evidence}", at=t.time(dev.closed_at), evidence=evidence) \
            if dev.closed_via == "run" else \
            _("closed {at} by {by} via {via}; evidence: {evidence}", at=t.time(dev.closed_at), by=dev.closed_by or "–",
              via=dev.closed_via, evidence=evidence)
        out.write(f"{dev.id}  {closed}  {dev.target}  {dev.check_id}  {line}\n")
        if dev.closing_note:
            out.write("    " + _("Note:") + " " + dev.closing_note + "\n")
    if dev.summary:
        out.write("    " + dev.summary + "\n")
