"""The linked pages read from the journal: one page for the HTTP app, or all of them as a static site.

Both use the page names of checks/report/pages.py, so a static site (`python -m checks report
--site DIR`, for an audit folder or a static host) has exactly the links of `/api/pages/`.
Reads: one query per month partition (shared by the overview, the fleet and month pages of every
target and the run pages) and one for the drill partition; a single page reads only what it shows.
"""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from checks.engine.i18n import msg, tr as _, tr_n
from checks.engine.timeutil import this_month
from checks.engine.valueparse import reason_of
from checks.journal.entities import RUN_ID, read_partition, run_of
from checks.report.checklist import check_month, check_months, month_range
from checks.report.deviations import month_deviations
from checks.report.fleet import fleet_overview, scopes_of, target_report
from checks.report.model import MonthReport, Overview, ReportError
from checks.report.pages import (INDEX, Links, drill_page, fleet_index_page, fleet_page, month_page, overview_page,
                                 parse_page_name, run_page)

DEFAULT_SITE_MONTHS = 12
log = logging.getLogger("checks.report.site")


class NotFound(LookupError):
    """No such page, run or drill (HTTP 404)."""


class _OncePerPartition:
    """The journal, reading each partition at most once (the site needs a month for several pages)."""

    def __init__(self, journal: Any):
        self.journal, self.rows = journal, {}

    def partition(self, key: str) -> list[dict[str, Any]]:
        if key not in self.rows:
            self.rows[key] = self.journal.partition(key)
        return self.rows[key]


def runs_of(rows: list[dict[str, Any]]) -> list:
    """The runs (summary present) among a partition's entities, as `Run`s, read by
    checks/journal/entities.py (a run whose summary is unreadable stands as an error run)."""
    part = read_partition(rows)
    return [run_of(head, part.results.get(run_id, {})) for run_id, head in part.runs.items()]


def load_drill(journal: Any, drill_id: str):
    """The drill's state; None when there is none or it is unreadable (checks/drill/records.py)."""
    from checks.drill.records import readable_drill
    from checks.drill.state import PARTITION

    rows = journal.query("PartitionKey eq @pk and RowKey eq @rk", {"pk": PARTITION, "rk": drill_id})
    return readable_drill(rows[0]) if rows else None


def _drills(journal: Any) -> dict[str, Any]:
    from checks.drill.records import read_drills
    from checks.drill.state import PARTITION

    return {d.drill_id: d for d in read_drills(journal.partition(PARTITION))}


# --- one page (HTTP) --------------------------------------------------------------------------

def http_page(journal: Any, name: str, params: dict[str, str], settings: Any) -> str:
    """The page called `name`; params: `code` (the function key) and `lang`, kept in links; for the
    overview `month` (last month, default this month) and `months` (default 12)."""
    parsed = parse_page_name(name)
    if parsed is None:
        raise NotFound(msg("no page {name}: pages are {index}, month-YYYY-MM.html, month-YYYY-MM-<target>.html, "
                           "fleet-YYYY-MM.html, run-<run id>.html, drill-<drill id>.html and framework-<framework>-<YYYY-MM or "
                           "YYYY>.html", name=repr(name[:80]),
                           index=INDEX))
    kind, value = parsed
    scopes = scopes_of(settings)
    several = len(scopes) > 1
    links = Links(code=params.get("code") or None, lang=params.get("lang") or None, several=several)
    if kind == "index":
        month = check_month(params.get("month") or this_month())
        return _index(journal, settings, month, check_months(params.get("months") or DEFAULT_SITE_MONTHS), links)
    if kind == "fleet" or (kind == "month" and several):
        return fleet_page(fleet_overview(journal, value, settings), links)
    if kind in ("month", "target"):
        month, target = (value, None) if kind == "month" else (value[:7], value[8:])
        try:
            report = target_report(journal, month, settings, target)
        except ReportError as exc:
            raise NotFound(reason_of(exc)) from None
        has_drill = report.drill is not None and load_drill(journal, report.drill.run_id) is not None
        return month_page(report, links, drill_pages=has_drill)
    if kind == "framework":
        from checks.report.control_evidence import page_of
        return page_of(journal, settings, value, links)
    return _run_or_drill(journal, kind, value, links)


