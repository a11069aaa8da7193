"""Every journal entity is read through here: one tolerant parser for every kind.

The journal table is written by the verifier, but anyone who can write the storage account (Storage
Explorer, a script, a bug, an attacker) can put anything in it: a time that is not ISO or out of
range, JSON that is not JSON, a number stored as text, an unknown status, a property of another EDM
type (Int64, binary, bool, a datetime where text belongs). Each reader below checks every field its
kind uses (type, form, range) and raises `EntityError` naming the field. Callers turn that into an
`Unreadable` entity, shown as "unreadable entity <RowKey>: why", which is never evidence: it ticks no
box, signs nothing off, acknowledges nothing, is no baseline, gets no page, and never stops the other
entities of the month from being read.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from checks.engine.i18n import Message, msg, msgn, restored_notes
from checks.engine.model import CheckResult, Run, Severity, Status
from checks.engine.target import Target
from checks.engine.timeutil import parse_iso

# what the verifier writes: 20261126T092114Z-3f9a1c (new_run_id); the suffix is letters or digits
RUN_ID = re.compile(r"20[0-9]{6}T[0-9]{6}Z-[0-9a-z]{6}")
CHECK_ID = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")
EARLIEST = datetime(2000, 1, 1, tzinfo=timezone.utc)  # the journal's months are 2000-2099
LATEST = datetime(2100, 1, 1, tzinfo=timezone.utc)
MAX_SHOWN = 80
MAX_NAME_CHARS = 200
TARGET_COLUMNS = tuple(Target().to_columns())  # TargetName ... TargetOverride (bool)
COUNT_COLUMNS = {"pass": "Passed", "warn": "Warned", "fail": "Failed", "error": "Errors", "skipped": "Skipped"}


class EntityError(ValueError):
    """An entity that does not have the form of its kind; `why` names the field (a Message)."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class Unreadable:
    """An entity that could not be read: its RowKey (made printable and short) and why."""
    row_key: str
    why: str
    kind: str = ""

    def note(self) -> Message:
        return msg("unreadable entity {row_key}: {why}", row_key=self.row_key, why=self.why)


