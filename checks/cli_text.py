"""Text output of the CLI: a run's table, the end-of-run summary, the journal listing, colour.

Colour only on a terminal, never when NO_COLOR is set (https://no-color.org) or the output is
piped; the words PASS/WARN/FAIL stay, so nothing depends on colour.
"""
from __future__ import annotations

from typing import Any, Mapping, TextIO

from checks.engine.i18n import DEFAULT_LANGUAGE, N_, N_n, current, remediation_of, summary_of, tr as _, tr_n as _n
from checks.engine.model import Run, Status

MARK = {"pass": N_("PASS"), "warn": N_("WARN"), "fail": N_("FAIL"), "error": N_("ERROR"), "skipped": N_("SKIP")}
_COLOUR = {"pass": "32", "warn": "33", "fail": "31;1", "error": "31;1", "skipped": "2"}  # ANSI SGR codes
_ATTENTION = (Status.FAIL, Status.ERROR, Status.WARN)
# "3 pass, 1 fail" in the overall line, per status (French agrees: "1 échec", "2 échecs")
COUNTED = {"pass": N_n("{count} pass", "{count} pass"), "warn": N_n("{count} warn", "{count} warn"),
           "fail": N_n("{count} fail", "{count} fail"), "error": N_n("{count} error", "{count} error"),
           "skipped": N_n("{count} skipped", "{count} skipped")}
ROW_SUMMARY_MAX = 140  # longer reasons are cut in the table; the summary below has them in full


def mark(status: str) -> str:
    """A result's status as the table's short capitals, in the language being rendered (PASS, ÉCHEC)."""
    return current().gettext(MARK[status])


def counted_status(status: str, count: int) -> str:
    """'3 pass', '1 échec' / '2 échecs': a status with its count, in the language being rendered."""
    return _n(*COUNTED[status], "count", count=count)


def use_colour(out: TextIO, env: Mapping[str, str]) -> bool:
    if env.get("NO_COLOR"):
        return False
    isatty = getattr(out, "isatty", None)
    return bool(callable(isatty) and isatty())


def paint(text: str, status: str, colour: bool) -> str:
    return f"\033[{_COLOUR[status]}m{text}\033[0m" if colour and status in _COLOUR else text


def _cut(text: str, limit: int = ROW_SUMMARY_MAX) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def print_run(run: Run, out: TextIO, colour: bool = False) -> None:
    """The results table, then the overall line and a summary of what needs attention."""
    tr = current().message
    width = max([len(r.check_id) for r in run.results] + [8])
    title = _("Run {run_id} ({trigger}, dry run)", run_id=run.run_id, trigger=run.trigger) if run.dry_run else \
        _("Run {run_id} ({trigger})", run_id=run.run_id, trigger=run.trigger)
    out.write(f"{title}\n{'-' * len(title)}\n")
    for r in run.results:
        status = r.status.value
        summary = tr(summary_of(r))
        summary = _cut(summary) if r.status in _ATTENTION else summary
        shown = paint(f"{mark(status):<6}", status, colour)
        duration = _("{milliseconds} ms", milliseconds=r.duration_ms)
        out.write(f"{shown} {r.check_id:<{width}} {duration:>10}  {summary}\n")
        for line in listing_lines(r.details):
            out.write(f"{'':<6} {'':<{width}} {'':>10}    {line}\n")
    counts = ", ".join(counted_status(k, v) for k, v in run.counts().items() if v) or _("no checks")
    overall = paint(current().word(run.status.value).upper(), run.status.value, colour)
    out.write("\n" + _("Overall: {overall} — {counts}; journal: {journal}", overall=overall, counts=counts,
                       journal=tr(run.journal_status)) + "\n")
    if run.target:
        out.write(_("Target: {target}", target=run.target.label()) + "\n")
    for note in run.notes:
        out.write(_("Note: {note}", note=tr(note)) + "\n")
    print_attention(run, out, colour)


def attention_groups(run: Run) -> list[tuple[str, str, str, list[str]]]:
    """(status, reason, remediation, check ids) of every non-passing result, worst first; results
    with the same reason and remediation (e.g. no Azure credential) form one group."""
    groups: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for r in sorted((r for r in run.results if r.status in _ATTENTION), key=lambda r: -r.status.rank):
        key = (summary_of(r), remediation_of(r) or "")
        status, ids = groups.setdefault(key, (r.status.value, []))
        ids.append(r.check_id)
    return [(status, reason, fix, ids) for (reason, fix), (status, ids) in groups.items()]


