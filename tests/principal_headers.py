"""Crafted X-MS-CLIENT-PRINCIPAL headers, as App Service Authentication passes them to the app (base64 JSON)."""
from __future__ import annotations

import base64
import json

from checks.engine.principal import ROLES

OID = "5f0c8a52-1d3e-4b7a-9c61-2e8f4d0b7a13"
NAME = "Dr. Alice Martin"


def encode(payload) -> str:
    return base64.b64encode(json.dumps(payload).encode()).decode()


def principal(roles=ROLES, oid: str = OID, name: str = NAME) -> str:
    claims = [{"typ": "http://schemas.microsoft.com/identity/claims/objectidentifier", "val": oid},
              {"typ": "name", "val": name}, {"typ": "preferred_username", "val": "alice@hospital.example"},
              *({"typ": "roles", "val": role} for role in roles)]
    return encode({"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"})


def signed_in(headers: dict | None = None, roles=ROLES, **who) -> dict:
    """Request headers with a caller holding `roles` (all five by default)."""
    return {**(headers or {}), "x-ms-client-principal": principal(roles, **who)}
