"""Who may call which HTTP route (docs/security.md).

HTTP_AUTH_MODE=entra (default): App Service Authentication (authsettingsV2, infra/modules/functionapp.bicep)
authenticates every request with Microsoft Entra ID and answers 401 itself to anonymous callers; the app
reads the caller from X-MS-CLIENT-PRINCIPAL (checks/engine/principal.py), refuses a caller without the
route's app role (403 naming it) and records the caller's object id and name on what it journals.
HTTP_AUTH_MODE=function-key: the documented opt-out; the host's function key guards the routes, no role
is checked, no caller is known (a sign-off's name is then typed and recorded as unverified).
"""
from __future__ import annotations

import contextvars
import os
from typing import Any, Mapping

import azure.functions as func

from checks.engine.config import ConfigError, parse_value, variable_name
from checks.engine.i18n import msg
from checks.engine.principal import Principal, PrincipalError, parse_principal
from checks.engine.valueparse import reason_of

ENTRA, FUNCTION_KEY = "entra", "function-key"
PRINCIPAL_HEADER = "x-ms-client-principal"
class BadRequest(Exception):
    """A caller error; `message` is a Message (or plain text) rendered in the caller's language."""

    def __init__(self, message: str, status: int = 400, **extra: Any):
        super().__init__(message)
        self.message = message
        self.status = status
        self.extra = extra


_CALLER: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("caller", default=None)


def auth_mode(env: Mapping[str, str] | None = None) -> str:
    """HTTP_AUTH_MODE, validated on its own (the other settings may be broken: the caller is checked first)."""
    raw = (os.environ if env is None else env).get(variable_name("http_auth_mode"), "")
    try:
        return parse_value("http_auth_mode", raw) if raw.strip() else ENTRA
    except ValueError as exc:
        raise ConfigError({variable_name("http_auth_mode"): reason_of(exc)}) from None


def auth_level(env: Mapping[str, str] | None = None) -> func.AuthLevel:
    """The routes' host auth level: a function key only in the opt-out; with Entra the platform guards them
    (an invalid HTTP_AUTH_MODE keeps the key, and every route answers the configuration error)."""
    try:
        return func.AuthLevel.ANONYMOUS if auth_mode(env) == ENTRA else func.AuthLevel.FUNCTION
    except ConfigError:
        return func.AuthLevel.FUNCTION


def caller() -> Principal | None:
    """The authenticated caller of the current request (None: function-key mode, timers, queue)."""
    return _CALLER.get()


def requires(role: str):
    """Decorator (under http_api.handle): the request's caller must hold `role` (401 no valid principal,
    403 naming the missing role); the handler then sees the caller through `caller()`."""
    def decorate(fn):
        def wrapper(req: func.HttpRequest, *args: Any, **kwargs: Any) -> func.HttpResponse:
            token = _CALLER.set(authorize(req, role))
            try:
                return fn(req, *args, **kwargs)
            finally:
                _CALLER.reset(token)
        wrapper.__name__ = fn.__name__
        wrapper.__doc__ = fn.__doc__
        return wrapper
    return decorate


def authorize(req: func.HttpRequest, role: str) -> Principal | None:
    if auth_mode() == FUNCTION_KEY:
        return None
    try:
        principal = parse_principal(req.headers.get(PRINCIPAL_HEADER))
    except PrincipalError as exc:
        raise BadRequest(exc.reason, 401) from None
    if not principal.has(role):
        raise BadRequest(msg("the caller {name} lacks the app role {role}: ask an administrator to assign it in "
                             "the app registration (Enterprise applications > Users and groups)",
                             name=principal.name, role=role), 403, missing_role=role)
    return principal


def requested_by() -> dict[str, str] | None:
    """The caller as journaled on a run or a drill: {"object_id", "name"} from the token; None without one."""
    who = caller()
    return {"object_id": who.object_id, "name": who.name} if who else None


TYPED = "typed, unverified"  # SignedByProof of a sign-off whose name nobody vouched for (function-key mode)


def signer_of(body: Mapping[str, Any]) -> tuple[Any, dict[str, str]]:
    """(by, extra sign-off columns): with Entra the token's name and object id, and a typed `by` is refused
    (400 naming the field: a name in the body is never recorded as the signer); with a function key the
    body's `by` is required and recorded as typed, unverified."""
    who = caller()
    if who is not None:
        if "by" in body:
            raise BadRequest(msg("field 'by' is not accepted: the sign-off is recorded under the signed-in caller "
                                 "({name}); remove the field", name=who.name))
        return who.name, {"SignedByObjectId": who.object_id, "SignedByProof": ENTRA}
    if "by" not in body:
        raise BadRequest(msg("field 'by' (who reviewed the month) is required, e.g. {example}",
                             example='{"by": "Dr. A. Example"}'))
    return body["by"], {"SignedByProof": TYPED}
