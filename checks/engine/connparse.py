"""Connection-like settings parsed at validation time, not at first use.

A malformed storage connection string, account URL, database URL or libpq variable is refused
by `Settings.from_env` (exit 2 / HTTP 500 naming the variable), never met later as a traceback
or an unrelated check error. Messages never repeat a secret value: connection strings and
database URLs are described, not echoed.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import parse_qsl, urlsplit

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
            or parts.username is not None or re.search(r"[\s\x00-\x1f\x7f]", value)):
        raise invalid("expected {form}, got {value}", value=_shown(value),
                      form=expected or form("an http(s) URL, e.g. https://ACCOUNT.table.core.windows.net"))
    if parts.query or parts.fragment or "?" in value or "#" in value:
        # why: a SAS token in an account URL is a secret the verifier would show and send as the endpoint
        raise invalid("expected {form} without ?query or #fragment (a SAS token does not belong in an account "
                      "URL: the verifier signs in with its managed identity), got {value}", value=_shown(value),
                      form=expected or form("an http(s) URL, e.g. https://ACCOUNT.table.core.windows.net"))
    return value


def _shown(value: str) -> str:
    """A refused value as an error message may show it: credentials masked, cut at 100 characters."""
    from checks.engine.redact import redact
    masked = re.sub(r"(?<=://)[^/?#]*@", "***@", value)  # user:password@ however malformed
    return repr(redact(re.sub(r"(?<=[?#]).*", "***", masked, flags=re.S))[:100])


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
        if key.strip().lower() in pairs:  # the Tables SDK refuses it, the Blob SDK keeps the last: never guess
            raise invalid("expected {form}; {key} is given twice", form=form(_CONN_FORM), key=key.strip())
        if re.search(r"[\s\x00-\x1f\x7f]", key.strip() + val.strip()):
            raise invalid("expected {form}; {key} holds a space or a control character", form=form(_CONN_FORM),
                          key=key.strip())
        pairs[key.strip().lower()] = val.strip()
    if not pairs:
        raise invalid("expected {form}; got no Key=Value pair", form=form(_CONN_FORM))
    return pairs


def storage_connection_string(raw: str) -> str:
    pairs = storage_pairs(raw)
    if "usedevelopmentstorage" in pairs:
        return "UseDevelopmentStorage=true" if len(pairs) == 1 else raw.strip()  # the Blob SDK wants "true"
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
    if "accountname" in pairs and not re.fullmatch(r"[a-z0-9]{3,24}", pairs["accountname"]):
        raise invalid("expected {form}; AccountName must be 3-24 lowercase letters and digits", form=form(_CONN_FORM))
    if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", pairs.get("endpointsuffix", "core.windows.net")):
        raise invalid("expected {form}; EndpointSuffix must be a DNS suffix such as core.windows.net",
                      form=form(_CONN_FORM))
    if "accountkey" in pairs:
        _account_key(pairs)
    elif "sharedaccesssignature" in pairs:
        _sas_token(pairs["sharedaccesssignature"])
    # the SDKs split on ';' and '=' without trimming: hand them the pairs as validated
    return ";".join(part.split("=", 1)[0].strip() + "=" + part.split("=", 1)[1].strip()
                    for part in raw.strip().split(";") if part.strip())


# Azure Storage DNS suffixes (public, China, US Government): an account there has a 512-bit key
_AZURE_SUFFIXES = ("core.windows.net", "core.chinacloudapi.cn", "core.usgovcloudapi.net")
_AZURE_KEY_BYTES = 64


def _base64_bytes(text: str) -> bytes | None:
    """Standard base64 with its padding (as the portal shows keys), else None."""
    if not re.fullmatch(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?", text):
        return None
    try:
        return base64.b64decode(text, validate=True) or None
    except binascii.Error:
        return None


def _account_key(pairs: dict[str, str]) -> None:
    """AccountKey must decode; an account in Azure's own DNS has a 64-byte key (88 base64 characters)."""
    key = _base64_bytes(pairs["accountkey"])
    if key is None:
        raise invalid("expected {form}; AccountKey is not base64 (copy key1 or key2 from the storage account's "
                      "Access keys: 88 characters ending in ==)", form=form(_CONN_FORM))
    hosts = [urlsplit(pairs[e]).hostname or "" for e in _ENDPOINTS if e in pairs]
    if not hosts:  # the SDK builds https://ACCOUNT.<service>.<EndpointSuffix>
        hosts = ["x." + pairs.get("endpointsuffix", "core.windows.net").lower()]
    in_azure = any(h.lower().endswith("." + suffix) for h in hosts for suffix in _AZURE_SUFFIXES)
    if in_azure and len(key) != _AZURE_KEY_BYTES:
        raise invalid("expected {form}; AccountKey is not the 64 bytes (88 base64 characters) of an Azure storage "
                      "account key, it decodes to {length}: it was cut or altered", form=form(_CONN_FORM),
                      length=len(key))