def shown(value: Any, limit: int = MAX_SHOWN) -> str:
    """A stored value as safe, short, printable text (control characters escaped, long values cut)."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text[: limit * 2])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def unreadable(row: Mapping[str, Any], error: EntityError) -> Unreadable:
    key = row.get("RowKey")
    return Unreadable(shown(key) if key not in (None, "") else msg("(no RowKey)"), error.why,
                      shown(row.get("Kind", "")))


# --- fields ----------------------------------------------------------------------------------

def _get(row: Mapping[str, Any], name: str) -> Any:
    value = row.get(name)
    if hasattr(value, "edm_type") and hasattr(value, "value"):  # the SDK's EntityProperty (Int64, ...)
        value = value.value
    return value


def _kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return msg("a boolean")
    if isinstance(value, (int, float)):
        return msg("a number")
    if isinstance(value, (bytes, bytearray)):
        return msg("binary data")
    if isinstance(value, datetime):
        return msg("a time")
    return msg("text") if isinstance(value, str) else type(value).__name__


def _wrong(name: str, value: Any, expected: str) -> EntityError:
    return EntityError(msg("{field} is {found}, expected {expected}", field=name, found=_kind_of(value),
                           expected=expected))


def text(row: Mapping[str, Any], name: str, default: str = "", required: bool = False) -> str:
    value = _get(row, name)
    if value is None:
        if required:
            raise EntityError(msg("{field} is missing", field=name))
        return default
    if not isinstance(value, str):
        raise _wrong(name, value, msg("text"))
    if required and not value:
        raise EntityError(msg("{field} is empty", field=name))
    return value


def name_text(row: Mapping[str, Any], name: str, required: bool = False) -> str:
    """A short printable text (a name, a trigger, a status word)."""
    value = text(row, name, required=required)
    if len(value) > MAX_NAME_CHARS or not value.isprintable():
        raise EntityError(msg("{field} is not a short printable text: {value}", field=name, value=shown(value)))
    return value


def run_id(row: Mapping[str, Any], name: str = "RunId") -> str:
    value = text(row, name, required=True)
    if not RUN_ID.fullmatch(value):
        raise EntityError(msg("{field} is not a run id (expected e.g. {example}): {value}", field=name,
                              example="20261126T092114Z-3f9a1c", value=shown(value)))
    return value


def check_id(row: Mapping[str, Any], name: str = "CheckId") -> str:
    value = text(row, name, required=True)
    if len(value) > MAX_NAME_CHARS or not CHECK_ID.fullmatch(value):
        raise EntityError(msg("{field} is not a check id (expected e.g. {example}): {value}", field=name,
                              example="postgres.retention", value=shown(value)))
    return value


def integer(row: Mapping[str, Any], name: str, default: int = 0) -> int:
    value = _get(row, name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise _wrong(name, value, msg("a whole number"))
    if not 0 <= value < 2 ** 53:
        raise EntityError(msg("{field} is out of range: {value}", field=name, value=value))
    return value


def flag(row: Mapping[str, Any], name: str) -> bool:
    value = _get(row, name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _wrong(name, value, msg("a boolean"))
    return value


def moment(row: Mapping[str, Any], name: str, required: bool = True) -> datetime | None:
    """A time (an Edm.DateTime or ISO 8601 text) in UTC, within 2000-2099."""
    value = _get(row, name)
    if value is None or value == "":
        if required:
            raise EntityError(msg("{field} is missing", field=name))
        return None
    if isinstance(value, datetime):
        at = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, str):
        try:
            at = parse_iso(value)
        except ValueError:
            raise EntityError(msg("{field} is not an ISO 8601 time: {value}", field=name, value=shown(value))) from None
    else:
        raise _wrong(name, value, msg("a time"))
    try:
        at = at.astimezone(timezone.utc)
    except (OverflowError, ValueError):
        at = None
    if at is None or not EARLIEST <= at < LATEST:
        raise EntityError(msg("{field} is out of range (years 2000-2099): {value}", field=name, value=shown(value)))
    return datetime(*at.timetuple()[:6], at.microsecond, tzinfo=timezone.utc)  # plain datetime, not the SDK's


def json_of(row: Mapping[str, Any], name: str, kind: type, default: Any) -> Any:
    """A JSON text holding a `kind` (dict or list); `default` when missing."""
    raw = text(row, name)
    if not raw:
        return default
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise EntityError(msg("{field} is not JSON: {value}", field=name, value=shown(raw))) from None
    if not isinstance(value, kind):
        expected = msg("an object") if kind is dict else msg("a list")
        raise EntityError(msg("{field} is JSON but not {expected}", field=name, expected=expected))
    return value


def enum_value(row: Mapping[str, Any], name: str, enum: type, default: Any = None) -> Any:
    value = _get(row, name)
    if value is None and default is not None:
        return default
    if not isinstance(value, str) or value not in enum._value2member_map_:
        raise EntityError(msg("{field} is not one of {allowed}: {value}", field=name,
                              allowed=", ".join(enum._value2member_map_), value=shown(value)))
    return enum(value)


def target(row: Mapping[str, Any]) -> Target | None:
    """The target columns (None when the entity has none: written before targets were journaled)."""
    target_columns(row)
    return Target.from_columns(row)


def target_columns(row: Mapping[str, Any]) -> None:
    """Each target column is short printable text (TargetOverride a boolean) or missing."""
    for column in TARGET_COLUMNS:
        if column == "TargetOverride":
            flag(row, column)
        else:
            name_text(row, column)


def check_columns(cls: type, entity: Mapping[str, Any], times: Iterable[str] = ()) -> None:
    """The columns of a dataclass-shaped entity (a drill, an incident: field `ready_at` in column
    `ReadyAt`) have their field's type (text, boolean, whole number, JSON object or list), and the
    fields named in `times` hold an ISO 8601 time or nothing."""
    import typing

    hints = typing.get_type_hints(cls)
    for key in cls.__dataclass_fields__:
        column = "".join(part.capitalize() for part in key.split("_"))
        if column not in entity:
            continue
        kind = typing.get_origin(hints[key]) or hints[key]
        if kind is str:
            text(entity, column)
        elif kind is bool:
            flag(entity, column)
        elif kind is int:
            integer(entity, column)
        elif kind in (dict, list):
            json_of(entity, column, kind, kind())
        if key in times:
            moment(entity, column, required=False)


# --- kinds -----------------------------------------------------------------------------------

@dataclass
class RunRow:
    """A run summary entity (Kind=run), read."""
    row_key: str
    run_id: str
    trigger: str
    status: Status
    started_at: datetime
    finished_at: datetime
    duration_ms: int | None
    dry_run: bool
    check_count: int
    counts: dict[str, int]
    notes: list[str]
    target: Target | None
    origin: str
    entity: Mapping[str, Any] = field(repr=False, default_factory=dict)
    requested_by: dict[str, str] | None = None  # the HTTP caller (RequestedByObjectId/Name); None before or without


def read_run(row: Mapping[str, Any]) -> RunRow:
    started = moment(row, "StartedAt")
    notes = json_of(row, "Notes", list, [])
    if not all(isinstance(n, str) for n in notes):
        raise EntityError(msg("{field} is JSON but not a list of texts", field="Notes"))
    notes = restored_notes(notes, row.get("NoteFacts"))
    duration = None if _get(row, "DurationMs") is None else integer(row, "DurationMs")
    return RunRow(row_key=str(row.get("RowKey", "")), run_id=run_id(row), trigger=name_text(row, "Trigger"),
                  status=enum_value(row, "Status", Status), started_at=started,
                  finished_at=moment(row, "FinishedAt", required=False) or started, duration_ms=duration,
                  dry_run=flag(row, "DryRun"), check_count=integer(row, "CheckCount"),
                  counts={status: integer(row, column) for status, column in COUNT_COLUMNS.items()},
                  notes=notes, target=target(row), origin=name_text(row, "FleetMessage"), entity=row,
                  requested_by=requested_by(row, "RequestedBy"))


def requested_by(row: Mapping[str, Any], prefix: str) -> dict[str, str] | None:
    """{"object_id", "name"} of the caller columns {prefix}ObjectId/{prefix}Name; None when not recorded. A
    queued run's caller may have a name and no object id (`timer`, `function key`, `unknown`: claims.py)."""
    object_id, name = name_text(row, prefix + "ObjectId"), name_text(row, prefix + "Name")
    return {"object_id": object_id, "name": name} if object_id or name else None


