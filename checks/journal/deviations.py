"""Deviations tracked to closure (issue 30 item 1): the model, the pure rules and the reader.

A deviation is a finding someone must act on: every fail or error result of a check for a target
(and a warn that persists across two consecutive months) opens one; it is closed by the first full
passing run of that check for that target (its evidence) or by hand with a note once the check no
longer fails. A deviation closed and failing again opens a NEW one: history is never edited.

Layout: partition `deviation` of the journal table, insert-only events (the table role has no delete,
and nothing is ever replaced):
  dev-<key>-<NNNN>              Kind=deviation        opened: target, check, severity, first run and
                                                      time, owner, due date (key: target and check,
                                                      NNNN: the how-many-th deviation of that pair)
  dev-<key>-<NNNN>-close        Kind=deviation-close  closed: when, by whom, note, evidence run
  dev-<key>-<NNNN>-owner-<time> Kind=deviation-owner  owner assigned (the newest wins)
The open event's RowKey is deterministic: two runs opening the same deviation at once both try to
create the same key and one gets 409, so one target and check never has two open at a time; the
close event's key is one per deviation, so it is closed once.

Tamper evidence: the partition carries its own hash chain, the same scheme as a month's
(checks/journal/chain.py): each event is an anchor appended in one entity-group transaction with
the replace of the partition's chain head on its ETag. Not the month's chain: a transaction holds
one partition, and the event must commit with its link (insert-with-key and chain together).
Every read verifies the chain (checks/journal/integrity.py); an edited, deleted or inserted event
is named, and an event no link covers is never believed.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

from checks.engine.i18n import msg
from checks.engine.model import JournalUnavailable, Status
from checks.journal import entities as fields
from checks.journal.entities import EntityError, Unreadable, unreadable

PARTITION = "deviation"
OPEN_KIND, CLOSE_KIND, OWNER_KIND = "deviation", "deviation-close", "deviation-owner"
KINDS = (OPEN_KIND, CLOSE_KIND, OWNER_KIND)
ID_FORM = re.compile(r"dev-[0-9a-f]{16}-[0-9]{4}")
ID_EXAMPLE = "dev-3f9a1c2b7d4e5a60-0001"
MAX_SEQ = 9999
MAX_NOTE_CHARS = 1000
MAX_OWNER_CHARS = 100
MAX_SUMMARY_CHARS = 500
DRILL_TRIGGER, DRILL_CHECK = "drill", "drill.restore"
OPENING = (Status.FAIL, Status.ERROR)  # a warn opens one only when it persists (warn_persists)


@dataclass(frozen=True)
class Deviation:
    """One deviation as read back (open, or closed with its note and evidence)."""
    id: str
    target: str
    check_id: str
    severity: str
    first_run_id: str
    first_seen: datetime
    first_status: str
    summary: str
    due: datetime
    owner: str = ""               # "" = unassigned
    owner_object_id: str = ""
    opened_via: str = ""          # the trigger of the run that opened it
    closed_at: datetime | None = None
    closed_by: str = ""
    closed_by_object_id: str = ""
    closing_note: str = ""
    evidence_run_id: str = ""     # the first passing run (auto) or the passing run a hand close named
    closed_via: str = ""          # run | cli | http

    @property
    def status(self) -> str:
        return "open" if self.closed_at is None else "closed"

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def overdue(self, at: datetime) -> bool:
        return self.due < at if self.is_open else self.closed_at > self.due

    def age_days(self, at: datetime) -> int:
        return max(0, ((self.closed_at or at) - self.first_seen).days)

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        now = now or datetime.now(timezone.utc)
        out = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(self).items()}
        return out | {"status": self.status, "overdue": self.overdue(now), "age_days": self.age_days(now)}


@dataclass
class DeviationState:
    """Everything the `deviation` partition holds, read: deviations by id, what could not be read, and
    the partition's chain findings (checks/journal/integrity.py)."""
    deviations: dict[str, Deviation] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)
    findings: list[Any] = field(default_factory=list)

    def notes(self) -> list[str]:
        out = [u.note() for u in self.unreadable[:20]]
        out += [msg("deviation journal BROKEN: {kind} {row_key} {detail}", kind=f.kind, row_key=f.row_key,
                    detail=f.detail) for f in self.findings[:20]]
        return out


