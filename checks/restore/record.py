"""The incident record: one journal entity per incident restore (PartitionKey `incident`, RowKey its id).

Written before Azure is asked for anything (so a crash or Ctrl-C still leaves a trace) and updated
as the restore goes: who asked (`--by`), when, the point, the target, time to ready, the checks.
A few flat columns read well in Storage Explorer; the whole record is in `Data` (JSON, redacted).
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from checks.drill.state import EVENT
from checks.engine.i18n import Message
from checks.engine.textfacts import facts_of, with_facts
from checks.engine.timeutil import iso_z
from checks.engine.redact import redact_obj

PARTITION = "incident"
MAX_EVENTS = 60
MAX_DATA_CHARS = 30_000  # a Table Storage string property holds 32K UTF-16 characters
KEPT_WHEN_SHRUNK = 10  # list entries kept in each long list of an oversized record (counts stay whole)

PROVISIONING, VERIFYING, READY, FAILED, DONE = "provisioning", "verifying", "ready", "failed", "done"
WATCHABLE = (PROVISIONING, VERIFYING)  # `restore status ID` resumes these
_INCIDENT_ID = re.compile(r"20[0-9]{6}T[0-9]{6}Z-[0-9a-f]{6}")  # new_run_id's form: 20261126T140000Z-3f9a1c


def is_incident_id(value: object) -> bool:
    return isinstance(value, str) and _INCIDENT_ID.fullmatch(value) is not None


@dataclass
class Incident:
    incident_id: str
    kind: str  # postgres | blobs | blob-ranges
    state: str
    by: str
    requested_at: str  # ISO, UTC
    restore_point: str = ""
    source_server: str = ""
    resource_group: str = ""
    target_server: str = ""  # postgres: the NEW server; blobs: "<account>/<container>"
    target_host: str = ""
    create_token: str = ""  # continuation token of the restore's long-running operation
    ready_at: str = ""
    time_to_ready_minutes: float | None = None
    outcome: str = ""  # pass | warn | fail | error
    summary: str = ""
    verification: dict[str, Any] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    updated_at: str = ""

    def event(self, now: datetime, text: str) -> None:
        self.events.append(Message(EVENT, at=iso_z(now), event=text))  # the text keeps its message id
        self.events = self.events[-MAX_EVENTS:]

    def to_entity(self) -> dict[str, Any]:
        data = redact_obj(asdict(self))
        text = json.dumps(data, default=str)
        if len(text) > MAX_DATA_CHARS:
            text = json.dumps(shrunk(data), default=str)
        # the texts' message ids (a past incident renders in any language); events' only while they fit
        facts = json.dumps(facts_of({"summary": self.summary, "events": self.events}), default=str)
        if len(facts) > MAX_DATA_CHARS:
            facts = json.dumps(facts_of({"summary": self.summary}), default=str)
        return {"PartitionKey": PARTITION, "RowKey": self.incident_id, "Kind": "incident",
                "RestoreKind": self.kind, "State": self.state, "By": data["by"], "RequestedAt": self.requested_at,
                "RestorePoint": self.restore_point, "Target": self.target_server, "ReadyAt": self.ready_at,
                "Outcome": self.outcome, "Data": text, "Messages": facts}

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> "Incident":
        data = json.loads(entity.get("Data") or "{}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        try:
            facts = json.loads(entity.get("Messages") or "{}")
        except ValueError:  # a damaged column: the texts read as stored
            facts = {}
        return cls(**with_facts(known, facts))

    def public(self) -> dict[str, Any]:
        """For people (CLI/HTTP): no continuation token."""
        data = asdict(self)
        data.pop("create_token")
        return data


def shrunk(data: dict[str, Any]) -> dict[str, Any]:
    """The record with its long lists cut to their first entries (the counts beside them stay whole)."""
    out = json.loads(json.dumps(data, default=str))
    for section, key in (("verification", "results"), ("plan", "candidates")):
        items = (out.get(section) or {}).get(key)
        if isinstance(items, list) and len(items) > KEPT_WHEN_SHRUNK:
            out[section][key] = items[:KEPT_WHEN_SHRUNK]
            out[section][f"{key}_truncated_from"] = len(items)
    out["events"] = out.get("events", [])[-KEPT_WHEN_SHRUNK:]
    text = json.dumps(out)
    if len(text) > MAX_DATA_CHARS:  # still too large (huge names): keep the counts only
        for section, key in (("verification", "results"), ("plan", "candidates")):
            (out.get(section) or {}).pop(key, None)
    return out


def save(journal, incident: Incident, now: datetime) -> None:
    incident.updated_at = iso_z(now)
    journal.upsert(incident.to_entity())


def load(journal, incident_id: str) -> Incident | None:
    from checks.restore.incidents import load_readable  # unreadable: a journal read failure saying why

    rows = journal.query("PartitionKey eq @pk and RowKey eq @rk", {"pk": PARTITION, "rk": incident_id})
    return load_readable(rows[0]) if rows else None


def recent(journal, limit: int = 5) -> list[Incident]:
    """The newest incident records (ids sort by time)."""
    rows = sorted(journal.partition(PARTITION), key=lambda e: e.get("RowKey", ""), reverse=True)
    from checks.restore.incidents import read_incidents  # an unreadable record is logged, never listed

    return read_incidents(rows[:limit])