def read_check(row: Mapping[str, Any]) -> tuple[str, CheckResult]:
    """(run id, result) of a check entity (Kind=check)."""
    result = CheckResult(
        check_id=check_id(row), title=text(row, "Title"), status=enum_value(row, "Status", Status),
        severity=enum_value(row, "Severity", Severity, Severity.MEDIUM), summary=text(row, "Summary"),
        details=json_of(row, "Details", dict, {}), remediation=text(row, "Remediation"),
        started_at=moment(row, "StartedAt"), duration_ms=integer(row, "DurationMs"),
        messages=_messages(row.get("Messages")))
    target_columns(row)
    return run_id(row), result


def _messages(stored: Any) -> dict[str, Any]:
    """The language-neutral messages of a check entity; {} when missing, cut by the size bounds or
    damaged (the texts then render as stored)."""
    try:
        value = json.loads(stored or "{}") if isinstance(stored, str) else {}
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) and all(isinstance(v, dict) for v in value.values()) else {}


def read_ack(row: Mapping[str, Any]) -> dict[str, Any]:
    """An acknowledgement entity (Kind=ack) as plain data (JSON-ready)."""
    counts = json_of(row, "Counts", dict, {})
    if not counts or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
                             for k, v in counts.items()):
        raise EntityError(msg("{field} is not an object of table counts", field="Counts"))
    return {"run_id": run_id(row), "check_id": check_id(row), "by": name_text(row, "AckBy", required=True),
            "reason": text(row, "AckReason"), "at": moment(row, "AckAt").isoformat(), "counts": counts,
            "target": name_text(row, "CountsTarget") or None}


def read_signoff(row: Mapping[str, Any]) -> dict[str, Any]:
    """A sign-off entity (Kind=signoff): by, at (datetime), comment, via, digest, run_count,
    boxes_ticked, target_name, forced."""
    return {"by": name_text(row, "SignedBy", required=True), "at": moment(row, "SignedAt"),
            "comment": text(row, "Comment"), "via": name_text(row, "Via"), "digest": name_text(row, "ReportDigest"),
            "run_count": integer(row, "RunCount"), "boxes_ticked": integer(row, "BoxesTicked"),
            "target_name": name_text(row, "TargetName"), "forced": flag(row, "Forced"),
            "by_object_id": name_text(row, "SignedByObjectId"), "proof": name_text(row, "SignedByProof")}


READERS = {"run": read_run, "check": read_check, "ack": read_ack, "signoff": read_signoff}
UNREADABLE_CHECK = "journal.unreadable"  # the result standing for an unreadable entity of a run


@dataclass
class Partition:
    """A month partition's entities, each read: run summaries by run id, each run's results by check
    id, acknowledgements, sign-offs, and what could not be read. `damaged`: runs whose summary is
    unreadable (each stands as an error run, every result of it an error: never evidence)."""
    runs: dict[str, RunRow] = field(default_factory=dict)
    results: dict[str, dict[str, CheckResult]] = field(default_factory=dict)
    acks: list[dict[str, Any]] = field(default_factory=list)
    signoffs: list[dict[str, Any]] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    orphans: set[str] = field(default_factory=set)
    damaged: dict[str, str] = field(default_factory=dict)  # run id: RowKey of its summary

    def notes(self, limit: int = 20) -> list[str]:
        out = [u.note() for u in self.unreadable[:limit]]
        if len(self.unreadable) > limit:
            out.append(msgn("{count} more unreadable entity not listed", "{count} more unreadable entities not listed",
                            "count", count=len(self.unreadable) - limit))
        return out