# --- keys and ids ----------------------------------------------------------------------------

def pair_key(target: str, check_id: str) -> str:
    """16 hex digits naming a target and a check (the RowKey prefix of their deviations)."""
    return hashlib.sha256(f"{target}\n{check_id}".encode("utf-8", "surrogatepass")).hexdigest()[:16]


def deviation_id(target: str, check_id: str, seq: int) -> str:
    return f"dev-{pair_key(target, check_id)}-{seq:04d}"


def seq_of(dev_id: str) -> int:
    return int(dev_id.rsplit("-", 1)[1])


def check_id_form(value: Any) -> str:
    """A deviation id as typed (CLI, HTTP): our form only, else ValueError naming the form."""
    if not isinstance(value, str) or not ID_FORM.fullmatch(value):
        shown = fields.shown(value, 40) if isinstance(value, str) else type(value).__name__
        raise ValueError(msg("deviation id must look like {example}, got {value}", example=ID_EXAMPLE,
                             value=repr(shown)))
    return value


def clean_text(value: Any, what: str, limit: int, required: bool = True) -> str:
    """A note or an owner as typed: printable, at most `limit` characters, whitespace runs folded (ValueError)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(msg("{field} is required (1-{limit} characters)", field=what, limit=limit))
        return ""
    if not isinstance(value, str):
        raise ValueError(msg("{field} must be text", field=what))
    if len(value) > 4 * limit or not value.isprintable():  # no control or separator character (NUL, ESC, U+2028)
        raise ValueError(msg("{field} must be 1-{limit} printable characters", field=what, limit=limit))
    text = " ".join(value.split())
    if len(text) > limit:
        raise ValueError(msg("{field} must be 1-{limit} printable characters", field=what, limit=limit))
    return text


def due_date(first_seen: datetime, severity: str, due_days: Mapping[str, int]) -> datetime:
    """First seen + the severity's days, kept within the journal's years (a time after 2099 reads as unreadable)."""
    due = first_seen + timedelta(days=int(due_days.get(severity, due_days.get("medium", 60))))
    return min(due, fields.LATEST - timedelta(seconds=1))


# --- reading ---------------------------------------------------------------------------------

def _opened(row: Mapping[str, Any]) -> Deviation:
    dev_id = fields.text(row, "DeviationId", required=True)
    if not ID_FORM.fullmatch(dev_id) or row.get("RowKey") != dev_id:
        raise EntityError(msg("{field} is not a deviation id (expected e.g. {example}): {value}", field="DeviationId",
                              example=ID_EXAMPLE, value=fields.shown(dev_id)))
    target, check_id = fields.name_text(row, "TargetName"), fields.check_id(row)
    if dev_id != deviation_id(target, check_id, seq_of(dev_id)):
        raise EntityError(msg("{field} does not belong to its target and check: {value}", field="DeviationId",
                              value=fields.shown(dev_id)))
    severity = fields.name_text(row, "Severity", required=True)
    status = fields.name_text(row, "FirstStatus", required=True)
    if severity not in ("low", "medium", "high", "critical") or status not in ("warn", "fail", "error"):
        raise EntityError(msg("{field} is not one of {allowed}: {value}", field="Severity/FirstStatus",
                              allowed="low, medium, high, critical / warn, fail, error",
                              value=fields.shown(f"{severity}/{status}")))
    return Deviation(id=dev_id, target=target, check_id=check_id, severity=severity,
                     first_run_id=fields.run_id(row, "FirstRunId"), first_seen=fields.moment(row, "FirstSeenAt"),
                     first_status=status, summary=fields.shown(fields.text(row, "Summary"), MAX_SUMMARY_CHARS),
                     due=fields.moment(row, "DueAt"), owner=fields.name_text(row, "OwnerName"),
                     owner_object_id=fields.name_text(row, "OwnerObjectId"),
                     opened_via=fields.name_text(row, "Via"))


def _event_target(row: Mapping[str, Any], opened: Mapping[str, Deviation]) -> Deviation:
    dev_id = fields.text(row, "DeviationId", required=True)
    if dev_id not in opened or not str(row.get("RowKey", "")).startswith(dev_id + "-"):
        raise EntityError(msg("{field} names no readable deviation: {value}", field="DeviationId",
                              value=fields.shown(dev_id)))
    return opened[dev_id]


def _closed(row: Mapping[str, Any], dev: Deviation) -> Deviation:
    if row.get("RowKey") != f"{dev.id}-close":
        raise EntityError(msg("{field} is not the close event of {id}", field="RowKey", id=dev.id))
    evidence = fields.run_id(row, "EvidenceRunId") if row.get("EvidenceRunId") else ""
    closed = fields.moment(row, "ClosedAt")
    if closed < dev.first_seen:
        raise EntityError(msg("{field} is before the deviation was opened", field="ClosedAt"))
    return _replace(dev, closed_at=closed, closed_by=fields.name_text(row, "ClosedBy"),
                    closed_by_object_id=fields.name_text(row, "ClosedByObjectId"),
                    closing_note=fields.shown(fields.text(row, "ClosingNote"), MAX_NOTE_CHARS), evidence_run_id=evidence,
                    closed_via=fields.name_text(row, "Via"))


def _owned(row: Mapping[str, Any], dev: Deviation) -> tuple[datetime, Deviation]:
    at = fields.moment(row, "AssignedAt")
    owner = fields.name_text(row, "OwnerName", required=True)
    return at, _replace(dev, owner=owner, owner_object_id=fields.name_text(row, "OwnerObjectId"))


def _replace(dev: Deviation, **changes: Any) -> Deviation:
    import dataclasses
    return dataclasses.replace(dev, **changes)


def read_rows(rows: Iterable[Mapping[str, Any]], verify: bool = True) -> DeviationState:
    """The deviations of the partition's entities (pure). Each entity is read through the tolerant
    parser: an unreadable one is named, never a crash; with `verify`, the chain is checked and an
    event no link covers (or whose link was edited) is left out and named."""
    rows = chained_rows(rows)
    state = DeviationState()
    doubtful: set[str] = set()
    if verify:
        from checks.journal.integrity import verify_rows
        state.findings = verify_rows(PARTITION, rows).findings
        state.findings += [_not_chained(r) for r in rows if r.get("Kind") in KINDS and "ChainHash" not in r]
        doubtful = {f.row_key for f in state.findings if f.kind in ("edited", "inserted")}
    owners: dict[str, list[tuple[datetime, str, Deviation]]] = {}
    for kind in KINDS:
        for row in (r for r in rows if r.get("Kind") == kind and str(r.get("RowKey")) not in doubtful):
            try:
                if kind == OPEN_KIND:
                    dev = _opened(row)
                    state.deviations[dev.id] = dev
                elif kind == CLOSE_KIND:
                    dev = _closed(row, _event_target(row, state.deviations))
                    state.deviations[dev.id] = dev
                else:
                    at, dev = _owned(row, _event_target(row, state.deviations))
                    owners.setdefault(dev.id, []).append((at, str(row.get("RowKey")), dev))
            except EntityError as exc:
                state.unreadable.append(unreadable(row, exc))
    for dev_id, assigned in owners.items():
        newest = max(assigned, key=lambda a: (a[0], a[1]))[2]
        state.deviations[dev_id] = _replace(state.deviations[dev_id], owner=newest.owner,
                                            owner_object_id=newest.owner_object_id)
    return state


def _not_chained(row: Mapping[str, Any]) -> Any:
    from checks.journal.integrity import Finding
    return Finding("inserted", fields.shown(row.get("RowKey")), msg("no link of the chain covers it"))


def chained_rows(rows: Iterable[Mapping[str, Any]]) -> list[Any]:
    """The partition's events and its chain head (what is verified and sealed)."""
    return [r for r in rows if r.get("Kind") in KINDS or r.get("RowKey") == "chain-head"]


