"""Value parsers of the settings table (checks/engine/config.py): each returns the parsed value or
raises ValueError whose text is a message naming the expected form ("expected an integer between 1
and 72, got 0"), so a configuration error reads in French too (the CLI and HTTP render it).

The messages come from checks.engine.i18n, imported only on the error path: reading valid settings
stays as cheap as before (cold start). The forms given to `pattern(...)` are extracted for the
catalog from the calls themselves (devtools/i18n.py: `_pattern` keyword, second argument).
"""
from __future__ import annotations

import os
import re
from typing import Any, Callable

_ASCII_INT = re.compile(r"[+-]?[0-9]+")
_MAX_DIGITS = 18  # every bound is far below 10**18; int() refuses 4300+ digits with a message of its own
_ASCII_FLOAT = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off"}


def N_(text: str) -> str:
    """Mark a form for the catalog extraction only (checks.engine.i18n.N_, without importing i18n)."""
    return text


def invalid(template: str, **params: Any) -> ValueError:
    """A ValueError whose text is a translatable message (its params may be messages too)."""
    from checks.engine.i18n import msg
    return ValueError(msg(template, **params))


def form(text: str, **params: Any) -> Any:
    """An expected form as a message (translated where it is shown); a `{name}` it shows literally
    (BLOB_RECENT_PREFIX_TEMPLATE's {yyyy}) is given itself as its value."""
    from checks.engine.i18n import msg, placeholders
    return msg(text, **{**{name: f"{{{name}}}" for name in placeholders(text)}, **params})


def form_n(singular: str, plural: str, **params: Any) -> Any:
    """A counted part of a form ("1 field", "5 fields"): i18n.msgn counted by `count`."""
    from checks.engine.i18n import msgn
    return msgn(singular, plural, "count", **params)


def reason_of(exc: ValueError) -> Any:
    """The message a parser raised (str() would drop its id and parameters)."""
    return exc.args[0] if len(exc.args) == 1 and isinstance(exc.args[0], str) else str(exc)


def _int_form(lo: int | None, hi: int | None) -> Any:
    if lo is not None and hi is not None:
        return form("an integer between {lo} and {hi}", lo=lo, hi=hi)
    return form("an integer >= {lo}", lo=lo) if lo is not None else form("an integer")


