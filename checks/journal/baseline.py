"""The data-loss baseline of `database.essential_counts` (issue 27 item 4), kept per target and database.

The baseline of a table is the newest ACCEPTED count of that table (a passing run's count, or the
count a person acknowledged with `python -m checks ack`) of the same target (its Azure resources) and
the same database (host[:port]/dbname), however old. A failed run's counts never become it. "Newest"
is when the counts were read (the run's time, for an acknowledged count too): acknowledging an older
run's counts after a later run's counts were accepted does not roll the baseline back.

Layout: one partition per target and database, `baseline-<sha256 of resources and database>`, one
small entity per table (RowKey `t-<sha256 of the table name>`, Kind=baseline: Table, Rows, At, RunId,
Source run|ack, AckBy, AckReason) and a `seed` entity once the partition holds every baseline older
journals had. Reading the baseline is ONE partition query of a few entities, whatever the journal's
age: no month is read.

Written by `Journal.write_run` (before the run's own entities, so a replayed run writes it again) and by
an acknowledgement: each table's entity is replaced only by a newer acceptance, on the ETag it was read
with (two runs at once: the later retries on what the other wrote), so the newest acceptance wins.

Journals written before this partition existed: while a partition has no `seed`, the reader walks the
month partitions back from the current month to the journal's first month (found with one top-1 query),
one filtered query per month (`CheckId` and `Kind`/`Status`: only accepted results and acknowledgements
come back), until every table has a baseline. Old entities that did not record their database count
when the database their counts were read from (`details["target"]`, an ack's `CountsTarget`) is this
one. A run that completes the read carries what it found (`details["baseline"]`), and its write seeds
the partition: the walk happens once, not every run.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

from checks.engine.i18n import msg, msgn
from checks.engine.model import JournalUnavailable, Run, Status
from checks.engine.redact import redact
from checks.engine.target import Target, database_of_details
from checks.engine.timeutil import is_month, month_of
from checks.journal.bounds import batches

log = logging.getLogger("checks.journal.baseline")

BASELINE_CHECK = "database.essential_counts"
PREFIX = "baseline-"
SEED_ROW = "seed"
DRILL_TRIGGER = "drill"  # the restore drill's counts are of a restored copy, never production's baseline
WRITE_ATTEMPTS = 8
MAX_TABLE_CHARS = 300


@dataclass(frozen=True)
class Accepted:
    """A table's accepted count: of a passing run (source "run") or acknowledged (source "ack")."""
    table: str
    rows: int
    at: datetime
    run_id: str
    source: str = "run"
    by: str = ""
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"at": self.at.isoformat()}

    def newer_than(self, other: "Accepted | None") -> bool:
        return other is None or (self.at, self.source == "ack", self.run_id) > (other.at, other.source == "ack",
                                                                                other.run_id)


def partition_of(target: Target | None) -> str | None:
    """The baseline partition of a target and its database; None when its database is not recorded."""
    database = target.database() if target is not None else None
    if database is None:
        return None
    basis = json.dumps([*target.resources(), *database], ensure_ascii=True)
    return PREFIX + hashlib.sha256(basis.encode()).hexdigest()[:32]


def row_of(table: str) -> str:
    return "t-" + hashlib.sha256(table.encode("utf-8", "surrogatepass")).hexdigest()[:32]


# --- reading ---------------------------------------------------------------------------------

def accepted_from(table: Any, entry: Any) -> Accepted | None:
    """An Accepted from its plain form ({rows, at, run_id, source, by, reason}); None when malformed."""
    from checks.engine.timeutil import parse_iso
    if not isinstance(table, str) or not 0 < len(table) <= MAX_TABLE_CHARS or not isinstance(entry, Mapping):
        return None
    rows, at = entry.get("rows"), entry.get("at")
    if isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows < 2 ** 53:
        return None
    try:
        when = at if isinstance(at, datetime) else parse_iso(at) if isinstance(at, str) else None
        when = when.astimezone(timezone.utc) if when is not None and when.tzinfo else None
    except (ValueError, OverflowError):
        when = None
    source = entry.get("source", "run")
    if when is None or source not in ("run", "ack"):
        return None
    return Accepted(table, rows, when, str(entry.get("run_id") or ""), source, str(entry.get("by") or ""),
                    str(entry.get("reason") or ""))


def _entity_accepted(row: Mapping[str, Any]) -> Accepted | None:
    return accepted_from(row.get("Table"), {"rows": row.get("Rows"), "at": row.get("At"), "run_id": row.get("RunId"),
                                            "source": row.get("Source"), "by": row.get("AckBy"),
                                            "reason": row.get("AckReason")})