def verify_partition(journal: Any, container: Any = None, now: datetime | None = None) -> Any:
    """The `deviation` partition's chain checked (`journal verify`): integrity.PartitionCheck, an event no
    link covers counted as inserted; with the seal `container`, compared with its seals too
    (seals/deviation/, checks/journal/seal.py): events deleted or edited after a seal, a rewritten head."""
    from checks.journal.integrity import verify_rows
    rows = chained_rows(journal.partition_stamped(PARTITION))
    result = verify_rows(PARTITION, rows)
    for row in rows:
        if row.get("Kind") in KINDS and "ChainHash" not in row:
            result.add("inserted", fields.shown(row.get("RowKey")), msg("no link of the chain covers it"))
    if container is not None:
        from checks.journal.seal import compare, read_seals
        compare(result, rows, read_seals(container, PARTITION), now or datetime.now(timezone.utc))
    return result


def read_state(journal: Any) -> DeviationState:
    """The whole `deviation` partition, read and verified (one partition query)."""
    return read_rows(journal.partition(PARTITION))


def read_deviations(journal: Any, *, open_only: bool = False, target: str | None = None) -> list[Deviation]:
    """Deviations (newest first), optionally only the open ones or one target's. The small read API for
    other views (the controls mapping); raises JournalUnavailable when the journal cannot be read."""
    found = read_state(journal).deviations.values()
    out = [d for d in found if (not open_only or d.is_open) and (target is None or d.target == target)]
    return sorted(out, key=lambda d: (d.first_seen, d.id), reverse=True)


