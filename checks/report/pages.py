"""The journal as linked HTML pages: 12-month overview, a month's checklist, a run, a drill.

Rendered from Jinja2 templates (checks/report/templates/) with autoescape on, so every value from
the journal (summaries, names, comments: text from Azure, the database or a person) is escaped.
The i18n extension is on with null translations: every visible string in the templates goes
through `_()`, so a catalogue can be installed later without touching the templates.

The same page names serve the HTTP app (`/api/pages/<name>`) and the static site
(`python -m checks report --site DIR`), so the links between pages are the same relative links in
both. Each page is one self-contained file: the stylesheet is inlined and allowed by its sha256 in
the Content-Security-Policy, which forbids every script and every fetch.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from checks.engine.model import Run, Status
from checks.engine.timeutil import minutes, parse_iso
from checks.report.model import BOXES, DRY_RUN_CHECKS, MonthReport, Overview

TEMPLATES = Path(__file__).with_name("templates")
_CSS = (TEMPLATES / "report.css").read_text(encoding="utf-8")
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode("ascii")
# frame-ancestors only works as a header (a <meta> with it makes browsers log an error)
META_CSP = (f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src data:; base-uri 'none'; "
            "form-action 'none'")
CSP = META_CSP + "; frame-ancestors 'none'"

INDEX = "index.html"
_RUN_ID = r"20[0-9]{6}T[0-9]{6}Z-[0-9a-z]{6}"  # checks/journal/entities.py RUN_ID: the ids that get pages
_MONTH = r"\d{4}-(?:0[1-9]|1[0-2])"
PAGE_NAME = re.compile(rf"(?P<index>index)\.html|month-(?P<month>{_MONTH})\.html|"
                       rf"run-(?P<run>{_RUN_ID})\.html|drill-(?P<drill>{_RUN_ID})\.html|"
                       rf"fleet-(?P<fleet>{_MONTH})\.html|month-(?P<target>{_MONTH}-[a-z0-9][a-z0-9-]{{0,39}})\.html|"
                       rf"framework-(?P<framework>(?:c5|iso27001|hds|soc2)-\d{{4}}(?:-(?:0[1-9]|1[0-2]))?)\.html")


@dataclass(frozen=True)
class Links:
    """Relative links between the pages. `base` leads from the current page to the pages' folder
    ("" on the pages themselves, "pages/" from /api/report); `code` is the function key and `lang`
    the language, each passed along only when the caller supplied it (`?code=`, `?lang=`); `several`:
    the deployment checks several targets, so a month without a target is the fleet page."""
    base: str = ""
    code: str | None = None
    lang: str | None = None
    several: bool = False

    def _href(self, name: str) -> str:
        params = {key: value for key, value in (("code", self.code), ("lang", self.lang)) if value}
        return f"{self.base}{quote(name)}" + ("?" + urlencode(params) if params else "")

    def overview(self) -> str:
        return self._href(INDEX)

    def month(self, month: str, target: str = "") -> str:
        """A month's checklist; with several targets, `target`'s (without one: every target's)."""
        if self.several:
            return self._href(f"month-{month}-{target}.html" if target else f"fleet-{month}.html")
        return self._href(f"month-{month}.html")

    def fleet(self, month: str) -> str:
        return self._href(f"fleet-{month}.html")

    def page(self, name: str) -> str:
        return self._href(name)

    def run(self, run_id: str) -> str:
        return self._href(f"run-{run_id}.html")

    def drill(self, drill_id: str) -> str:
        return self._href(f"drill-{drill_id}.html")

    def framework(self, framework: str, period: str) -> str:
        """A framework's control view (checks/report/control_evidence.py) of a month (YYYY-MM) or a year (YYYY)."""
        return self._href(f"framework-{framework}-{period}.html")


def parse_page_name(name: str) -> tuple[str, str] | None:
    """('index'|'month'|'run'|'drill'|'fleet'|'target'|'framework', value) for a valid page name, else None;
    'target' values are `YYYY-MM-<target name>`, 'framework' values `<framework>-<YYYY-MM or YYYY>`."""
    match = PAGE_NAME.fullmatch(name or "")
    if match is None:
        return None
    kind = next(k for k, v in match.groupdict().items() if v)
    return kind, match.group(kind)


# --- Jinja2 environment ---------------------------------------------------------------------

def utc_time(iso: Any) -> str:
    """2026-11-01T06:00:00.123Z (or a datetime) -> 2026-11-01 06:00 UTC; in French, the date the
    French way (1 nov. 2026 06:00 UTC)."""
    from checks.engine.i18n import DEFAULT_LANGUAGE, current

    try:
        moment = iso if isinstance(iso, datetime) else parse_iso(str(iso)) if iso else None
    except ValueError:  # not a time: shown as stored
        moment = None
    if isinstance(iso, datetime):
        iso = iso.astimezone(timezone.utc).isoformat()
    text = str(iso or "")
    if len(text) < 16:
        return text or "–"
    if moment is None:
        return text
    if current().lang == DEFAULT_LANGUAGE:
        return f"{text[:10]} {text[11:16]} UTC"
    return current().time(moment, seconds=False)


@lru_cache(maxsize=1)
def environment():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined  # lazy: cold start

    from checks.engine import i18n

    # HTML escapes everything; the Markdown templates escape with the `md` filter instead
    env = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                      autoescape=lambda name: not (name or "").endswith(".md"),
                      extensions=["jinja2.ext.i18n"], trim_blocks=True, lstrip_blocks=True)
    # `_()` speaks the language of the rendering in progress (i18n.language(...), set by a face)
    env.install_gettext_callables(gettext=lambda text: i18n.current().gettext(text),
                                  ngettext=lambda s, p, n: i18n.current().ngettext(s, p, n), newstyle=True)
    from checks.report.labels import detail_label

    env.filters.update(utc=utc_time, md=md_escape, code=md_code, number=lambda v: i18n.current().value(v),
                       label=detail_label, word=lambda token: i18n.current().word(token))
    from checks.engine.controls import FRAMEWORKS
    env.globals.update(boxes=BOXES, dry_run_checks=DRY_RUN_CHECKS, frameworks=FRAMEWORKS,
                       tm=lambda text, fact=None: i18n.current().message(text, fact),
                       sep=lambda separator: i18n.current().separator(separator))
    return env


