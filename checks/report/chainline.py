"""The month report's journal line: "journal intact since <month>" or what broke (checks/journal/integrity.py).

Computed from the entities the report already read (no extra request): the whole month partition,
even when the report is one target's view of it (fleet.TargetJournal keeps the whole rows), since
the chain runs through every target's runs. The seals are compared by `python -m checks journal verify`.
"""
from __future__ import annotations

from typing import Any

from checks.engine.i18n import Message, msg, msgn
from checks.journal.integrity import verify_rows

MAX_NAMED = 3


def chain_state(journal: Any, month: str, rows: list[dict[str, Any]]) -> tuple[Message | None, dict[str, Any]]:
    """(the line for the report, or None for an empty month; the state as plain data for JSON)."""
    whole = getattr(journal, "whole_rows", {}).get(month, rows)
    result = verify_rows(month, whole)
    state = {"intact": result.intact, "links": result.links, "unchained": len(result.unchained),
             "chained_since": result.since.isoformat() if result.since else None,
             "findings": [f.to_dict() for f in result.findings]}
    if not result.entities:
        return None, state
    if not result.intact:
        named = ", ".join(f"{f.kind} {f.row_key}" for f in result.findings[:MAX_NAMED])
        return msgn("Journal BROKEN in {month}: {count} finding ({named}); see python -m checks journal verify "
                    "--month {month}",
                    "Journal BROKEN in {month}: {count} findings ({named}); see python -m checks journal verify "
                    "--month {month}", "count", month=month, count=len(result.findings), named=named), state
    if result.unchained and result.since is not None:
        return msgn("Journal intact since {since}; {count} earlier entity was written before the hash chain",
                    "Journal intact since {since}; {count} earlier entities were written before the hash chain",
                    "count", since=result.since.strftime("%Y-%m-%dT%H:%M:%SZ"), count=len(result.unchained)), state
    if result.unchained:
        return msg("Journal of {month} written before the hash chain (not verifiable)", month=month), state
    return msg("Journal intact since {month} (hash chain verified; seals: python -m checks journal verify)",
               month=month), state
