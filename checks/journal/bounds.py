"""Azure Table limits, kept by construction: every entity the journal writes fits.

Limits (Table service): a string property holds 64 KiB (32K UTF-16 code units), an entity
1 MiB, a batch 100 operations and 4 MiB. A long text is cut with a visible marker; whoever
cuts it logs the full text (the logs keep what the journal cannot).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from checks.engine.redact import redact

log = logging.getLogger("checks.journal.bounds")

MAX_STRING_UNITS = 30_000          # below 32K UTF-16 code units per string property
MAX_BATCH_OPERATIONS = 100
MAX_BATCH_BYTES = 3 * 1024 * 1024  # below the 4 MiB batch limit (headers, JSON framing)
MAX_ENTITY_BYTES = 900 * 1024      # below the 1 MiB entity limit
CUT_MARKER = " …[cut: {n} characters; the full text is in the logs]"
# per-column budgets (UTF-16 code units); Details and Notes get the most room
LIMITS = {"Title": 1_000, "Summary": 4_000, "Remediation": 4_000, "Details": 16_000, "Notes": 16_000}


def utf16_units(text: str) -> int:
    """What the Table service counts: characters outside the BMP take two units."""
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` UTF-16 units, else its start plus a marker saying how much was cut."""
    if utf16_units(text) <= limit:
        return text
    marker = CUT_MARKER.format(n=len(text))
    keep = max(0, limit - utf16_units(marker) - 2)
    head = text[:keep]
    while utf16_units(head) > keep:  # astral characters count twice
        head = head[:-1]
    return head + marker


def bound_entity(entity: dict[str, Any], label: str) -> dict[str, Any]:
    """Every string property within its budget; the full text of a cut property goes to the log."""
    out = {}
    for key, value in entity.items():
        if isinstance(value, str) and key not in ("PartitionKey", "RowKey"):
            limit = LIMITS.get(key, 2_000)
            short = cut(value, limit)
            if short != value:
                log.warning("journal %s: %s cut to %d characters; full text: %s", label, key, limit, redact(value))
            value = short
        out[key] = value
    return out


def entity_bytes(entity: dict[str, Any]) -> int:
    """An upper estimate of an entity's stored size (UTF-16 strings, 8 bytes per other value)."""
    size = 4
    for key, value in entity.items():
        size += 8 + 2 * len(key)
        size += 2 * utf16_units(value) + 4 if isinstance(value, str) else 8
    return size


def batches(operations: Iterable[tuple[str, dict[str, Any]]]) -> list[list[tuple[str, dict[str, Any]]]]:
    """Split operations into batches of at most 100 operations and MAX_BATCH_BYTES each, in order."""
    out: list[list[tuple[str, dict[str, Any]]]] = [[]]
    size = 0
    for op in operations:
        op_size = entity_bytes(op[1])
        if out[-1] and (len(out[-1]) >= MAX_BATCH_OPERATIONS or size + op_size > MAX_BATCH_BYTES):
            out.append([])
            size = 0
        out[-1].append(op)
        size += op_size
    return [b for b in out if b]


def bounded_json(value: Any, limit: int) -> str:
    """JSON of `value`, replaced by a preview object when it does not fit in `limit` units."""
    text = json.dumps(value, default=str, sort_keys=True)
    if utf16_units(text) <= limit:
        return text
    preview = cut(text, (limit - 200) // 2)  # json.dumps may escape every quote again
    return json.dumps({"truncated": True, "preview": preview})
