"""Keep secrets out of results, the journal, logs and error messages.

Two layers: secrets in credential positions (password=..., AccountKey=..., SAS signatures,
user:password@ in URLs) are masked even when we did not know the value, and known secret
values of 8+ characters (a configured password, connection string, key) are masked where they
stand alone. Never inside an identifier: with the password `public`, `public.patients` stays.
Log records are redacted whole: message, exception text (`exc_info`) and stack.
"""
from __future__ import annotations

import logging
import re
import threading
import traceback
from typing import Any, Iterable, Mapping

MASK = "***"

_PATTERNS = (
    # key=value secrets in connection strings / libpq DSNs / query strings
    re.compile(r"(?i)\b(password|pwd|accountkey|sharedaccesskey|access_token|client_secret|sig)"
               r"(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s;&'\"]+)"),
    # scheme://user:password@host
    re.compile(r"(?i)(\b[a-z][a-z0-9+.-]{0,30}://[^\s:/@]{1,256}:)([^\s@/]{1,512})(@)"),
    # JSON-ish "password": "value"
    re.compile(r"(?i)(\"(?:password|accountkey|secret|token)\"\s*:\s*\")([^\"]*)(\")"),
    # Bearer tokens
    re.compile(r"(?i)(bearer\s+)([A-Za-z0-9._~+/-]+=*)()"),
)

_known: set[str] = set()
_lock = threading.Lock()
MIN_KNOWN_CHARS = 8  # shorter values are masked in credential positions only (no over-masking)

# Variables whose whole value is secret; connection strings are secret as a whole too.
SECRET_VARIABLES = ("PGPASSWORD", "DATABASE_URL", "AzureWebJobsStorage", "BLOB_CONNECTION_STRING")


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


def redact(text: str) -> str:
    if not text:
        return text
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for value in known:
        if value in text:
            # standing alone: not preceded by a word char or '.', not followed by one (or by '.x')
            text = re.sub(r"(?<![\w.])" + re.escape(value) + r"(?!\w)(?!\.\w)", MASK, text)
    for pattern in _PATTERNS:
        text = _sub(pattern, text)
    return text


def _secret_part(pattern: re.Pattern, match: re.Match) -> str:
    return match.group(3) if pattern is _PATTERNS[0] else match.group(2)


def _sub(pattern: re.Pattern, text: str) -> str:
    if pattern is _PATTERNS[0]:
        return pattern.sub(lambda m: m.group(1) + m.group(2) + MASK, text)
    return pattern.sub(lambda m: m.group(1) + MASK + m.group(3), text)


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
    """Redact every string inside a JSON-like structure (details dicts)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: (MASK if _secret_key(k) else redact_obj(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


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
