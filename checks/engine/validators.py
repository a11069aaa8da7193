"""The value parsers of the settings table (checks/engine/config.py): one per form a variable takes.

Each returns the parsed value or raises ValueError whose text names the expected form (checks/engine/valueparse.py
builds the messages). config.py imports them under the names its table uses.
"""
from __future__ import annotations

import re

from checks.engine import connparse, ncrontab, valueparse

_pattern, _csv = valueparse.pattern, valueparse.csv  # `_pattern(regex, form)`: devtools/i18n.py extracts the form


NCRONTAB = ncrontab.validate  # field by field: ranges, steps, names
TABLE_NAME = _pattern(r"[A-Za-z][A-Za-z0-9]{2,62}",
                      "3-63 letters and digits, starting with a letter (Azure table name)")
GUID = _pattern(r"[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}",
                "a subscription id (GUID, e.g. 00000000-0000-0000-0000-000000000000)")
# Azure: letters and digits (Unicode too), -_.() and not ending in a period
RESOURCE_GROUP = _pattern(r"[-\w._()]{0,89}[-\w()]",
                          "a resource group name (1-90 letters, digits, -_.(), not ending in '.')")
PG_SERVER = _pattern(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]",
                     "a flexible server name (3-63 lowercase letters, digits and hyphens)")
STORAGE_ACCOUNT = _pattern(r"[a-z0-9]{3,24}",
                           "a storage account name (3-24 lowercase letters and digits)")
CONTAINER = _pattern(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]",
                     "container names (3-63 lowercase letters, digits, single hyphens)")
TAG_NAME = _pattern(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}",
                    "a tag name (1-128 letters, digits, '.', '_' or '-', starting with a letter or digit)")
HTTPS_URL = connparse.url  # host and port must parse, not just look like a URL
# queue names are 3-63 characters; 56 leaves room for the host's "-poison" suffix
QUEUE_NAME = _pattern(r"[a-z0-9](?!.*--)[a-z0-9-]{1,54}[a-z0-9]",
                      "3-56 lowercase letters, digits, single hyphens (Azure queue name; the host adds -poison)")

IDENT = _pattern(r"[A-Za-z_][A-Za-z0-9_$]{0,62}", "a SQL identifier (letters, digits, _)")
QUALIFIED = _pattern(r"([A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}",
                     "a table name, optionally schema-qualified (schema.table)")
ESSENTIAL_FORM = _pattern(r"([A-Za-z_][A-Za-z0-9_$]{0,62}\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}(>=\d+)?",
                          "comma-separated tables, optionally with a minimum, e.g. public.patients>=1")


def essential_entry(raw: str) -> str:
    """One ESSENTIAL_TABLES entry; `public.patients >= 1` is read as `public.patients>=1`."""
    return ESSENTIAL_FORM(re.sub(r"\s*>=\s*", ">=", raw.strip()))


DRILL_PREFIX = _pattern(r"[a-z][a-z0-9-]{1,48}",
                        "2-49 lowercase letters, digits or hyphens, starting with a letter")
RPO_PROBE = _pattern(r"[A-Za-z_][A-Za-z0-9_$]{0,62}\.[A-Za-z_][A-Za-z0-9_$]{0,62}\.[A-Za-z_][A-Za-z0-9_$]{0,62}",
                     "schema.table.timestamp_column, e.g. public.consultations.created_at")
REGION = _pattern(r"[a-z][a-z0-9]{2,39}", "Azure region names as ARM spells them, e.g. francecentral,westeurope")


def regions(raw: str) -> tuple[str, ...]:
    # "France Central" and "francecentral" are the same region (ARM answers either form)
    found = _csv(REGION)(raw.lower().replace(" ", ""))
    if not found:  # "," or " , ": an empty allow-list would fail every residency check, not say why;
        REGION(raw)  # separators never match the pattern, which raises its own "expected <form>, got ','"
    return found


RESTORE_POINT_FORM = _pattern(
    r"latest|random|[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2})?(Z|[+-][0-9]{2}:[0-9]{2})",
    "latest, random, or an ISO time with zone, e.g. 2026-11-01T03:00:00Z")


def RESTORE_POINT(raw: str) -> str:
    value = RESTORE_POINT_FORM(raw)  # ASCII digits and a zone: a zone-less time is ambiguous
    if value not in ("latest", "random"):
        from checks.engine.timeutil import INPUT_EARLIEST, INPUT_LATEST, TimeInputError, input_time, iso_z
        try:
            input_time(value)  # the shared validation of every input time (years 2000-2099)
        except TimeInputError as exc:
            if exc.kind == "range":
                raise valueparse.invalid("expected a time between {earliest} and {latest}, got {value}",
                                         earliest=iso_z(INPUT_EARLIEST), latest=iso_z(INPUT_LATEST),
                                         value=repr(value)) from None
            raise valueparse.invalid("expected a real date and time with zone, e.g. 2026-11-01T03:00:00Z, got {value}",
                                     value=repr(value)) from None
    return value


PREFIX_TEMPLATE = valueparse.blob_prefix_template


DUE_DEFAULT = {"critical": 7, "high": 30, "medium": 60, "low": 90}
DUE_DAYS = valueparse.keyed_integers(DUE_DEFAULT, 1, 3650, valueparse.N_(
    "severity=days pairs, e.g. critical=7,high=30,medium=60,low=90 (days 1-3650)"))


def target_name(raw: str) -> str:
    from checks.engine.fleet import NAME_FORM  # lazy: fleet reads config's table, which reads this module
    return _pattern(r"[a-z0-9][a-z0-9-]{0,39}", NAME_FORM)(raw)


def targets(raw: str) -> tuple:
    from checks.engine.fleet import parse_targets  # lazy: see target_name
    return parse_targets(raw)


def language(raw: str) -> str:
    """en or fr; also a POSIX LANGUAGE list (fr_FR:fr), whose first supported entry wins."""
    from checks.engine.i18n import normalise_language
    found = next((code for part in raw.split(":") if (code := normalise_language(part))), None)
    if found is None:
        raise valueparse.invalid("en or fr (a POSIX list such as fr_FR:fr is accepted)")
    return found