def render_template(template: str, **context: Any) -> str:
    from checks.engine.i18n import current
    return environment().get_template(template).render(lang=current().lang, **context)


def _page(template: str, links: Links, **context: Any) -> str:
    from markupsafe import Markup

    now = datetime.now(timezone.utc).isoformat()
    return render_template(template, links=links, csp=META_CSP, css=Markup(_CSS), rendered_at=now, **context)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")


def md_escape(text: Any) -> str:
    """Escape for Markdown inline text and table cells; raw HTML is neutralised too."""
    value = str(text).replace("\r", " ").replace("\n", " ")
    value = _MD_SPECIAL.sub(r"\\\1", value)
    return value.replace("<", "&lt;").replace(">", "&gt;")


def md_code(text: Any) -> str:
    """Text inside `backticks`."""
    return str(text).replace("`", "'").replace("\n", " ")


# --- the pages ------------------------------------------------------------------------------

def worst_status(report: MonthReport) -> str | None:
    """The worst status of the month's runs (None without a run)."""
    statuses = [Status(r.status) for r in report.runs if r.status in Status._value2member_map_]
    return Status.worst(statuses).value if statuses else None


def fleet_page(fleet: Any, links: Links = Links(), months: set[str] | None = None) -> str:
    """Every target's checklist of a month (checks/report/fleet.py), worst first; `months` as for
    month_page."""
    previous, following = (m if months is None or m in months else None for m in _neighbours(fleet.month))
    return _page("fleet.html", links, fleet=fleet, summary=fleet.to_dict(), previous=previous, following=following)


def fleet_index_page(fleets: list[Any], links: Links = Links()) -> str:
    """Several targets over several months (oldest first in `fleets`): a row per month, newest first,
    with how many targets ticked each box and signed the month off."""
    rows = [(f, f.to_dict()) for f in reversed(fleets)]
    return _page("fleet_index.html", links, rows=rows, first=fleets[0].month, last=fleets[-1].month)


def framework_page(report: Any, links: Links = Links(), months: set[str] | None = None) -> str:
    """A framework's controls with their verdicts (control_evidence.FrameworkReport); `months` as for month_page."""
    return _page("framework.html", links, report=report, pages=months)


