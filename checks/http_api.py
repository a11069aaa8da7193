"""HTTP handlers behind function_app.py's routes: parse, validate, call the service, answer JSON.

Kept out of function_app.py so that file only wires triggers, and so tests can call the
handlers with plain `azure.functions.HttpRequest` objects.
"""
from __future__ import annotations

import json
import logging
from typing import Any

import azure.functions as func

from checks.engine.config import ConfigError
from checks.engine.i18n import language, msg
from checks.journal.store import JournalUnavailable
from checks.journal.lease import RunInProgress
from checks.engine.model import Status
from checks.engine.redact import log_crash
from checks.engine.registry import UnknownCheck
from checks.engine.principal import DRILL, RESTORE, RUN
from checks.engine.valueparse import json_depth, reason_of
from checks.http_auth import BadRequest, requested_by, requires

log = logging.getLogger("checks.http")

MAX_BODY_BYTES = 16 * 1024
MAX_JSON_DEPTH = 8  # our bodies are flat; deeper nesting is a caller error, never a RecursionError
_OVERRIDE_FIELDS = {"azure_server": "pg_server_name", "azure_resource_group": "pg_resource_group"}
_VERIFY_KEYS = {"checks": list, "dry_run": bool, "azure_server": str, "azure_resource_group": str, "targets": object}


def json_response(payload: Any, status: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(payload, default=str, indent=1), status_code=status,
                             mimetype="application/json")


def error_response(message: str, status: int = 400, **extra: Any) -> func.HttpResponse:
    """{"error": text in the caller's language, ...}; a Message also gives its language-neutral id."""
    from checks.engine.i18n import current, fact_of
    fact = fact_of(message)
    payload = {"error": current().message(message), **({"error_id": fact["id"]} if fact else {}), **extra}
    return json_response(payload, status)


def read_json_body(req: func.HttpRequest, allowed: dict[str, type]) -> dict[str, Any]:
    """The request's JSON object (empty body = {}), validated against `allowed` keys and types."""
    body = req.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise BadRequest(msg("request body too large: {size} bytes (limit {limit})", size=len(body),
                             limit=MAX_BODY_BYTES), 413)
    if not body.strip():
        return {}
    content_type = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise BadRequest(msg("expected Content-Type application/json, got {content_type}",
                             content_type=repr(content_type or "none")), 415)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(msg("malformed JSON body: {reason}", reason=str(exc))) from None
    except RecursionError:
        raise BadRequest(msg("body: JSON nested deeper than {depth} levels", depth=MAX_JSON_DEPTH)) from None
    if json_depth(data) > MAX_JSON_DEPTH:
        raise BadRequest(msg("body: JSON nested deeper than {depth} levels", depth=MAX_JSON_DEPTH))
    if not isinstance(data, dict):
        raise BadRequest(msg("expected a JSON object, e.g. {example}", example='{"checks": ["postgres.*"]}'))
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise BadRequest(msg("unknown field(s): {unknown}; allowed: {allowed}", unknown=", ".join(unknown),
                             allowed=", ".join(sorted(allowed))))
    for key, kind in allowed.items():
        if key in data and not isinstance(data[key], kind):
            raise BadRequest(msg("field {field} must be a {kind}", field=repr(key), kind=kind.__name__))
    return data


def checked_fields(body: dict[str, Any], fields: dict[str, str]) -> dict[str, Any]:
    """{attr: parsed value} for the body's fields that map to settings; 400 naming the first bad field."""
    from checks.engine.config import parse_value
    parsed = {}
    for name, attr in fields.items():
        if body.get(name) is not None:
            try:
                parsed[attr] = parse_value(attr, body[name])
            except ValueError as exc:
                raise BadRequest(msg("field {field}: {reason}", field=repr(name), reason=reason_of(exc))) from None
    return parsed


def request_language(req: func.HttpRequest) -> str | None:
    """?lang=en|fr, else the best of Accept-Language, else None (the LANGUAGE setting decides)."""
    from checks.engine.i18n import LANGUAGES, negotiate, normalise_language
    asked = req.params.get("lang")
    if asked is not None:
        if normalise_language(asked) is None:
            raise BadRequest(msg("lang: expected one of {languages}", languages=", ".join(LANGUAGES)))
        return normalise_language(asked)
    return negotiate(req.headers.get("accept-language"))


def _configured_language() -> str | None:
    from checks.service import load_settings
    try:
        return load_settings().language
    except ConfigError:
        return None  # the handler reports the configuration error itself