def read_partition(rows: Iterable[Mapping[str, Any]]) -> Partition:
    """Every entity of the kinds above read (others ignored). An unreadable check entity of a run
    stands in that run as an error result of its check; a second summary of a run or a second result
    of a check in one run is unreadable too (the worst result stands)."""
    part, checks = Partition(), []
    for row in rows:
        kind = row.get("Kind")
        reader = READERS.get(kind) if isinstance(kind, str) else None
        if reader is None:
            continue
        try:
            value = reader(row)
        except EntityError as exc:
            part.unreadable.append(unreadable(row, exc))
            if kind == "check" and _raw_run_id(row):
                checks.append((row, None, exc))
            elif kind == "run" and _raw_run_id(row):
                part.damaged[_raw_run_id(row)] = str(row.get("RowKey") or "")
            continue
        if kind == "run":
            if value.run_id in part.runs:
                part.unreadable.append(unreadable(row, EntityError(msg("a second summary of run {run_id}",
                                                                       run_id=value.run_id))))
            else:
                part.runs[value.run_id] = value
        elif kind == "check":
            checks.append((row, value, None))
        else:
            (part.acks if kind == "ack" else part.signoffs).append(value)
    for rid, row_key in part.damaged.items():
        part.runs[rid] = damaged_run(rid, row_key)
    for row, value, error in checks:
        _add_result(part, row, value, error)
    for rid in part.damaged:
        part.results.setdefault(rid, {}).setdefault(UNREADABLE_CHECK, _placeholder(
            {"RowKey": part.runs[rid].row_key}, EntityError(msg("the summary of run {run_id} is unreadable",
                                                                run_id=rid)), part.runs[rid].started_at))
    return part


def _raw_run_id(row: Mapping[str, Any]) -> str | None:
    raw = row.get("RunId")
    return raw if isinstance(raw, str) and RUN_ID.fullmatch(raw) else None


def _run_time(rid: str) -> datetime:
    try:
        return datetime.strptime(rid[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return EARLIEST


def damaged_run(rid: str, row_key: str = "") -> RunRow:
    """The stand-in of a run whose summary is unreadable: an error run at the time its id carries."""
    at = _run_time(rid)
    return RunRow(row_key=row_key, run_id=rid, trigger="", status=Status.ERROR, started_at=at, finished_at=at,
                  duration_ms=None, dry_run=False, check_count=0, counts=dict.fromkeys(COUNT_COLUMNS, 0) | {"error": 1},
                  notes=[msg("the summary of run {run_id} is unreadable", run_id=rid)], target=None, origin="")


def _placeholder(row: Mapping[str, Any], error: EntityError, started: datetime) -> CheckResult:
    """An error result standing for an unreadable entity (of its check when its CheckId is readable)."""
    raw = row.get("CheckId")
    cid = raw if isinstance(raw, str) and len(raw) <= MAX_NAME_CHARS and CHECK_ID.fullmatch(raw) else UNREADABLE_CHECK
    return CheckResult(cid, msg("unreadable journal entity"), Status.ERROR, Severity.HIGH, unreadable(row, error).note(),
                       {"row_key": shown(row.get("RowKey"))},
                       msg("Find the entity by its RowKey in the journal table (Azure Storage Explorer): the verifier "
                           "did not write it in this form. Restore or remove it; the run's full results are in the "
                           "logs."), started, 0)


def _add_result(part: Partition, row: Mapping[str, Any], value: tuple[str, CheckResult] | None,
                error: EntityError | None) -> None:
    rid = value[0] if value else _raw_run_id(row)
    if rid not in part.runs:
        part.orphans.add(rid)
        return
    if value is None or rid in part.damaged:
        result = _placeholder(row, error or EntityError(msg("the summary of run {run_id} is unreadable", run_id=rid)),
                              part.runs[rid].started_at)
    else:
        result = value[1]
    own = part.results.setdefault(rid, {})
    before = own.get(result.check_id)
    if before is not None and value is not None and rid not in part.damaged:
        part.unreadable.append(unreadable(row, EntityError(msg("a second result of {check_id} in run {run_id}",
                                                               check_id=result.check_id, run_id=rid))))
    if before is None or result.status.rank > before.status.rank:
        own[result.check_id] = result


def run_of(head: RunRow, results: Mapping[str, CheckResult]) -> Run:
    """The `Run` of a read summary and its read results."""
    run = Run(run_id=head.run_id, trigger=head.trigger, started_at=head.started_at, finished_at=head.finished_at,
              dry_run=head.dry_run, notes=list(head.notes), journal_status="written", target=head.target,
              origin=head.origin, requested_by=head.requested_by)
    run.results = sorted(results.values(), key=lambda r: r.check_id)
    return run
