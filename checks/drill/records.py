"""Reading drill state entities from the journal through the tolerant parser (checks/journal/entities.py).

A drill entity (PartitionKey `drill`) that does not have the form `Drill.to_entity` writes (a time that
is not ISO, JSON that is not JSON, a column of another type, an id that is not the verifier's) is never
a drill: it is logged as "unreadable entity <RowKey>: why", gets no page and never blocks a reader.
"""
from __future__ import annotations

import logging
from typing import Any, Iterable

from checks.drill.state import ABANDONED, Drill
from checks.engine.i18n import msg
from checks.journal.entities import RUN_ID, EntityError, check_columns, shown, unreadable

log = logging.getLogger("checks.drill.records")
TIMES = ("requested_at", "ready_at", "expires_at", "updated_at", "finished_at")  # ISO 8601 or ""


def read_drill(entity: dict[str, Any]) -> Drill:
    """`Drill.from_entity` of an entity checked column by column first: EntityError naming the column
    when it does not have the form the verifier writes."""
    check_columns(Drill, entity, TIMES)
    if not RUN_ID.fullmatch(str(entity.get("RowKey") or "")) or entity.get("DrillId") != entity.get("RowKey"):
        raise EntityError(msg("DrillId is not a drill id (the RowKey): {value}", value=shown(entity.get("DrillId"))))
    try:
        return Drill.from_entity(entity)
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise EntityError(msg("the drill does not read: {reason}", reason=shown(str(exc)))) from None


def readable_drill(entity: dict[str, Any]) -> Drill | None:
    """The drill, or None (logged with its RowKey and why) when the entity is unreadable."""
    try:
        return read_drill(entity)
    except EntityError as exc:
        log.warning("journal drill: %s", unreadable(entity, exc).note())
        return None


def read_drills(entities: Iterable[dict[str, Any]]) -> list[Drill]:
    """The drills among `entities` that read; each unreadable one is logged. The record of a start abandoned
    before its restore request (checks/drill/restore_drill.py) never was a drill: left out."""
    return [d for d in (readable_drill(e) for e in entities) if d is not None and d.state != ABANDONED]