def _run_or_drill(journal: Any, kind: str, value: str, links: Links) -> str:
    if kind == "run":
        run = journal.get_run(value)
        if run is None:
            raise NotFound(msg("run {run_id} not found in the journal", run_id=value))
        return run_page(run, links, drill_page=run.trigger == "drill" and load_drill(journal, value) is not None)
    drill = load_drill(journal, value)
    if drill is None:
        raise NotFound(msg("restore drill {drill_id} not found in the journal", drill_id=value))
    return drill_page(drill, links)


def _index(journal: Any, settings: Any, last_month: str, months: int, links: Links,
           now: datetime | None = None) -> str:
    """The months' overview: the only target's, or with several targets every target's per month."""
    if not links.several:
        result = target_report(journal, last_month, settings, None, months, now)
        if isinstance(result, MonthReport):  # one month: its overview of one row
            result = Overview(result.month, result.month, result.generated_at, [result])
        return overview_page(result, links)
    fleets = [fleet_overview(journal, m, settings, now) for m in month_range(last_month, check_months(months))]
    return fleet_index_page(fleets, links)


# --- every page (static site) -----------------------------------------------------------------

def write_site(journal: Any, directory: Path, last_month: str, months: int = DEFAULT_SITE_MONTHS,
               now: datetime | None = None, settings: Any = None) -> list[Path]:
    """Write the overview of `months` months ending with `last_month`, each month (with several targets:
    each month's fleet page and each target's month), each run of those months and each drill they
    recorded, and each framework's controls of `last_month` and of its year into `directory` (created if
    missing; other files kept). The year's months before the range are read too (one query each)."""
    check_month(last_month)
    months = check_months(months)
    if directory.exists() and not directory.is_dir():
        raise ReportError(msg("--site {directory}: exists and is not a directory", directory=str(directory)))
    directory.mkdir(parents=True, exist_ok=True)
    reader, written = _OncePerPartition(journal), []
    drills = _drills(reader)  # the drill partition read once (the framework pages read it too)
    scopes = scopes_of(settings)
    links = Links(several=len(scopes) > 1)
    in_range = set(month_range(last_month, months))

    def write(name: str, html: str) -> None:
        if parse_page_name(name) is None:  # only the names the HTTP app serves: never a path out of DIR
            log.warning("site: page name %r refused", name[:100])
            return
        path = directory / name
        path.write_text(html, encoding="utf-8")
        written.append(path)

    run_ids = set()
    for month in sorted(in_range):
        for run in runs_of(reader.partition(month)):
            if not RUN_ID.fullmatch(run.run_id):  # read_partition reads only run ids of this form
                continue
            run_ids.add(run.run_id)
            write(f"run-{run.run_id}.html", run_page(run, links, drill_page=run.run_id in drills))
        fleet = fleet_overview(reader, month, settings, now)  # every target's month from the one read
        if links.several:
            write(f"fleet-{month}.html", fleet_page(fleet, links, months=in_range))
        for row in (r for r in fleet.rows if r.page):
            if row.report.deviations is None:  # the month's deviations, as `report --month` shows them
                row.report.deviations = month_deviations(reader, month, row.name, now)
            drill_linked = row.report.drill is not None and row.report.drill.run_id in drills
            write(row.page, month_page(row.report, links, drill_pages=drill_linked, months=in_range))
    for drill_id in sorted(run_ids & set(drills)):
        write(f"drill-{drill_id}.html", drill_page(drills[drill_id], links, run_page_exists=True))
    from checks.report.control_evidence import site_pages  # every framework's controls, month and year
    for name, html in site_pages(reader, settings, last_month, in_range, links, now):
        write(name, html)
    write(INDEX, _index(reader, settings, last_month, months, links, now))
    return written


def cli_site(args: Any, out: Any, journal: Any, usage_error: type[Exception], settings: Any) -> int:
    """`python -m checks report --site DIR [--month M] [--months N]`."""
    month = args.month or this_month()
    directory = Path(args.site)
    try:
        written = write_site(journal, directory, month, DEFAULT_SITE_MONTHS if args.months is None else args.months,
                             settings=settings)
    except ReportError as exc:
        raise usage_error(reason_of(exc)) from None  # a Message: the CLI says it in its language
    except OSError as exc:
        raise usage_error(_("--site {directory}: cannot write there ({reason})", directory=str(directory),
                             reason=exc.strerror or str(exc))) from None
    out.write(tr_n("Wrote {count} page to {directory}; open {index}", "Wrote {count} pages to {directory}; open {index}",
                   "count", count=len(written), directory=str(directory), index=str(directory / INDEX)) + "\n")
    return 0
