"""The incident record's copy on this machine: a restore that runs in Azure can always be followed.

Once Azure has accepted a restore, every save writes the record here FIRST (`<spool dir>/incidents/
<id>.json`, the journal entity as it is, folder 0700, file 0600), then to the journal. A journal that
fails after that point is said once and never stops the restore being followed: `restore status ID`
(or `--server NAME`) reads the newer of the two and writes it back to the journal when the journal
answers again. The first write of a record (before Azure is asked) stays strict: when the journal
cannot hold it, nothing is requested.

No secret is kept: the entity is the journal's (redacted data, the continuation token of the ARM
operation, which azure-core serialises without the request's Authorization header).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from checks.engine.i18n import msg
from checks.engine.model import JournalUnavailable
from checks.engine.timeutil import parse_iso
from checks.restore.record import DONE, FAILED, PARTITION, READY, Incident, is_incident_id

FOLDER = "incidents"
TERMINAL = (READY, FAILED, DONE)


def folder_of(settings: Any) -> Path:
    return Path(settings.spool_dir) / FOLDER


def _path(folder: Path, incident_id: str) -> Path:
    if not is_incident_id(incident_id):  # ids become file names: never a path of the caller's choosing
        raise ValueError(msg("not an incident id: {value}", value=repr(incident_id)))
    return folder / f"{incident_id}.json"


def keep(folder: Path, entity: dict[str, Any]) -> Path:
    """Write the record atomically (a temporary file, then rename); OSError when the folder is not writable."""
    path = _path(folder, str(entity.get("RowKey", "")))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({k: v for k, v in entity.items() if isinstance(v, (str, int, float, bool)) or v is None}, handle)
    os.replace(temporary, path)
    return path


def _read_file(path: Path) -> Incident | None:
    try:
        entity = json.loads(path.read_text(encoding="utf-8"))
        return Incident.from_entity(entity) if isinstance(entity, dict) else None
    except (OSError, ValueError, TypeError):  # unreadable or damaged: as if absent (the journal may hold it)
        return None


def read(folder: Path, incident_id: str) -> Incident | None:
    try:
        path = _path(folder, incident_id)
    except ValueError:
        return None
    return _read_file(path) if path.is_file() else None


def all_kept(folder: Path) -> list[Incident]:
    """Every readable local record, newest first."""
    if not folder.is_dir():
        return []
    found = [i for p in folder.glob("*.json") if is_incident_id(p.stem) and (i := _read_file(p)) is not None]
    return sorted(found, key=lambda i: i.incident_id, reverse=True)


def by_server(folder: Path, server: str) -> Incident | None:
    """The newest local record of a restore to `server` (names compared case-insensitively)."""
    return next((i for i in all_kept(folder) if i.target_server.lower() == server.lower()), None)


def discard(folder: Path, incident_id: str) -> None:
    try:
        _path(folder, incident_id).unlink(missing_ok=True)
    except (OSError, ValueError):
        pass  # a stale copy is harmless: the journal's newer record wins


def newer(first: Incident | None, second: Incident | None) -> Incident | None:
    """The record saved last (`updated_at`); `first` on a tie."""
    if first is None or second is None:
        return first or second
    try:
        return second if parse_iso(second.updated_at) > parse_iso(first.updated_at) else first
    except (ValueError, TypeError):  # a damaged time: keep the first
        return first


class KeptJournal:
    """The journal as an incident restore writes it (see the module's docstring); reads go to the journal."""

    def __init__(self, journal: Any, folder: Path, warn: Callable[[str], None], started: tuple[str, ...] = ()):
        self.journal, self.folder, self.warn = journal, folder, warn
        self.started = set(started)  # ids whose first record is written: the local copy comes first now
        self.failure = ""  # the last journal failure ("" when every write reached the journal)
        self.kept_at: Path | None = None

    def upsert(self, entity: dict[str, Any]) -> None:
        incident_id = str(entity.get("RowKey", ""))
        if entity.get("PartitionKey") != PARTITION or incident_id not in self.started:
            self._journal().upsert(entity)  # before Azure is asked: strict, JournalUnavailable stops the restore
            self.started.add(incident_id)
            return
        self._keep(entity)
        try:
            self._journal().upsert(entity)
        except JournalUnavailable as exc:
            if not self.failure:
                self.warn(exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc))  # a Message: translated
            self.failure = str(exc)
            return
        self.failure = ""
        if entity.get("State") in TERMINAL:
            discard(self.folder, incident_id)  # journaled for good: the journal is its home

    def _keep(self, entity: dict[str, Any]) -> None:
        try:
            self.kept_at = keep(self.folder, entity)
        except (OSError, ValueError) as exc:
            reason = exc.args[0] if isinstance(exc, ValueError) and exc.args else str(exc)
            self.warn(msg("local copy not written in {folder}: {reason}", folder=str(self.folder), reason=reason))

    def _journal(self) -> Any:
        if self.journal is None:
            raise JournalUnavailable(msg("journal not configured: set JOURNAL_ACCOUNT_URL (managed identity) "
                                         "or AzureWebJobsStorage (connection string)"))
        return self.journal

    def query(self, filter_: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._journal().query(filter_, parameters)

    def partition(self, partition_key: str) -> list[dict[str, Any]]:
        return self._journal().partition(partition_key)
