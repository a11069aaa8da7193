"""Keep secrets out of results, the journal, logs and error messages.

Two layers: secrets in credential positions (password=..., AccountKey=..., SAS signatures,
user:password@ in URLs) are masked even when we did not know the value, and known secret
values of 8+ characters (a configured password, connection string, key) are masked where they
stand alone. Never inside an identifier: with the password `public`, `public.patients` stays.
Log records are redacted whole: message, exception text (`exc_info`) and stack.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import traceback
from typing import Any, Iterable, Mapping

MASK = "***"

_PATTERNS = (
    # key=value secrets in connection strings / libpq DSNs / query strings
    # (a quoted value ends at its unescaped quote: libpq's 'it\'s' is one value)
    re.compile(r"(?i)\b(password|pwd|accountkey|sharedaccesskey|access_token|client_secret|sig)"
               r"(\s*=\s*)('(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|(?:\\[^\s\"']|[^\s;&'\"\\])+)"),
    # scheme://user:password@host, up to the LAST '@' (an unencoded '@' in the password or user)
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]{0,30}://[^\s:/\"]{1,256}:)([^\s/\"]{1,512})(@)"),
    # JSON-ish "password": "value"
    re.compile(r"(?i)(\"(?:password|accountkey|secret|token)\"\s*:\s*\")((?:[^\"\\]|\\.)*)(\")"),
    # Bearer tokens
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/-]+=*)()"),
)

_known: set[str] = set()
_lock = threading.Lock()
MIN_KNOWN_CHARS = 8  # shorter values are masked in credential positions only (no over-masking)

# Variables whose whole value is secret; connection strings are secret as a whole too.
SECRET_VARIABLES = ("PGPASSWORD", "DATABASE_URL", "AzureWebJobsStorage", "BLOB_CONNECTION_STRING", "FleetQueue")


def register_secrets(values: Iterable[str | None]) -> None:
    """Remember secret values (8+ chars) so they are masked wherever they stand alone."""
    with _lock:
        for value in values:
            if value and len(value) >= MIN_KNOWN_CHARS and value != "UseDevelopmentStorage=true":
                _known.add(value)
                # also the secret parts inside it (a password inside a URL, a key inside a string)
                for pattern in _PATTERNS:
                    for match in pattern.finditer(value):
                        part = _secret_part(pattern, match).strip("'\"")
                        if len(part) >= MIN_KNOWN_CHARS:
                            _known.add(part)


def register_from_env(env: Mapping[str, str]) -> None:
    register_secrets(env.get(name) for name in SECRET_VARIABLES)
    register_secrets(_database_passwords(env.get("DATABASE_URL")))


def _database_passwords(url: str | None) -> list[str]:
    """The password of DATABASE_URL as libpq reads it, and as typed between ':' and the last '@' of
    a URL: both are masked even when quotes, backslashes or an unencoded '@' fooled the patterns."""
    if not url:
        return []
    from urllib.parse import unquote
    found = []
    head = url.strip().partition("://")[2].partition("/")[0]
    if "@" in head and ":" in head.rpartition("@")[0]:
        typed = head.rpartition("@")[0].partition(":")[2]
        found += [typed, unquote(typed), *typed.split("@")]  # libpq puts the part after an '@' in the host
    from psycopg import ProgrammingError, conninfo  # lazy: only with DATABASE_URL
    try:
        found.append(conninfo.conninfo_to_dict(url).get("password") or "")
    except ProgrammingError:
        pass  # refused by validation; the typed password above is still masked
    return found


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            # standing alone: not preceded by a word char or '.', not followed by one (or by '.x')
            found = re.finditer(r"(?<![\w.])" + re.escape(value) + r"(?!\w)(?!\.\w)", text)
            text = _masked(text, [m.span() for m in found], known_value=True)
    for pattern in _PATTERNS:
        group = 3 if pattern is _PATTERNS[0] else 2
        text = _masked(text, [m.span(group) for m in pattern.finditer(text)])
    return str.__str__(text)  # plain text, whatever str subclass came in (as re.sub gave)


def _secret_part(pattern: re.Pattern, match: re.Match) -> str:
    return match.group(3) if pattern is _PATTERNS[0] else match.group(2)


# Text may hold JSON (a log line with a run, a journal column): a mask never splits a backslash
# escape (`\"`, `\\`, `\n`, `\u00e9`) and a pattern's mask never spans the end of a JSON string, so
# valid JSON stays valid JSON of the same shape. Known secret values are masked whatever the shape.
_LEAVES_STRING = re.compile(r"\s*[,:\]}]")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}")


def _masked(text: str, spans: list[tuple[int, int]], known_value: bool = False) -> str:
    out, last = [], 0
    for start, end in spans:
        start, end = _unit_start(text, start), _unit_end(text, end)
        if start < last or (not known_value and _leaves_json_string(text, start, end)):
            continue
        out += [text[last:start], MASK]
        last = end
    return "".join(out) + text[last:] if out else text


def _escape_length(text: str, i: int) -> int:
    """Length of the escape starting at text[i] (a backslash that is not itself escaped), else 0."""
    if text[i] != "\\":
        return 0
    before = i
    while before > 0 and text[before - 1] == "\\":
        before -= 1
    if (i - before) % 2:
        return 0  # the second half of `\\`
    return 6 if text[i + 1:i + 2] == "u" and _HEX4.fullmatch(text, i + 2, i + 6) else min(2, len(text) - i)


def _unit_start(text: str, pos: int) -> int:
    """`pos`, or the start of the escape it lies inside."""
    for i in range(max(0, pos - 5), pos):
        if i + _escape_length(text, i) > pos:
            return i
    return pos


def _unit_end(text: str, pos: int) -> int:
    """`pos` (an end), or the end of the escape it would cut."""
    for i in range(max(0, pos - 5), pos):
        if i + _escape_length(text, i) > pos:
            return i + _escape_length(text, i)
    return pos


def _leaves_json_string(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] holds a quote that ends a JSON string (`"` then `,` `:` `]` or `}`)."""
    i = start
    while i < end:
        if text[i] == '"' and _LEAVES_STRING.match(text, i + 1, end):
            return True
        i += max(1, _escape_length(text, i))
    return False