def integer(lo: int | None = None, hi: int | None = None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not _ASCII_INT.fullmatch(raw.strip()):  # int() would also take "1_0" and non-ASCII digits
            raise invalid("expected {form} (ASCII digits), got {value}", form=_int_form(lo, hi), value=repr(raw[:40]))
        digits = raw.strip().lstrip("+-").lstrip("0")
        if len(digits) > _MAX_DIGITS:
            raise invalid("expected {form}, got a number of {digits} digits", form=_int_form(lo, hi), digits=len(digits))
        value = int(raw.strip())
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise invalid("expected {form}, got {value}", form=_int_form(lo, hi), value=value)
        return value
    return parse


def number(lo: float, hi: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        between = dict(lo=f"{lo:g}", hi=f"{hi:g}")
        if not _ASCII_FLOAT.fullmatch(raw.strip()):
            raise invalid("expected a number between {lo} and {hi} (ASCII digits), got {value}", **between,
                          value=repr(raw[:40]))
        value = float(raw.strip())
        if not lo <= value <= hi:
            raise invalid("expected a number between {lo} and {hi}, got {value}", **between, value=f"{value:g}")
        return value
    return parse


def boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE or lowered in _FALSE:
        return lowered in _TRUE
    raise invalid("expected true or false, got {value}", value=repr(raw))


def choice(*options: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        lowered = raw.strip().lower()
        if lowered not in options:
            raise invalid("expected one of {options}, got {value}", options=", ".join(options), value=repr(raw))
        return lowered
    return parse


def pattern(regex: str, expected: str) -> Callable[[str], str]:
    compiled = re.compile(regex)

    def parse(raw: str) -> str:
        value = raw.strip()
        if not compiled.fullmatch(value):
            raise invalid("expected {form}, got {value}", form=form(expected), value=repr(value))
        return value
    return parse


def csv(item: Callable[[str], str] | None = None) -> Callable[[str], tuple[str, ...]]:
    def parse(raw: str) -> tuple[str, ...]:
        parts = tuple(p.strip() for p in raw.split(",") if p.strip())
        return tuple(item(p) for p in parts) if item else parts
    return parse


def keyed_integers(defaults: dict[str, int], lo: int, hi: int, expected: str) -> Callable[[str], dict[str, int]]:
    """`key=N,key=N` (keys of `defaults`, each once, N in lo..hi ASCII digits); keys left out keep their default."""
    def parse(raw: str) -> dict[str, int]:
        values, seen = dict(defaults), set()
        for part in (p.strip() for p in raw.split(",")):
            key, eq, number = (x.strip() for x in part.partition("="))
            key = key.lower()
            if not eq or key not in defaults or key in seen or not _ASCII_INT.fullmatch(number) \
                    or number.startswith(("+", "-")) or len(number.lstrip("0")) > _MAX_DIGITS or not lo <= int(number) <= hi:
                raise invalid("expected {form}, got {value}", form=form(expected), value=repr(part[:40]))
            seen.add(key)
            values[key] = int(number)
        return values
    return parse


# Azure's blob names (learn.microsoft.com, "Naming and Referencing Containers, Blobs, and Metadata"): 1-1024
# characters; control characters (0x00-0x1F, 0x7F, 0x80-0x9F such as U+0081) and code points that are not valid
# Unicode characters (private use U+E000-U+F8FF and planes 15-16, U+FFFE/U+FFFF; lone surrogates: what os.environ
# holds for bytes that are not UTF-8) are refused: the listing would fail with a 400 or an encoding error
BLOB_NAME_MAX = 1024
_NOT_IN_BLOB_NAME = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\ufffe\uffff\U000f0000-\U0010ffff]")
BLOB_PREFIX_FORM = N_("a blob name prefix of at most 1024 characters without control characters, e.g. uploads/")


def blob_prefix(raw: str, expected: str = BLOB_PREFIX_FORM, length: int | None = None) -> str:
    """A blob name prefix as given (spaces are legal in blob names); `length`: its length once expanded."""
    bad = _NOT_IN_BLOB_NAME.search(raw)
    if bad:
        raise invalid("expected {form}; got character {character} at position {position} of {value}",
                      form=form(expected), character=f"U+{ord(bad.group()):04X}", position=bad.start() + 1,
                      value=repr(raw[:60]))
    if (len(raw) if length is None else length) > BLOB_NAME_MAX:
        raise invalid("expected {form}; got {length} characters", form=form(expected),
                      length=len(raw) if length is None else length)
    return raw


_TEMPLATE_FORM = pattern(r"[^{}]*(\{(yyyy|mm)\}[^{}]*)+",
                         N_("a blob name prefix with {yyyy} and/or {mm}, e.g. uploads/{yyyy}/{mm}/"))


def blob_prefix_template(raw: str) -> str:
    """BLOB_RECENT_PREFIX_TEMPLATE: {yyyy} and/or {mm}, and once expanded a blob name prefix."""
    value = _TEMPLATE_FORM(raw)
    expanded = value.replace("{yyyy}", "0000").replace("{mm}", "00")
    return blob_prefix(value, N_("a blob name prefix with {yyyy} and/or {mm}, at most 1024 characters once "
                                 "expanded, without control characters, e.g. uploads/{yyyy}/{mm}/"),
                       length=len(expanded))


# Linux's PATH_MAX. NUL cannot be in a path at all (every os call raises ValueError: a run would die on its
# spool) and a control character in a directory name is a typo or a trap, never a spool.
PATH_MAX = 4096
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def abs_path(raw: str) -> str:
    value = raw.strip()
    if not os.path.isabs(value) or len(value) > PATH_MAX or _CONTROL.search(value):
        raise invalid("expected an absolute directory path (at most {max} characters, no control characters), "
                      "got {value}", max=PATH_MAX, value=repr(raw[:100]))
    return value


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return deepest