def read_baseline(journal: Any, target: Target, tables: Iterable[str],
                  now: datetime) -> dict[str, Accepted]:
    """{table: its newest accepted count} of `target` and its database (tables without one are left out).
    Raises JournalUnavailable when the journal cannot be read."""
    wanted = list(dict.fromkeys(tables))
    key = partition_of(target)
    if key is None:
        return {}
    found: dict[str, Accepted] = {}
    seeded = False
    for row in journal.partition(key):
        if row.get("RowKey") == SEED_ROW:
            seeded = True
            continue
        accepted = _entity_accepted(row)
        if accepted is None:
            log.warning("baseline %s: entity %s unreadable, not a baseline", key, str(row.get("RowKey"))[:80])
        elif accepted.table in wanted and accepted.newer_than(found.get(accepted.table)):
            found[accepted.table] = accepted
    missing = [t for t in wanted if t not in found]
    if missing and not seeded:
        found.update(walk_months(journal, target, missing, now))
    return found


def first_month(journal: Any) -> str | None:
    """The journal's first month partition: one query for one entity (PartitionKey order)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    try:
        for entity in journal.table_client.query_entities("PartitionKey ge @lo and PartitionKey lt @hi",
                                                          parameters={"lo": "2000-01", "hi": "2100"},
                                                          select=["PartitionKey"], results_per_page=1):
            month = str(entity.get("PartitionKey", ""))[:7]
            return month if is_month(month) else None
    except ResourceNotFoundError:
        return None
    except AzureError as exc:
        raise JournalUnavailable(msg("journal read failed: {reason}", reason=_short(exc))) from None
    return None


def months_back(last: str, first: str) -> list[str]:
    """`last` back to `first`, newest first."""
    index, stop = int(last[:4]) * 12 + int(last[5:7]) - 1, int(first[:4]) * 12 + int(first[5:7]) - 1
    return [f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index, stop - 1, -1)]


def walk_months(journal: Any, target: Target, tables: list[str], now: datetime) -> dict[str, Accepted]:
    """Accepted counts journaled before baseline partitions existed: month by month, newest first, to the
    journal's first month, until every table has one (one filtered query per month)."""
    first = first_month(journal)
    if first is None:
        return {}
    found: dict[str, Accepted] = {}
    for month in months_back(month_of(now), first):
        rows = journal.query("PartitionKey eq @pk and CheckId eq @cid and (Kind eq 'ack' or "
                             "(Kind eq 'check' and Status eq 'pass'))", {"pk": month, "cid": BASELINE_CHECK})
        for accepted in _legacy_accepted(rows, target):
            if accepted.table in tables and accepted.newer_than(found.get(accepted.table)):
                found[accepted.table] = accepted
        if all(t in found for t in tables):
            break
    return found


def _legacy_accepted(rows: list[dict[str, Any]], target: Target) -> list[Accepted]:
    """Accepted counts of one month's entities that are about `target` and its database."""
    from checks.journal.entities import EntityError, read_ack, read_check
    out = []
    for row in rows:
        try:
            if row.get("Kind") == "ack":
                ack = read_ack(row)
                if database_of_details(ack["target"]) != target.database():
                    continue
                out += [accepted_from(t, {"rows": n, "at": _run_time(ack["run_id"]), "run_id": ack["run_id"], "source": "ack",
                                          "by": ack["by"], "reason": ack["reason"]}) for t, n in ack["counts"].items()]
                continue
            run_id, result = read_check(row)
        except EntityError:
            continue  # an unreadable entity is never a baseline
        row_target = Target.from_columns(row)
        if row.get("Trigger") == DRILL_TRIGGER or result.status is not Status.PASS or \
                database_of_details(result.details.get("target")) != target.database() or \
                (row_target is not None and (row_target.override or not row_target.same_resources(target))):
            continue
        counts = result.details.get("counts")
        out += [accepted_from(t, {"rows": n, "at": result.started_at, "run_id": run_id})
                for t, n in (counts.items() if isinstance(counts, dict) else ())]
    return [a for a in out if a is not None]


