"""Text output of the CLI: a run's table, the end-of-run summary, the journal listing, colour.

Colour only on a terminal, never when NO_COLOR is set (https://no-color.org) or the output is
piped; the words PASS/WARN/FAIL stay, so nothing depends on colour.
"""
from __future__ import annotations

from typing import Any, Mapping, TextIO

from checks.engine.model import Run, Status

MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "error": "ERROR", "skipped": "SKIP"}
_COLOUR = {"pass": "32", "warn": "33", "fail": "31;1", "error": "31;1", "skipped": "2"}  # ANSI SGR codes
_ATTENTION = (Status.FAIL, Status.ERROR, Status.WARN)
ROW_SUMMARY_MAX = 140  # longer reasons are cut in the table; the summary below has them in full


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
    width = max([len(r.check_id) for r in run.results] + [8])
    title = f"Run {run.run_id} ({run.trigger}{', dry run' if run.dry_run else ''})"
    out.write(f"{title}\n{'-' * len(title)}\n")
    for r in run.results:
        status = r.status.value
        summary = _cut(r.summary) if r.status in _ATTENTION else r.summary
        mark = paint(f"{MARK[status]:<6}", status, colour)
        out.write(f"{mark} {r.check_id:<{width}} {r.duration_ms:>7} ms  {summary}\n")
        listing = r.details.get("listing")
        for line in listing if isinstance(listing, list) else []:
            out.write(f"{'':<6} {'':<{width}} {'':>10}    {line}\n")
    counts = ", ".join(f"{v} {k}" for k, v in run.counts().items() if v) or "no checks"
    overall = paint(run.status.value.upper(), run.status.value, colour)
    out.write(f"\nOverall: {overall} — {counts}; journal: {run.journal_status}\n")
    if run.target:
        out.write(f"Target: {run.target.label()}\n")
    for note in run.notes:
        out.write(f"Note: {note}\n")
    print_attention(run, out, colour)


def attention_groups(run: Run) -> list[tuple[str, str, str, list[str]]]:
    """(status, reason, remediation, check ids) of every non-passing result, worst first; results
    with the same reason and remediation (e.g. no Azure credential) form one group."""
    groups: dict[tuple[str, str], tuple[str, list[str]]] = {}
    for r in sorted((r for r in run.results if r.status in _ATTENTION), key=lambda r: -r.status.rank):
        key = (r.summary, r.remediation or "")
        status, ids = groups.setdefault(key, (r.status.value, []))
        ids.append(r.check_id)
    return [(status, reason, fix, ids) for (reason, fix), (status, ids) in groups.items()]


def print_attention(run: Run, out: TextIO, colour: bool = False) -> None:
    groups = attention_groups(run)
    if not groups:
        return
    out.write("\nNeeds attention:\n")
    for status, reason, fix, ids in groups:
        out.write(f"  {paint(MARK[status], status, colour)} {', '.join(ids)}: {reason}\n")
        if fix:
            out.write(f"       → {fix}\n")


def print_run_list(runs: list[dict[str, Any]], heading: str, out: TextIO, colour: bool = False) -> None:
    if not runs:
        out.write(f"No runs recorded {heading}.\n")
        return
    out.write(f"Runs {heading} (newest first)\n")
    for r in runs:
        c = r["counts"]
        status = paint(f"{r['status']:<7}", r["status"], colour)
        kind = "dry run" if r.get("dry_run") else "full"
        out.write(f"  {r['run_id']}  {status} {r['trigger']:<5} {kind:<7} {r['started_at'][:19]}  "
                  f"{r['check_count']} checks: {c['pass']} pass, {c['warn']} warn, {c['fail']} fail, "
                  f"{c['error']} error, {c['skipped']} skipped\n")
