"""Who is calling: the caller App Service Authentication (Microsoft Entra ID) put in front of the HTTP routes.

The platform validates the caller's token and passes its claims to the app in the `X-MS-CLIENT-PRINCIPAL`
header: base64 of JSON {"auth_typ": ..., "claims": [{"typ": ..., "val": ...}], "name_typ": ..., "role_typ": ...}
("Work with user identities in Azure App Service authentication", Microsoft Learn). External requests cannot
set it while the platform's authentication is on (authsettingsV2, infra/modules/functionapp.bicep).

Pure parsing, bounded before anything is decoded: a header that is too long, not strict base64, not JSON,
nested too deep, with claims that are not short printable strings, or without an object id is refused
(PrincipalError, the face answers 401) -- never an exception that escapes, never a guessed caller.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass

from checks.engine.i18n import msg
from checks.engine.jsonnesting import json_nesting

MAX_HEADER_CHARS = 16 * 1024
MAX_JSON_DEPTH = 4  # {"claims": [{"typ": .., "val": ..}]} is 3 levels
MAX_CLAIMS = 400
MAX_CLAIM_CHARS = 2048
MAX_NAME_CHARS = 200  # the journal's short-text bound (checks/journal/entities.py)

READ, RUN, DRILL, RESTORE, SIGN_OFF = ("Verifier.Read", "Verifier.Run", "Verifier.Drill", "Verifier.Restore",
                                       "Verifier.SignOff")
ROLES = (READ, RUN, DRILL, RESTORE, SIGN_OFF)  # the app registration's app roles (infra/app-roles.json)

OID_CLAIMS = ("http://schemas.microsoft.com/identity/claims/objectidentifier", "oid")
NAME_CLAIMS = ("name", "preferred_username", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name",
               "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn")
ROLE_CLAIMS = ("roles", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role")
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")


class PrincipalError(ValueError):
    """The header is missing or cannot be trusted as a caller; `reason` is a Message."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: Entra object id, display name, app roles."""
    object_id: str
    name: str
    roles: frozenset[str]
    provider: str = ""

    def has(self, role: str) -> bool:
        return role in self.roles


def parse_principal(raw: str | None) -> Principal:
    """The caller of an `X-MS-CLIENT-PRINCIPAL` value; PrincipalError saying what is wrong with it."""
    if raw is None or not raw.strip():
        raise PrincipalError(msg("no authenticated caller (header {header} missing): sign in with Microsoft Entra ID",
                                 header="X-MS-CLIENT-PRINCIPAL"))
    payload = _decoded(raw.strip())
    claims = _claims(payload)
    role_types = set(ROLE_CLAIMS) | ({payload["role_typ"]} if isinstance(payload.get("role_typ"), str) else set())
    object_id = next((val.lower() for typ, val in claims if typ in OID_CLAIMS), "")
    if not _GUID.fullmatch(object_id):
        raise PrincipalError(msg("the caller's token has no object id (oid) claim"))
    name = next((val for typ, val in claims if typ in NAME_CLAIMS and val), object_id)
    if len(name) > MAX_NAME_CHARS:
        raise PrincipalError(msg("the caller's name claim is longer than {limit} characters", limit=MAX_NAME_CHARS))
    roles = frozenset(val for typ, val in claims if typ in role_types)
    provider = payload.get("auth_typ") if isinstance(payload.get("auth_typ"), str) else ""
    return Principal(object_id=object_id, name=name, roles=roles, provider=provider[:40])


def _decoded(raw: str) -> dict:
    if len(raw) > MAX_HEADER_CHARS:
        raise PrincipalError(msg("header {header} is longer than {limit} characters", header="X-MS-CLIENT-PRINCIPAL",
                                 limit=MAX_HEADER_CHARS))
    if not _BASE64.fullmatch(raw) or len(raw) % 4:
        raise PrincipalError(msg("header {header} is not base64", header="X-MS-CLIENT-PRINCIPAL"))
    try:
        text = base64.b64decode(raw, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise PrincipalError(msg("header {header} is not base64", header="X-MS-CLIENT-PRINCIPAL")) from None
    if json_nesting(text) > MAX_JSON_DEPTH:
        raise PrincipalError(msg("header {header}: JSON nested deeper than {depth} levels",
                                 header="X-MS-CLIENT-PRINCIPAL", depth=MAX_JSON_DEPTH))
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError):
        raise PrincipalError(msg("header {header} is not JSON", header="X-MS-CLIENT-PRINCIPAL")) from None
    if not isinstance(payload, dict):
        raise PrincipalError(msg("header {header} is not a JSON object with claims", header="X-MS-CLIENT-PRINCIPAL"))
    return payload


def _claims(payload: dict) -> list[tuple[str, str]]:
    claims = payload.get("claims")
    if not isinstance(claims, list) or len(claims) > MAX_CLAIMS:
        raise PrincipalError(msg("header {header}: claims must be a list of at most {limit} claims",
                                 header="X-MS-CLIENT-PRINCIPAL", limit=MAX_CLAIMS))
    out = []
    for claim in claims:
        typ, val = (claim.get("typ"), claim.get("val")) if isinstance(claim, dict) else (None, None)
        if not all(isinstance(v, str) and len(v) <= MAX_CLAIM_CHARS and v.isprintable() for v in (typ, val)):
            raise PrincipalError(msg("header {header}: every claim needs a printable text typ and val of at most "
                                     "{limit} characters", header="X-MS-CLIENT-PRINCIPAL", limit=MAX_CLAIM_CHARS))
        out.append((typ, val))
    return out