def first_line(text: str) -> str:
    """The first non-blank line of an error message (driver and SDK errors run over many lines)."""
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else str(text)


def log_crash(logger: logging.Logger, what: str, *args: Any, **kwargs: Any) -> None:
    """Inside an `except` of one of the few allowed broad catches (tests/test_layout.py): log the
    unexpected exception with its traceback, redacted here whatever filters the handlers have
    (`kwargs`: e.g. `extra=`)."""
    logger.error(what + "\n%s", *args, redact(traceback.format_exc()), **kwargs)


def redact_obj(value: Any) -> Any:
    """Redact every string inside a JSON-like structure (details dicts), keys too; the shape stays."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            out[_unique_key(key, out, value)] = MASK if _secret_key(key) else redact_obj(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


def _unique_key(key: Any, done: Mapping[Any, Any], original: Mapping[Any, Any]) -> Any:
    """The redacted key; numbered when two keys redact alike, so no entry is lost."""
    if not isinstance(key, str) or redact(key) == key:
        return key
    base = candidate = redact(key)
    number = 2
    while candidate in done or candidate in original:
        candidate, number = f"{base} ({number})", number + 1
    return candidate


def redacted_json(value: Any, **dumps: Any) -> str:
    """JSON text of `value` with every string redacted: redacted as data, then serialised (never the
    other way round: masking serialised text could eat an escaping backslash), so it always loads."""
    plain = json.loads(json.dumps(value, default=str))  # what json.dumps would write, as plain data
    return json.dumps(redact_obj(plain), **dumps)


def _secret_key(key: Any) -> bool:
    return isinstance(key, str) and key.lower() in {"password", "pgpassword", "accountkey", "connection_string",
                                                    "sas", "token", "secret"}


class RedactingFilter(logging.Filter):
    """Logging filter: message, exception text and stack of every record are redacted before emission."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # broad: logging must never fail, and a filter cannot log its own failure
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info != (None, None, None):
            # formatted once here, redacted; exc_info dropped so no handler formats it raw again
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