def print_attention(run: Run, out: TextIO, colour: bool = False) -> None:
    groups = attention_groups(run)
    if not groups:
        return
    tr = current().message
    out.write("\n" + _("Needs attention:") + "\n")
    for status, reason, fix, ids in groups:
        colon = current().separator(": ")  # French typography: "ERREUR database.connectivity : ..."
        out.write(f"  {paint(mark(status), status, colour)} {', '.join(ids)}{colon}{tr(reason)}\n")
        if fix:
            out.write(f"       → {tr(fix)}\n")


def listing_lines(details: Mapping[str, Any]) -> list[str]:
    """A result's `listing` (postgres.backup_recent: data lines) and, in words, what its numbers say."""
    listing = details.get("listing")
    if not isinstance(listing, list):
        return []
    lines = [str(line) for line in listing]
    if isinstance(details.get("in_progress"), int):
        lines.append(_n("({count} backup in progress: no completion time yet, shown as -)",
                        "({count} backups in progress: no completion time yet, shown as -)", "count",
                        count=details["in_progress"]))
    if isinstance(details.get("not_listed"), int):
        lines.append(_n("... and {count} older backup not shown", "... and {count} older backups not shown", "count",
                        count=details["not_listed"]))
    return lines


def print_run_list(runs: list[dict[str, Any]], heading: str, out: TextIO, colour: bool = False) -> None:
    """`heading`: which runs, already in the language (\"in 2026-11\")."""
    if not runs:
        out.write(_("No runs recorded {heading}.", heading=heading) + "\n")
        return
    out.write(_("Runs {heading} (newest first)", heading=heading) + "\n")
    for r in runs:
        c = r["counts"]
        status = paint(f"{current().word(r['status']):<7}", r["status"], colour)
        kind = _("dry run") if r.get("dry_run") else _("full")
        counts = _n("{checks} check: {passed} pass, {warned} warn, {failed} fail, {errors} error, {skipped} skipped",
                    "{checks} checks: {passed} pass, {warned} warn, {failed} fail, {errors} error, {skipped} "
                    "skipped", "checks",
                    checks=r["check_count"], passed=c["pass"], warned=c["warn"], failed=c["fail"], errors=c["error"],
                    skipped=c["skipped"])
        out.write(f"  {r['run_id']}  {status} {r['trigger']:<5} {kind:<7} {started(r['started_at'])}  {counts}\n")
        out.write(f"  {'':<23}  " + _("target: {target}", target=target_brief(r.get("target"))) + "\n")


def target_brief(target: Mapping[str, Any] | None) -> str:
    """Which target a listed run was for, in a few words: its fleet name, else its server and storage
    account, else the database; a run journaled before targets were says so."""
    if target is None:
        return _("not recorded (run journaled before targets were)")
    parts = [target.get("name") or ""]
    if not parts[0]:
        parts = [p for p in (target.get("server"), target.get("storage_account")) if p]
    if not any(parts) and (target.get("database_host") or target.get("database_name")):
        host = target.get("database_host") or _("local socket")  # not inside the f-string: Babel would miss it
        parts = [f"{host}/{target.get('database_name') or ''}"]
    text = " + ".join(p for p in parts if p) or _("local stack (no Azure target)")
    return _("{target} (override)", target=text) if target.get("override") else text


def started(iso: str) -> str:
    """A run's start: as stored (to the second) in English, the language's date and time otherwise."""
    from datetime import datetime
    if current().lang == DEFAULT_LANGUAGE:
        return iso[:19]
    try:
        return str(current().value(datetime.fromisoformat(iso)))
    except ValueError:
        return iso[:19]


def reason_text(exc: Exception) -> str:
    """An exception's reason in the language being rendered (a Message reason through its id)."""
    reason = getattr(exc, "reason", None) or (exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc))
    return current().message(reason)


def unknown_check_text(exc) -> str:
    """A mistyped check id (registry.UnknownCheck): the ids it was probably meant to be, then every known id."""
    if exc.did_you_mean:
        return _("unknown check id or pattern: {unknown}; did you mean {suggestions}? Known checks: {known}",
                 unknown=", ".join(exc.unknown), suggestions=", ".join(exc.did_you_mean), known=", ".join(exc.known))
    return _("unknown check id or pattern: {unknown}; known checks: {known}", unknown=", ".join(exc.unknown),
             known=", ".join(exc.known))


def error_line(exc: Exception) -> str:
    return _("error: {reason}", reason=reason_text(exc))


def error_and_hint(exc: Exception) -> str:
    """The error line and, when the error says what to do (a CheckError's remediation: sign in with
    az login, grant a role), that hint under it: the same for restore and drill commands."""
    hint = getattr(exc, "remediation", None)
    line = error_line(exc)
    return line + "\n" + _("→ {remediation}", remediation=current().message(hint)) if hint else line