def handle(role: str):
    """JSON answers for every error, never a stack trace; the caller must hold app role `role` (checks/http_auth.py,
    401/403 before the body is read); the handler speaks the caller's language (?lang=, Accept-Language, LANGUAGE)."""
    def decorate(fn):
        guarded = requires(role)(fn)
        def wrapper(req: func.HttpRequest, *args, **kwargs) -> func.HttpResponse:
            try:
                lang = request_language(req) or _configured_language()
            except BadRequest as exc:
                return error_response(exc.message, exc.status)
            with language(lang):
                return _answer(guarded, req, *args, **kwargs)
        wrapper.__name__ = fn.__name__
        return wrapper
    return decorate


def _answer(fn, req: func.HttpRequest, *args, **kwargs) -> func.HttpResponse:
    try:
        return fn(req, *args, **kwargs)
    except BadRequest as exc:
        return error_response(exc.message, exc.status, **exc.extra)
    except UnknownCheck as exc:
        from checks.cli_text import unknown_check_text  # the same words as the CLI, in the caller's language
        return error_response(unknown_check_text(exc), 400, known_checks=exc.known, did_you_mean=exc.did_you_mean)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return error_response(msg("the verifier is misconfigured"), 500, problems=exc.problems)
    except JournalUnavailable as exc:
        return error_response(reason_of(exc), 503)
    except RunInProgress as exc:
        return error_response(reason_of(exc), 409, running_run_id=exc.running_run_id)
    except Exception:  # broad on purpose: the last resort of every route, a 500 without internals
        log_crash(log, "unexpected error in %s", fn.__name__)
        return error_response(msg("internal error; see the function's logs"), 500)


def _journal_or_none(settings):
    from checks.service import open_journal
    try:
        return open_journal(settings)
    except JournalUnavailable as exc:
        log.error("%s", exc)
        return None