# --- pure rules ------------------------------------------------------------------------------

def counts_for_production(trigger: str, target: Any, production: Any, check_id: str = "") -> bool:
    """A result that may open or close production's deviations: of a drill run, only the drill's own result
    (its database checks read the restored copy); not an override of the target; and when both are known,
    production's database (TargetDatabaseHost)."""
    if (trigger == DRILL_TRIGGER and check_id != DRILL_CHECK) or target is None or target.override:
        return False
    if production is None:
        return True
    wanted, recorded = production.known_database(), target.database()
    return target.same_resources(production) and (wanted is None or recorded is None or recorded == wanted)


def warn_persists(earlier: list[tuple[datetime, Status]], month_start: datetime) -> bool:
    """A warn now persists across two months: the newest result of the month before `month_start` was a
    warn and every result since (this month, before the current one) was a warn (skipped ones ignored)."""
    decided = sorted((at, s) for at, s in earlier if s is not Status.SKIPPED)
    before = [s for at, s in decided if at < month_start]
    since = [s for at, s in decided if at >= month_start]
    return bool(before) and before[-1] is Status.WARN and all(s is Status.WARN for s in since)


def open_for(state: DeviationState, target: str, check_id: str) -> Deviation | None:
    key = pair_key(target, check_id)
    found = [d for d in state.deviations.values() if d.id.startswith(f"dev-{key}-") and d.is_open]
    return max(found, key=lambda d: d.id) if found else None


def next_seq(state: DeviationState, rows_keys: Iterable[str], target: str, check_id: str) -> int:
    """The next deviation number of a target and check: after every key the partition holds (readable or
    not, so a crafted entity never makes two deviations share a key)."""
    prefix = f"dev-{pair_key(target, check_id)}-"
    seqs = [int(k[len(prefix):len(prefix) + 4]) for k in rows_keys
            if k.startswith(prefix) and k[len(prefix):len(prefix) + 4].isdigit()]
    return max(seqs, default=0) + 1


def journal_failure(exc: Exception) -> str:
    """A failed deviation update as the run's note (never a reason for the run to fail)."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return msg("deviations not updated: {reason}; the next run updates them", reason=reason[:300])


__all__ = ["Deviation", "DeviationState", "read_deviations", "read_state", "read_rows", "JournalUnavailable"]
