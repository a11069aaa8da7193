"""Reading incident records from the journal through the tolerant parser (checks/journal/entities.py).

An incident entity whose `Data` is not a JSON object, or whose fields do not have the types
`Incident.to_entity` writes, is never an incident: reading it by id is a journal read failure naming the
RowKey and why (`restore status` then follows this machine's copy or the server itself), and a
listing leaves it out (logged).
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterable

from checks.engine.i18n import msg
from checks.engine.model import JournalUnavailable
from checks.journal.entities import EntityError, check_columns, json_of, shown, unreadable
from checks.restore.record import Incident

log = logging.getLogger("checks.restore.incidents")


def _column(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def read_incident(entity: dict[str, Any]) -> Incident:
    """The incident, or EntityError naming what does not read."""
    data = json_of(entity, "Data", dict, {})
    columns = {_column(k): json.dumps(v) if isinstance(v, (dict, list)) else v
               for k, v in data.items() if k in Incident.__dataclass_fields__}
    try:
        check_columns(Incident, columns, ("requested_at", "ready_at", "updated_at"))
        return Incident.from_entity(entity)
    except EntityError:
        raise
    except (KeyError, ValueError, TypeError, RecursionError) as exc:
        raise EntityError(msg("the incident does not read: {reason}", reason=shown(str(exc)))) from None


def load_readable(entity: dict[str, Any]) -> Incident:
    """The incident; JournalUnavailable saying which entity does not read and why (callers fall back)."""
    try:
        return read_incident(entity)
    except EntityError as exc:
        raise JournalUnavailable(msg("journal read failed: {reason}", reason=unreadable(entity, exc).note())) from None


def read_incidents(entities: Iterable[dict[str, Any]]) -> list[Incident]:
    """The incidents that read; each unreadable one is logged."""
    out = []
    for entity in entities:
        try:
            out.append(read_incident(entity))
        except EntityError as exc:
            log.warning("journal incident: %s", unreadable(entity, exc).note())
    return out
