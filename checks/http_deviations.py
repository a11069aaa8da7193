"""HTTP routes of the deviations (issue 30 item 1), wired in function_app.py:

GET  /api/deviations[?open=1][&target=NAME]   role Verifier.Read: the deviations, newest first
POST /api/deviations/{id}/close {"note": ...}   role Verifier.SignOff: closed under the signed-in caller
     (name and object id from the token; a typed "by" is refused). 409 while the check still fails for
     its target or when the deviation is closed already, 404 for an unknown id.
With HTTP_AUTH_MODE=function-key (the opt-out, no caller known) the body's "by" is required and
recorded as typed.
"""
from __future__ import annotations

from datetime import datetime, timezone

import azure.functions as func

from checks.engine.i18n import msg
from checks.engine.principal import READ, SIGN_OFF
from checks.http_api import handle, json_response, read_json_body
from checks.http_auth import BadRequest, caller


def _flag(value: str | None) -> bool:
    if value in (None, "", "0"):
        return False
    if value == "1":
        return True
    raise BadRequest(msg("open must be 1 or 0, got {value}", value=repr(value[:16])))


@handle(READ)
def deviations(req: func.HttpRequest) -> func.HttpResponse:
    """GET /api/deviations[?open=1][&target=NAME]"""
    from checks.journal.deviations import read_state
    from checks.report.deviations import known_target
    from checks.report.model import ReportError
    from checks.service import load_settings, open_journal

    settings = load_settings()
    only_open = _flag(req.params.get("open"))
    target = req.params.get("target")
    try:
        target = known_target(settings, target) if target is not None else None
    except ReportError as exc:
        raise BadRequest(exc.args[0]) from None
    state = read_state(open_journal(settings))
    now = datetime.now(timezone.utc)
    devs = sorted((d for d in state.deviations.values() if (d.is_open or not only_open)
                   and (target is None or d.target == target)), key=lambda d: (d.first_seen, d.id), reverse=True)
    from checks.engine.i18n import current
    return json_response({"deviations": [d.to_dict(now) for d in devs], "intact": not state.findings,
                          "notes": [current().message(n) for n in state.notes()]})


def _closer(body: dict) -> tuple[str, str]:
    """(by, object id): the token's caller; in the function-key opt-out the typed "by" (unverified)."""
    from checks.journal.deviations import MAX_OWNER_CHARS, clean_text
    who = caller()
    if who is not None:
        if "by" in body:
            raise BadRequest(msg("field 'by' is not accepted: the deviation is closed under the signed-in caller "
                                 "({name}); remove the field", name=who.name))
        return who.name, who.object_id
    try:
        return clean_text(body.get("by"), "by", MAX_OWNER_CHARS), ""
    except ValueError as exc:
        raise BadRequest(exc.args[0]) from None


@handle(SIGN_OFF)
def deviation_close(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/deviations/{id}/close {"note": "TEXT"}"""
    from checks.journal.deviation_log import DeviationRefused, close_by_hand, find
    from checks.report.deviations import checked_id, checked_note
    from checks.report.fleet import scopes_of
    from checks.report.model import ReportError
    from checks.service import load_settings, open_journal

    try:
        dev_id = checked_id(req.route_params.get("id", ""))
        body = read_json_body(req, {"note": str, "by": str})
        note = checked_note(body.get("note"))
    except ReportError as exc:
        raise BadRequest(exc.args[0]) from None
    by, object_id = _closer(body)
    settings = load_settings()
    journal = open_journal(settings)
    try:
        target = find(journal, dev_id).target
        scope = next((s for s in scopes_of(settings) if s.name == target), None)  # None: no longer configured
        dev = close_by_hand(journal, dev_id, note, by, object_id, "http", scope.target if scope else None)
    except DeviationRefused as exc:
        raise BadRequest(exc.reason, exc.status) from None
    return json_response({"deviation": dev.to_dict()}, 200)