def _run_time(run_id: str) -> datetime | None:
    """When a run started, from its id (20261126T092114Z-3f9a1c): an acknowledged count's time."""
    try:
        return datetime.strptime(run_id[:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


# --- writing ---------------------------------------------------------------------------------

def record_run(journal: Any, run: Run) -> None:
    """The run's accepted counts (and the baseline it read, which seeds the partition) into its target's
    baseline partition. Nothing for a drill, an override, a run without a recorded database, or counts
    read from another database than the run's."""
    result = next((r for r in run.results if r.check_id == BASELINE_CHECK), None)
    key = partition_of(run.target)
    if result is None or key is None or run.trigger == DRILL_TRIGGER or run.target.override:
        return
    if database_of_details(result.details.get("target")) != run.target.database():
        return
    carried = result.details.get("baseline")
    accepted = [a for a in (accepted_from(t, e) for t, e in (carried.items() if isinstance(carried, dict) else ()))
                if a is not None]
    counts = result.details.get("counts")
    if result.status is Status.PASS and isinstance(counts, dict):
        accepted += [a for a in (accepted_from(t, {"rows": n, "at": result.started_at, "run_id": run.run_id})
                                 for t, n in counts.items()) if a is not None]
    write(journal, key, run.target, accepted, seed=result.details.get("baseline_complete") is True)


def record_ack(journal: Any, target: Target | None, accepted: list[Accepted]) -> bool:
    """An acknowledgement's counts into the baseline partition; False when the acknowledged run did not
    record its database (then only the month walk of older journals finds it)."""
    key = partition_of(target)
    if key is None:
        return False
    write(journal, key, target, accepted, seed=False)
    return True


def write(journal: Any, key: str, target: Target, accepted: list[Accepted], seed: bool) -> None:
    """Each table's entity replaced by a newer acceptance only, on its ETag; retried when another writer
    moved it."""
    from azure.core.exceptions import AzureError
    from azure.data.tables import TableTransactionError
    newest: dict[str, Accepted] = {}
    for a in accepted:
        if a.newer_than(newest.get(a.table)):
            newest[a.table] = a
    for _ in range(WRITE_ATTEMPTS):
        ops = _operations(key, target, newest, seed, _current(journal, key))
        try:
            for batch in batches(ops):
                journal.table_client.submit_transaction(batch)
            return
        except TableTransactionError as exc:
            if exc.status_code not in (404, 409, 412):  # 409/412: another writer moved an entity: read again
                raise _failed(exc) from None
        except AzureError as exc:
            raise _failed(exc) from None
    raise JournalUnavailable(msgn("journal baseline write failed: {key} kept changing ({attempts} attempt)",
                                  "journal baseline write failed: {key} kept changing ({attempts} attempts)",
                                  "attempts", key=key, attempts=WRITE_ATTEMPTS))


def _failed(exc: Any) -> JournalUnavailable:
    """A refused baseline write (4xx but 401/403/408/429: the same write would fail again) or an outage."""
    from checks.journal.store import JournalRejected
    status = getattr(exc, "status_code", None) or 0
    kind = JournalRejected if 400 <= status < 500 and status not in (401, 403, 408, 429) else JournalUnavailable
    return kind(msg("journal baseline write failed: {reason}", reason=_short(exc)))


def _short(exc: Any) -> str:
    lines = str(exc).strip().splitlines()
    return redact(lines[0] if lines else type(exc).__name__)[:200]


def _current(journal: Any, key: str) -> dict[str, tuple[dict[str, Any], str]]:
    """{RowKey: (entity, etag)} of a baseline partition."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    journal.ensure_table()
    try:
        return {e["RowKey"]: (dict(e), e.metadata["etag"])
                for e in journal.table_client.query_entities("PartitionKey eq @pk", parameters={"pk": key})}
    except ResourceNotFoundError:
        return {}
    except AzureError as exc:
        raise JournalUnavailable(msg("journal read failed: {reason}", reason=_short(exc))) from None


def _operations(key: str, target: Target, newest: Mapping[str, Accepted], seed: bool,
                current: Mapping[str, tuple[dict[str, Any], str]]) -> list[tuple]:
    from azure.core import MatchConditions
    from azure.data.tables import UpdateMode
    ops: list[tuple] = []
    for table, a in sorted(newest.items()):
        entity = {"PartitionKey": key, "RowKey": row_of(table), "Kind": "baseline", "Table": table, "Rows": a.rows,
                  "At": a.at, "RunId": a.run_id, "Source": a.source, "AckBy": a.by, "AckReason": redact(a.reason)[:500],
                  **target.to_columns()}
        found = current.get(entity["RowKey"])
        if found is None:
            ops.append(("create", entity))
        elif a.newer_than(_entity_accepted(found[0])):
            ops.append(("update", entity, {"mode": UpdateMode.REPLACE, "etag": found[1],
                                           "match_condition": MatchConditions.IfNotModified}))
    if seed and SEED_ROW not in current:
        ops.append(("create", {"PartitionKey": key, "RowKey": SEED_ROW, "Kind": "baseline-seed",
                               "At": datetime.now(timezone.utc), **target.to_columns()}))
    return ops
