"""A framework's control-by-control report from the journal: the observations, then the pure rules.

`framework_report(journal, settings, "c5", month="2026-11")` (or `year="2026"`) reads one partition per
month of the period (a month: that month; a year: its months up to this one), the drill partition once,
and the deviations (checks/journal/deviations.py, when present), and judges each control of the
framework with checks/report/controls.py. Which checks evidence which control: the registry's metadata.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from checks.engine.controls import FRAMEWORKS, UnknownFramework, check_framework, framework_controls, mapped_checks
from checks.engine.i18n import msg, summary_of
from checks.engine.model import Status
from checks.engine.timeutil import iso_z, journal_iso, minutes, month_of, parse_iso
from checks.engine.valueparse import reason_of
from checks.journal.entities import read_partition
from checks.report.checklist import check_month, evidence_runs, month_range
from checks.report.controls import MET, PROCEDURAL, CheckSeen, ControlView, DeviationSeen, DrillSeen, judge
from checks.report.fleet import Scope, scope_named, scopes_of, split
from checks.report.model import DRILL_TRIGGER, ReportError, RunRef

_YEAR = re.compile(r"20[0-9]{2}")


@dataclass
class FrameworkReport:
    framework: str
    period: str            # YYYY-MM (a month) or YYYY (a year)
    months: list[str]      # the months judged, oldest first
    window: str            # the drills' window, as shown ("2025-12 to 2026-11")
    generated_at: str
    targets: list[str]
    controls: list[ControlView]
    several: bool = False  # several targets configured: month links go to the fleet page
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return FRAMEWORKS[self.framework]

    @property
    def is_year(self) -> bool:
        return len(self.period) == 4

    @property
    def complete(self) -> bool:
        """Every control met (or procedural: the auditor looks elsewhere)."""
        return all(c.verdict in (MET, PROCEDURAL) for c in self.controls)

    def to_dict(self) -> dict[str, Any]:
        return {"framework": self.framework, "name": self.name, "period": self.period, "months": self.months,
                "drill_window": self.window, "generated_at": self.generated_at, "targets": self.targets,
                "complete": self.complete,
                "controls": [c.to_dict() for c in self.controls], "notes": [str(n) for n in self.notes]}


def check_year(year: Any) -> str:
    text = str(year if year is not None else "")
    if not _YEAR.fullmatch(text):
        raise ReportError(msg("year must be YYYY (ASCII digits, 2000-2099), got {value}", value=repr(text[:16])))
    return text


def check_period(framework: Any, month: Any = None, year: Any = None, now: datetime | None = None,
                 through: str | None = None) -> tuple[str, str, list[str]]:
    """(framework key, period, months judged), every input checked before any I/O; a year's months end
    with this month (or `through`, the static site's last month, which may be ahead of today as its pages are)."""
    try:
        key = check_framework(framework)
    except UnknownFramework as exc:
        raise ReportError(reason_of(exc)) from None
    if month and year:
        raise ReportError(msg("give a month (--month, field month) or a year (--year, field year), not both"))
    current = month_of(now or datetime.now(timezone.utc))
    if year:
        year = check_year(year)
        if year > current[:4] and through is None:
            raise ReportError(msg("year {year} has not started yet", year=year))
        last = min(f"{year}-12", through or current)  # the static site: its months, as its month pages
        if last < f"{year}-01":
            raise ReportError(msg("year {year} is after the last month shown, {month}", year=year, month=last))
        return key, year, month_range(last, int(last[5:7]))
    month = check_month(month or current)
    return key, month, [month]


def framework_report(journal: Any, settings: Any, framework: Any, month: Any = None, year: Any = None,
                     target: str | None = None, now: datetime | None = None,
                     pages: set[str] | None = None, through: str | None = None) -> FrameworkReport:
    """The framework's controls judged for a month or a year (every target, or `target`'s).
    `pages`: the months whose pages exist (the static site's range; None = any, as over HTTP)."""
    now = now or datetime.now(timezone.utc)
    key, period, months = check_period(framework, month, year, now, through)
    everyone = scopes_of(settings)
    chosen = [scope_named(settings, target)] if target else everyone
    window_months = months if len(period) == 4 else month_range(period, 12)
    seen: list[CheckSeen] = []
    for m in months:
        own, _other = split(journal.partition(m), everyone)
        for scope in chosen:
            seen += month_seen(m, own[scope.name], scope)
    names = [s.name for s in chosen]
    drills = drills_seen(journal, names, len(everyone) == 1, set(window_months), pages)
    deviations = deviations_seen(journal, names, months, now)
    window = msg("{first} to {last}", first=window_months[0], last=window_months[-1])
    from checks.engine.registry import all_checks
    specs = list(all_checks().values())
    views = [judge(c, mapped_checks(c.id, specs), months, seen, drills, deviations, names, window)
             for c in framework_controls(key)]
    return FrameworkReport(key, period, months, window, journal_iso(now), names, views, len(everyone) > 1)


def render_framework(report: FrameworkReport, fmt: str, links: Any = None, lang: str | None = None,
                     standalone: bool = False) -> str:
    """md | html | json (JSON: English texts, each control's text in every language too); `standalone`: an
    HTML page written alone (its links as plain text, as checks/report/render.py does)."""
    import json

    from checks.engine.i18n import LANGUAGES, current, language
    from checks.report import pages
    from checks.report.render import unlinked

    if fmt == "json":
        data = report.to_dict()
        for view, control in zip(report.controls, data["controls"]):
            for key in ("text", "procedural"):
                control[key] = {code: _in(code, getattr(view.control, key)) for code in LANGUAGES}
        return json.dumps(data, indent=2, default=str) + "\n"
    with language(lang or current().lang):
        if fmt == "html":
            html = pages.framework_page(report, links or pages.Links())
            return unlinked(html) if standalone else html
        return pages.render_template("framework.md", report=report)


def _in(lang: str, text: str) -> str:
    from checks.engine.i18n import current, language
    with language(lang):
        return current().gettext(text) if text else ""


def page_of(journal: Any, settings: Any, value: str, links: Any, pages: set[str] | None = None,
            through: str | None = None, now: datetime | None = None) -> str:
    """The page `framework-<value>.html` (value: `c5-2026-11` or `c5-2026`), HTML."""
    from checks.report.pages import framework_page
    key, _sep, period = value.partition("-")
    when = {"year": period} if len(period) == 4 else {"month": period}
    report = framework_report(journal, settings, key, **when, now=now, pages=pages, through=through)
    return framework_page(report, links, pages)


def site_pages(journal: Any, settings: Any, last_month: str, pages: set[str], links: Any,
               now: datetime | None = None) -> list[tuple[str, str]]:
    """(name, HTML) of every framework's page for the site's last month and for its year up to that month."""
    return [(f"framework-{key}-{period}.html", page_of(journal, settings, f"{key}-{period}", links, pages,
                                                       last_month, now))
            for key in FRAMEWORKS for period in (last_month, last_month[:4])]


def month_seen(month: str, rows: list[dict[str, Any]], scope: Scope) -> list[CheckSeen]:
    """Per check, the newest result that is not `skipped` among the month's verification runs about `scope`."""
    part = read_partition(rows)
    runs = sorted((RunRef(run_id=r.run_id, started_at=iso_z(r.started_at), trigger=r.trigger, dry_run=r.dry_run,
                          status=r.status.value, counts=dict(r.counts), target=r.target)
                   for r in part.runs.values()), key=lambda r: (r.started_at, r.run_id), reverse=True)
    results = defaultdict(dict, part.results)
    evidence, _empty, _undelivered = evidence_runs(runs, results, scope.target, [])
    newest: dict[str, CheckSeen] = {}
    for run in (r for r in evidence if r.trigger != DRILL_TRIGGER):  # newest first
        for check_id, result in sorted(results[run.run_id].items()):
            if result.status is not Status.SKIPPED and check_id not in newest:
                newest[check_id] = CheckSeen(scope.name, month, check_id, result.status.value, summary_of(result),
                                             run.run_id, run.started_at)
    return list(newest.values())


def drills_seen(journal: Any, targets: list[str], alone: bool, window: set[str],
                pages: set[str] | None) -> list[DrillSeen]:
    """The finished drills of `targets` requested in the window's months (one query: the drill partition).
    A drill recorded before drills named their target is the only target's (`alone`)."""
    from checks.drill.records import read_drills
    from checks.drill.state import PARTITION, TERMINAL

    out = []
    for drill in read_drills(journal.partition(PARTITION)):
        name = drill.target_name or (targets[0] if alone and targets else "")
        month = drill.requested_at[:7]
        if drill.state not in TERMINAL or name not in targets or month not in window:
            continue
        requested, ready = parse_iso(drill.requested_at), parse_iso(drill.ready_at or None)
        rpo = (drill.verification or {}).get("rpo") or {}
        out.append(DrillSeen(name, drill.drill_id, drill.requested_at, drill.outcome or "error",
                             drill.summary or drill.error, minutes(ready - requested) if ready else None,
                             rpo.get("rpo_seconds") if isinstance(rpo, dict) else None, drill.cleanup,
                             pages is None or month in pages, _recorded(drill, "parity"), _recorded(drill, "disposal")))
    return sorted(out, key=lambda d: d.at, reverse=True)


def _recorded(drill: Any, part: str) -> str | None:
    """The status of a drill's `parity` or `disposal` record ("" when not recorded); None when drills keep none."""
    if not hasattr(drill, part):
        return None
    record = getattr(drill, part)
    status = record.get("status") if isinstance(record, dict) else None
    return status if isinstance(status, str) else ""


def deviations_seen(journal: Any, targets: list[str], months: list[str], now: datetime) -> list[DeviationSeen]:
    """The deviations of `targets` open at some time in the months (checks/journal/deviations.py: one query)."""
    from checks.journal.deviations import read_deviations

    return from_deviations(read_deviations(journal), targets, period_bounds(months), now)


def period_bounds(months: list[str]) -> tuple[datetime, datetime]:
    """[first day of the first month, first day after the last month) in UTC."""
    after = _next_month(months[-1])
    return (datetime(int(months[0][:4]), int(months[0][5:7]), 1, tzinfo=timezone.utc),
            datetime(int(after[:4]), int(after[5:7]), 1, tzinfo=timezone.utc))


def _next_month(month: str) -> str:
    index = int(month[:4]) * 12 + int(month[5:7])  # the next month's index (months counted from 0)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def from_deviations(records: list[Any], targets: list[str], bounds: tuple[datetime, datetime],
                    now: datetime) -> list[DeviationSeen]:
    """Deviations (checks.journal.deviations.Deviation) of `targets` open at some time in [start, end): open at
    the period's end or closed in it; overdue when past due while open in the period."""
    start, end = bounds
    out = []
    for dev in records:
        closed = dev.closed_at
        if dev.target not in targets or dev.first_seen >= end or (closed is not None and closed < start):
            continue
        open_at_end = closed is None or closed >= end
        until = min(now, end) if open_at_end else closed
        out.append(DeviationSeen(dev.target, dev.check_id, iso_z(dev.first_seen), iso_z(dev.due),
                                 "open" if open_at_end else "closed", dev.owner, dev.due < until,
                                 iso_z(closed) if closed else ""))
    return out