@handle(RUN)
def verify(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/verify {"checks": [...], "dry_run": false, "azure_server": ..., "azure_resource_group": ...}"""
    from checks.service import RunRequest, load_settings, verify as run_verify

    body = read_json_body(req, _VERIFY_KEYS)
    if "targets" in body:
        return _verify_targets(body)
    checks = body.get("checks", [])
    if not all(isinstance(c, str) and c.strip() for c in checks):
        raise BadRequest(msg("field 'checks' must be a list of check ids or globs (strings)"))
    overrides = checked_fields(body, _OVERRIDE_FIELDS)  # a bad override is the caller's error: 400
    settings = load_settings()
    request = RunRequest(trigger="http", checks=checks, dry_run=body.get("dry_run", False), overrides=overrides,
                         requested_by=requested_by())  # the Entra caller (None in function-key mode)
    run = run_verify(request, settings, _journal_or_none(settings))
    return json_response(run.to_dict(), 200)


def _verify_targets(body: dict[str, Any]) -> func.HttpResponse:
    """{"targets": ["a", "b"] | "all"}: one queue message per target (checks/queue_face.py); 202 + what was sent."""
    from checks.connect.discovery import DiscoveryError
    from checks.dispatch.queue import DispatchError
    from checks.dispatch.targets import message_targets
    from checks.queue_face import fan_out
    from checks.service import load_settings

    names, others = body["targets"], sorted(set(body) - {"targets"})
    if others:
        raise BadRequest(msg("field 'targets' runs whole targets through the queue; it cannot be combined with "
                             "{fields}", fields=", ".join(others)))
    valid = names == "all" or (isinstance(names, list) and names and all(isinstance(n, str) for n in names))
    if not valid:
        raise BadRequest(msg("field 'targets' must be \"all\" or a non-empty list of target names"))
    settings = load_settings()
    try:
        known = [t.name for t in message_targets(settings)]
    except DiscoveryError as exc:
        return error_response(str(exc), 503)
    unknown = [] if names == "all" else [n for n in names if n not in known]
    if unknown:
        raise BadRequest(msg("unknown target(s) {unknown}; known targets: {known}", unknown=", ".join(unknown),
                             known=", ".join(known)), known_targets=known)
    try:
        # the caller goes into each message's reservation (the journal), never into the message itself
        answer = fan_out(settings, trigger="http", names=() if names == "all" else list(dict.fromkeys(names)),
                         requested_by=requested_by())
    except DispatchError as exc:
        return error_response(reason_of(exc), 503, enqueued=exc.enqueued)
    return json_response(answer, 202)


def run_timer(past_due: bool) -> dict[str, Any]:
    """The monthly timer: run every check, record it; raises only on a bug (after the run is recorded)."""
    from checks.journal.seal import seal_last_month
    from checks.service import RunRequest, load_settings, verify as run_verify

    if past_due:
        log.warning("timer is past due: running the monthly verification now")
    try:
        settings = load_settings()
        seal_last_month(settings, _journal_or_none(settings))  # the previous month's seal (checks/journal/seal.py)
        if len(settings.targets) > 1 or (not settings.targets and settings.discover_tag):
            from checks.queue_face import fan_out_month  # a fleet, listed or tagged: one queue message per target
            result = fan_out_month(settings)
            return result | ({"restore_drill": _monthly_drill(settings)} if result["status"] == "enqueued" else {})
        if settings.targets:  # TARGETS with one entry: that target's settings, in-process as always
            settings = settings.targets[0].settings_for(settings)
        run = run_verify(RunRequest(trigger="timer"), settings, _journal_or_none(settings))
    except ConfigError as exc:
        log.error("monthly verification not run: %s", exc)
        return {"status": Status.ERROR.value, "error": str(exc)}
    except RunInProgress as exc:
        log.warning("monthly verification skipped: %s", exc)
        return {"status": "busy", "running_run_id": exc.running_run_id}
    return run.to_dict() | {"restore_drill": _monthly_drill(settings)}  # every RESTORE_DRILL_EVERY_MONTHS when on


def _monthly_drill(settings) -> dict[str, Any] | None:
    if not settings.restore_drill_enabled:
        return None
    from checks.drill_face import monthly_entry
    journal = _journal_or_none(settings)
    return monthly_entry(settings, journal) if journal is not None else {"drill": "error", "error": "no journal"}


_DRILL_KEYS = {"restore_point": str, "target": str, "target_server": str}


@handle(DRILL)
def drill_start(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/drill[?target=NAME] {"target": fleet target, "restore_point": ..., "target_server": new server}."""
    from checks.drill_face import http_start
    from checks.service import load_settings

    body = read_json_body(req, _DRILL_KEYS)  # a field's form: 400 before any work
    checked_fields(body, {"restore_point": "restore_point", "target_server": "pg_server_name", "target": "target_name"})
    status, payload = http_start(load_settings(), body, {k: v for k, v in req.params.items() if k == "target"},
                                 requested_by())
    return json_response(payload, status)


def run_drill_timer(past_due: bool) -> dict[str, Any]:
    """The drill timer (RESTORE_DRILL_SCHEDULE): advances an active drill; nothing when none is. Never raises."""
    from checks.drill_face import timer_entry
    from checks.service import load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error("restore drill timer not run: %s", exc)
        return {"error": str(exc)}
    return timer_entry(settings)


_RESTORE_PLAN_KEYS = {"kind": str, "point": str, "name": str, "resource_group": str, "container": str,
                      "prefix": str, "deleted_since": str}


@handle(RESTORE)
def restore_plan(req: func.HttpRequest) -> func.HttpResponse:
    """POST /api/restore/plan: the incident restore's plan (never a write), same validation as the CLI:
    {"kind": "postgres", "point": "latest|ISO", "name": ..., "resource_group": ...} or
    {"kind": "blobs", "container": ..., "prefix": ..., "deleted_since": ISO}. 200 valid, 422 invalid
    with every reason. Applying stays a person's CLI action (`python -m checks restore ... --apply`)."""
    from checks import restore
    from checks.engine.model import NotConfigured
    from checks.service import load_settings

    body = read_json_body(req, _RESTORE_PLAN_KEYS)
    kind = body.get("kind", "postgres")
    required = {"postgres": ("point", msg("'latest' or an ISO time with a zone, e.g. 2026-11-26T03:00:00Z")),
                "blobs": ("container", msg("the container's name"))}
    if kind not in required:
        raise BadRequest(msg("field 'kind' must be 'postgres' or 'blobs'"))
    if required[kind][0] not in body:
        raise BadRequest(msg("field '{field}' is required for kind {kind}: {expected}", field=required[kind][0],
                             kind=kind, expected=required[kind][1]))
    settings = load_settings()
    ctx = restore.make_context(settings)
    try:
        plan = _restore_plan(ctx, settings, kind, body)
    except NotConfigured as exc:
        raise BadRequest(msg("incident restore not configured: {reason}", reason=exc.args[0] if exc.args else "")) \
            from None
    finally:
        ctx.close()
    from checks.engine.i18n import current
    payload = plan.to_dict()  # the reasons in the caller's language (the plan's Messages, before JSON)
    payload["reasons"] = [current().message(reason) for reason in plan.reasons]
    if "not_checked" in payload:  # a postgres plan: why each field it could not check was not checked
        payload["not_checked"] = {name: current().message(why) for name, why in plan.not_checked.items()}
    return json_response(payload, 200 if plan.valid else 422)


def _restore_plan(ctx, settings, kind: str, body: dict[str, Any]):
    if kind == "blobs":
        from checks.restore.blobs import plan_blobs
        return plan_blobs(ctx, body["container"], body.get("prefix"), body.get("deleted_since"))
    from checks.restore.postgres import plan_postgres
    plan, _source = plan_postgres(ctx, _journal_or_none(settings), body["point"], body.get("name"),
                                  body.get("resource_group"))
    return plan
