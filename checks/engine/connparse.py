"""Connection-like settings parsed at validation time, not at first use.

A malformed storage connection string, account URL, database URL or libpq variable is refused
by `Settings.from_env` (exit 2 / HTTP 500 naming the variable), never met later as a traceback
or an unrelated check error. Messages never repeat a secret value: connection strings and
database URLs are described, not echoed.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

from checks.engine.valueparse import N_, form, invalid

DEV_STORAGE = "usedevelopmentstorage=true"
_CONN_FORM = N_("Key=Value pairs separated by ';' with AccountName and AccountKey (or SharedAccessSignature), "
                 "e.g. DefaultEndpointsProtocol=https;AccountName=NAME;AccountKey=KEY;EndpointSuffix=core.windows.net, "
                 "or UseDevelopmentStorage=true")
_ENDPOINTS = ("tableendpoint", "blobendpoint", "queueendpoint", "fileendpoint")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
_DB_FORM = N_("postgresql://user:password@host:port/dbname (percent-encode special characters in the "
               "password) or 'host=... port=... dbname=... user=...'")


def url(raw: str, expected: Any = None) -> str:
    """An http(s) URL whose host and port parse (urlsplit refuses `https://[::1`)."""
    value = raw.strip()
    try:
        parts = urlsplit(value)
        port_ok = parts.port is None or 0 < parts.port < 65536
    except ValueError:
        parts, port_ok = None, False
    if (parts is None or not port_ok or parts.scheme not in ("http", "https") or not parts.hostname
            or parts.username is not None or re.search(r"\s", value)):
        raise invalid("expected {form}, got {value}", value=repr(value[:100]),
                      form=expected or form("an http(s) URL, e.g. https://ACCOUNT.table.core.windows.net"))
    return value


def storage_pairs(raw: str) -> dict[str, str]:
    """Key=Value pairs of a storage connection string (keys lowercased); ValueError without the value."""
    value = raw.strip()
    if value.lower() == DEV_STORAGE:
        return {"usedevelopmentstorage": "true"}
    pairs: dict[str, str] = {}
    for part in (p.strip() for p in value.split(";")):
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep or not key.strip() or not val.strip():
            raise invalid("expected {form}; got a part that is not Key=Value", form=form(_CONN_FORM))
        pairs[key.strip().lower()] = val.strip()
    if not pairs:
        raise invalid("expected {form}; got no Key=Value pair", form=form(_CONN_FORM))
    return pairs


def storage_connection_string(raw: str) -> str:
    pairs = storage_pairs(raw)
    if "usedevelopmentstorage" in pairs:
        return raw.strip()
    missing = [k for k, ok in (("AccountName", "accountname" in pairs or any(e in pairs for e in _ENDPOINTS)),
                               ("AccountKey or SharedAccessSignature",
                                "accountkey" in pairs or "sharedaccesssignature" in pairs)) if not ok]
    if missing:
        raise invalid("expected {form}; missing: {missing}", form=form(_CONN_FORM), missing=", ".join(missing))
    for key in _ENDPOINTS:
        if key in pairs:
            url(pairs[key], form("{key} as an http(s) URL", key=key))
    if pairs.get("defaultendpointsprotocol", "https").lower() not in ("http", "https"):
        raise invalid("expected {form}; DefaultEndpointsProtocol must be http or https", form=form(_CONN_FORM))
    return raw.strip()


def journal_identity(account_url: str | None, connection_string: str | None) -> tuple[str, str]:
    """(account name, endpoint) of the journal's storage, for naming things per deployment."""
    if account_url:
        host = urlsplit(account_url).netloc
        return host.split(".")[0] or "account", account_url
    pairs = storage_pairs(connection_string or DEV_STORAGE)
    if "usedevelopmentstorage" in pairs:
        return "devstoreaccount1", "http://127.0.0.1:10002/devstoreaccount1"
    endpoint = pairs.get("tableendpoint") or pairs.get("blobendpoint") or pairs.get("endpointsuffix", "core.windows.net")
    return pairs.get("accountname", "account"), endpoint


def default_spool_dir(env: Mapping[str, str], account_url: str | None, connection_string: str | None,
                      table: str) -> Path:
    """<user state dir>/medicapp-verifier/spool/<account>-<table>-<hash of endpoint>: one per deployment."""
    account, endpoint = journal_identity(account_url, connection_string)
    digest = hashlib.sha256(f"{endpoint}|{table}".encode()).hexdigest()[:10]
    state = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    name = re.sub(r"[^A-Za-z0-9-]", "-", f"{account}-{table}")[:80]
    return Path(state) / "medicapp-verifier" / "spool" / f"{name}-{digest}"


def database_url(raw: str) -> str:
    """A libpq URL or key=value string that libpq itself can parse (port and sslmode checked too)."""
    value = raw.strip()
    if not re.match(r"(postgres|postgresql)://", value) and "=" not in value:
        raise invalid("expected {form}", form=form(_DB_FORM))
    from psycopg import conninfo, ProgrammingError  # lazy: only when DATABASE_URL is set

    try:
        params = conninfo.conninfo_to_dict(value)
    except ProgrammingError as exc:
        reason = re.sub(r'"[^"]*"', '"…"', str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        raise invalid("expected {form}; libpq cannot parse it ({reason})", form=form(_DB_FORM), reason=reason) from None
    for port in str(params.get("port") or "").split(","):
        if port and not port_number_ok(port):
            raise invalid("expected {form}; the port must be 1-65535", form=form(_DB_FORM))
    if params.get("sslmode") and params["sslmode"] not in SSL_MODES:
        raise invalid("expected {form}; sslmode must be one of {modes}", form=form(_DB_FORM),
                      modes=", ".join(SSL_MODES))
    return value


def port_number_ok(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9]{1,5}", text)) and 0 < int(text) < 65536


def libpq_problems(libpq_env: Mapping[str, str]) -> dict[str, str]:
    """PGPORT / PGSSLMODE / PGCONNECT_TIMEOUT as libpq would refuse them at connect time."""
    problems = {}
    port = libpq_env.get("PGPORT")
    if port is not None and port.strip() and not all(port_number_ok(p) for p in port.strip().split(",")):
        problems["PGPORT"] = form("expected a port number 1-65535 (ASCII digits), got {value}", value=repr(port[:20]))
    mode = libpq_env.get("PGSSLMODE")
    if mode is not None and mode.strip() and mode.strip() not in SSL_MODES:
        problems["PGSSLMODE"] = form("expected one of {options}, got {value}", options=", ".join(SSL_MODES),
                                     value=repr(mode[:20]))
    timeout = libpq_env.get("PGCONNECT_TIMEOUT")
    if timeout is not None and timeout.strip() and not re.fullmatch(r"[0-9]{1,6}", timeout.strip()):
        problems["PGCONNECT_TIMEOUT"] = form("expected whole seconds (ASCII digits), got {value}",
                                             value=repr(timeout[:20]))
    return problems