def overview_page(ov: Overview, links: Links = Links()) -> str:
    rows = [(m, worst_status(m)) for m in reversed(ov.months)]  # newest month first
    return _page("overview.html", links, ov=ov, rows=rows)


def month_page(report: MonthReport, links: Links = Links(), drill_pages: bool = True,
               months: set[str] | None = None) -> str:
    """`drill_pages`: link the latest drill's state page (False when there is none); `months`: the
    months that have a page (the static site's range; None = any, as over HTTP)."""
    previous, following = (m if months is None or m in months else None for m in _neighbours(report.month))
    return _page("month.html", links, report=report, worst=worst_status(report), previous=previous,
                 following=following, drill_pages=drill_pages)


def run_page(run: Run, links: Links = Links(), drill_page: bool = False) -> str:
    """One run: every result with status, summary, remediation and details."""
    results = [(r, detail_rows(r.details, r.messages)) for r in run.results]
    duration = (run.finished_at - run.started_at).total_seconds() if run.finished_at else None
    return _page("run.html", links, run=run, month=run.month, results=results, counts=run.counts(),
                 duration=duration, drill_page=drill_page)


def drill_page(drill: Any, links: Links = Links(), run_page_exists: bool = True) -> str:
    """A restore drill's state (checks.drill.state.Drill): history, RTO, restore point, cleanup."""
    from checks.drill.state import EVENT, NOT_RECORDED, TERMINAL
    from checks.report.drillview import drill_audit  # who, backup, RTO/RPO vs targets, parity, disposal

    requested, ready = parse_iso(drill.requested_at), parse_iso(drill.ready_at)
    rto = minutes(ready - requested) if requested and ready else None  # as in the drill's journal run
    events = [(e.params["at"], e.params["event"]) if getattr(e, "msgid", "") == EVENT else
              tuple(e.split(" ", 1)) if " " in e else (e, "") for e in drill.events]  # (time, text to translate)
    month = drill.requested_at[:7] if requested else None
    return _page("drill.html", links, drill=drill, rto=rto, events=events, month=month,
                 target=drill.target_name or NOT_RECORDED,  # a drill recorded before drills named their target
                 verification=detail_rows(drill.verification), audit=drill_audit(drill),
                 run_link=drill.state in TERMINAL and run_page_exists)


def detail_rows(details: dict[str, Any], messages: dict[str, Any] | None = None) -> list[tuple[str, Any, str]]:
    """(key, value, kind) per detail; kind: 'table' (an object of plain values, e.g. counts per table:
    (key, localized value) pairs), 'block' (other lists and objects as indented JSON), 'bool',
    'none' or 'text' (the template words yes/no/– so they can be translated); a text whose message fact
    the journal kept (`messages["details.<key>"]`) in the language being rendered."""
    from checks.engine.i18n import current
    from checks.report.labels import detail_value  # a stored token (strategy listing) as the reader's word
    rows = []
    for key, value in (details or {}).items():
        if isinstance(value, dict) and value and all(_plain(v) for v in value.values()):
            rows.append((str(key), [(str(k), detail_value(key, _shown(v))) for k, v in value.items()], "table"))
        elif isinstance(value, (dict, list)):
            rows.append((str(key), json.dumps(value, indent=1, ensure_ascii=False, default=str), "block"))
        elif isinstance(value, bool) or value is None:
            rows.append((str(key), value, "bool" if value is not None else "none"))
        else:
            fact = (messages or {}).get(f"details.{key}")
            shown = current().message(str(value), fact) if fact else str(detail_value(key, str(value)))
            rows.append((str(key), value if isinstance(value, (int, float)) else shown, "text"))  # `number`
    return rows


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float))


def _shown(value: Any) -> str:
    """A value of a details table: numbers the language's way (12 345, 0,5), None as –."""
    from checks.engine.i18n import current
    if value is None:
        return "–"
    if isinstance(value, bool):
        return current().gettext("yes" if value else "no")
    return str(current().value(value)) if isinstance(value, (int, float)) else value


def _neighbours(month: str) -> tuple[str, str]:
    year, number = int(month[:4]), int(month[5:7])
    index = year * 12 + number - 1
    return tuple(f"{i // 12:04d}-{i % 12 + 1:02d}" for i in (index - 1, index + 1))  # type: ignore[return-value]
