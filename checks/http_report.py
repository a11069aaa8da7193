"""HTTP handlers that read the journal: runs, the monthly checklist, the linked pages, and the sign-off.

Wired by function_app.py; the helpers (handle, json_response, error_response, read_json_body) are checks/http_api.py's.
"""
from __future__ import annotations

import re

import azure.functions as func

from checks.engine.i18n import msg
from checks.engine.valueparse import reason_of
from checks.engine.principal import READ, SIGN_OFF
from checks.engine.timeutil import this_month
from checks.http_api import error_response, handle, json_response, read_json_body
from checks.http_auth import BadRequest, signer_of

_RUN_ID = re.compile(r"20[0-9]{6}T[0-9]{6}Z-[0-9a-f]{6}")


@handle(READ)
def journal_month(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/journal?month=YYYY-MM: the month's runs, newest first."""
    from checks.report.checklist import ReportError, check_month
    from checks.service import load_settings, open_journal

    try:
        month = check_month(req.params.get("month") or this_month())
    except ReportError as exc:
        raise BadRequest(reason_of(exc)) from None
    from checks.cli_text import target_brief  # "which target", in the caller's language
    runs = [r | {"target_label": target_brief(r.get("target"))} for r in open_journal(load_settings()).list_runs(month)]
    return json_response({"month": month, "runs": runs})


@handle(READ)
def journal_run(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/journal/{run_id}: one run with its check results."""
    from checks.service import load_settings, open_journal

    run_id = req.route_params.get("run_id", "")
    if not _RUN_ID.fullmatch(run_id):
        raise BadRequest(msg("run id must look like {example}, got {value}", example="20261126T092114Z-3f9a1c",
                             value=repr(run_id[:64])))
    run = open_journal(load_settings()).get_run(run_id)
    if run is None:
        return error_response(msg("run {run_id} not found", run_id=run_id), 404)
    return json_response(run.to_dict())


@handle(READ)
def report(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/report?month=YYYY-MM[&format=md|html|json][&months=N][&target=NAME|&fleet=1]: the checklist (of
    one target; fleet=1, the default with several: every target), N months' overview. Default: this month, JSON.
    With ?framework=NAME[&year=YYYY]: that framework's controls (checks/http_controls.py)."""
    from checks.report.checklist import ReportError, check_format, check_month, check_months
    from checks.report.fleet import checklist_for, scopes_of
    from checks.report.pages import CSP, Links
    from checks.report.render import CONTENT_TYPES, render
    from checks.service import load_settings, open_journal
    from checks import http_controls
    if http_controls.wanted(req):  # ?framework=c5: a framework's controls (checks/http_controls.py)
        return http_controls.answer(req)

    try:
        month = check_month(req.params.get("month") or this_month())
        fmt = check_format(req.params.get("format") or "json")
        months = check_months(req.params.get("months") or 1)
        settings = load_settings()
        result = checklist_for(open_journal(settings), month, settings, target=req.params.get("target") or None,
                               months=months, fleet=req.params.get("fleet"))
    except ReportError as exc:
        raise BadRequest(reason_of(exc)) from None
    mimetype, _, _charset = CONTENT_TYPES[fmt].partition("; charset=")
    # the linked pages live under /api/pages/; key and language go along only when given in the URL
    links = Links(base="pages/", code=req.params.get("code") or None, lang=req.params.get("lang") or None,
                  several=len(scopes_of(settings)) > 1)
    return func.HttpResponse(render(result, fmt, links), status_code=200, mimetype=mimetype, charset="utf-8",
                             headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff"})


@handle(READ)
def pages(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/pages/{page}: the linked HTML pages (index.html = 12-month overview, month-YYYY-MM.html,
    run-<id>.html, drill-<id>.html); index.html takes ?month=YYYY-MM&months=N. Links are relative and
    carry the function key only when the caller gave it as ?code=."""
    from checks.report.checklist import ReportError
    from checks.report.site import NotFound, http_page
    from checks.service import load_settings, open_journal

    page = req.route_params.get("page", "")
    try:
        settings = load_settings()
        html = http_page(open_journal(settings), page, dict(req.params), settings)
    except ReportError as exc:
        raise BadRequest(reason_of(exc)) from None
    except NotFound as exc:
        return error_response(reason_of(exc), 404)
    return html_response(html)


def html_response(html: str, status: int = 200) -> func.HttpResponse:
    from checks.report.pages import CSP
    return func.HttpResponse(html, status_code=status, mimetype="text/html", charset="utf-8",
                             headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                      "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})


@handle(SIGN_OFF)
def report_signoff(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/report/{month}/signoff {"by": "NAME", "comment": "...", "target": "NAME (required with several)",
    "force": true (a month without evidence; needs a comment)}: 409 when no run of the month verified anything."""
    from dataclasses import asdict
    from checks.report.checklist import ReportError, SignOffRefused, check_month
    from checks.report.fleet import sign_off_target
    from checks.service import load_settings, open_journal

    month = req.route_params.get("month", "")
    try:
        check_month(month)
    except ReportError as exc:
        raise BadRequest(reason_of(exc)) from None
    body = read_json_body(req, {"by": str, "comment": str, "target": str, "force": bool})
    by, signer = signer_of(body)  # entra: the token's name and object id; function-key: typed, unverified
    settings = load_settings()
    try:
        stored, month_state = sign_off_target(open_journal(settings), month, by, body.get("comment"), settings,
                                              body.get("target"), via="http", force=body.get("force", False),
                                              signer=signer)
    except SignOffRefused as exc:
        raise BadRequest(reason_of(exc), 409) from None
    except ReportError as exc:
        raise BadRequest(reason_of(exc)) from None
    return json_response({"month": month, "target": body.get("target"), "signoff": asdict(stored),
                          "boxes_ticked": month_state.ticked, "boxes_total": len(month_state.boxes),
                          "complete": month_state.complete, "digest": month_state.digest}, 201)
