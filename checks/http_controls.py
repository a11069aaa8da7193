"""GET /api/report?framework=c5|iso27001|hds|soc2[&month=YYYY-MM|&year=YYYY][&format=json|md|html][&target=NAME]:
a framework's controls with their evidence and verdicts (checks/report/control_evidence.py).

Called by checks/http_report.py's `report` (role Verifier.Read, the caller's language) when `framework` or
`year` is given; every field is checked before the journal is read: 400 naming it.
"""
from __future__ import annotations

import azure.functions as func

from checks.engine.controls import FRAMEWORKS
from checks.engine.i18n import msg
from checks.engine.valueparse import reason_of
from checks.http_auth import BadRequest

_FIELDS = ("framework", "month", "year", "format", "target", "code", "lang")


def wanted(req: func.HttpRequest) -> bool:
    return req.params.get("framework") is not None or req.params.get("year") is not None


def answer(req: func.HttpRequest) -> func.HttpResponse:
    from checks.report.checklist import check_format
    from checks.report.control_evidence import check_period, framework_report, render_framework
    from checks.report.fleet import scopes_of
    from checks.report.model import ReportError
    from checks.report.pages import CSP, Links
    from checks.report.render import CONTENT_TYPES
    from checks.service import load_settings, open_journal

    params = req.params
    unknown = sorted(set(params) - set(_FIELDS))
    if unknown:
        raise BadRequest(msg("unknown field(s): {unknown}; allowed: {allowed}", unknown=", ".join(unknown)[:200],
                             allowed=", ".join(_FIELDS)))
    if params.get("framework") is None:
        raise BadRequest(msg("year needs framework (one of {names})", names=", ".join(FRAMEWORKS)))
    try:
        fmt = check_format(params.get("format") or "json")
        check_period(params.get("framework"), params.get("month") or None, params.get("year") or None)
        settings = load_settings()
        report = framework_report(open_journal(settings), settings, params.get("framework"),
                                  params.get("month") or None, params.get("year") or None,
                                  target=params.get("target") or None)
    except ReportError as exc:
        raise BadRequest(reason_of(exc)) from None
    links = Links(base="pages/", code=params.get("code") or None, lang=params.get("lang") or None,
                  several=len(scopes_of(settings)) > 1)
    mimetype = CONTENT_TYPES[fmt].partition("; charset=")[0]
    return func.HttpResponse(render_framework(report, fmt, links), status_code=200, mimetype=mimetype,
                             charset="utf-8", headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})