def _sas_token(token: str) -> None:
    """SharedAccessSignature: a query string with sv= and a sig= that is a base64 HMAC-SHA256 (32 bytes)."""
    try:
        params = parse_qsl(token.removeprefix("?"), keep_blank_values=True, strict_parsing=True)
    except ValueError:
        params = []
    names = [name for name, _ in params]
    signature = _base64_bytes(dict(params).get("sig", ""))
    if (not params or len(set(names)) != len(names) or "sv" not in names or signature is None
            or len(signature) != 32 or any(re.search(r"[\x00-\x1f\x7f]", v) for _, v in params)):
        raise invalid("expected {form}; SharedAccessSignature must be the SAS token as Azure gives it "
                      "(sv=...&...&sig=..., each parameter once, sig a base64 signature)", form=form(_CONN_FORM))
    expiry = _sas_expiry(dict(params).get("se"))
    if expiry is not None and expiry <= datetime.now(timezone.utc):
        # why: Azure answers 403, which the journal treats as an outage: runs would be spooled, never refused
        raise invalid("expected {form}; the SharedAccessSignature expired at {expiry} (se=): issue a new one",
                      form=form(_CONN_FORM), expiry=expiry.isoformat())


def _sas_expiry(text: str | None) -> datetime | None:
    """The SAS expiry `se` (2027-01-01, 2027-01-01T00:00Z or with seconds) in UTC; None when absent."""
    if text is None:
        return None
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?Z)?", text):
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    raise invalid("expected {form}; the SharedAccessSignature expiry se= is not a UTC time such as "
                  "2027-01-01T00:00:00Z", form=form(_CONN_FORM))


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
    if re.match(r"(postgres|postgresql)://", value):
        _url_credentials(value)
    for key in sorted(k for k, v in params.items() if re.search(r"[\x00-\x1f\x7f]", str(v))):
        raise invalid("expected {form}; {key} holds a control character (a percent-escape such as %0A or "
                      "%01, or one typed in)", form=form(_DB_FORM), key=key)
    for port in str(params.get("port") or "").split(","):
        if port and not port_number_ok(port):
            raise invalid("expected {form}; the port must be 1-65535", form=form(_DB_FORM))
    if params.get("sslmode") and params["sslmode"] not in SSL_MODES:
        raise invalid("expected {form}; sslmode must be one of {modes}", form=form(_DB_FORM),
                      modes=", ".join(SSL_MODES))
    return value


# RFC 3986 userinfo: unreserved, sub-delims and percent-escapes; ':' once, between user and password
_USERINFO = re.compile(r"(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*(?::(?:[A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*)?")


def _url_credentials(value: str) -> None:
    """The user and password of a postgresql:// URL are percent-encoded: an '@', ':', '/', '#' or '?'
    typed as is moves the rest of the password into the host, port or database name (libpq reads
    `user:p@ss@host` as password `p`, host `ss@host`) and from there into reports."""
    head, _, tail = value.split("://", 1)[1].partition("/")
    path = tail.partition("?")[0]
    userinfo = head.partition("@")[0] if "@" in head else ""
    if head.count("@") > 1 or "@" in path or not _USERINFO.fullmatch(userinfo):
        raise invalid("expected {form}; the user or password holds a character to percent-encode: @ %40, "
                      ": %3A, / %2F, # %23, ? %3F, space %20 (letters, digits and -._~!$&'()*+,;= go as they are)",
                      form=form(_DB_FORM))


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
    for name in ("PGHOST", "PGUSER", "PGPASSWORD", "PGDATABASE"):
        if re.search(r"[\x00-\x1f\x7f]", libpq_env.get(name) or ""):
            problems[name] = form("expected a value without control characters (a line break or tab pasted in?)")
    timeout = libpq_env.get("PGCONNECT_TIMEOUT")
    if timeout is not None and timeout.strip() and not re.fullmatch(r"[0-9]{1,6}", timeout.strip()):
        problems["PGCONNECT_TIMEOUT"] = form("expected whole seconds (ASCII digits), got {value}",
                                             value=repr(timeout[:20]))
    return problems
