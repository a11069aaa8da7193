"""The internal journal: Azure Table Storage, one entity per check result plus one per run.

Layout (reads well in Azure Storage Explorer):
  PartitionKey  run month, UTC, `YYYY-MM` (a month's report is one partition query)
  RowKey        `<inverted ms timestamp>-<run id>` for the run summary and
                `<inverted ms timestamp>-<run id>-<check id>` for its checks, so the newest run
                sorts first and a run's summary comes right before its checks.
All entities of one run go in one `submit_transaction` (same partition; chunks of at most 100
operations, the summary in the last chunk, so a run with a summary entity is complete). The last
chunk also replaces the month's chain head on its ETag (checks/journal/chain.py): each run,
acknowledgement and sign-off is a link of the month's hash chain. Entities are created, never
overwritten (a replayed run that is already there is left as it is).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Iterable

from checks import __version__
from checks.engine.config import ConfigError, Settings, variable_name
from checks.engine.i18n import N_, fact_of, msg
from checks.engine.model import INTERRUPTED, CheckResult, JournalUnavailable, Run
from checks.engine.redact import redact, redact_obj
from checks.engine.target import Target
from checks.engine.timeutil import is_month
from checks.journal.bounds import LIMITS, bound_entity, bounded_json, cut
from checks.journal.chain import ANCHOR_KINDS
from checks.journal.entities import (COUNT_COLUMNS, EntityError, Unreadable, read_ack, read_check, read_partition, read_run, run_of,
                                     unreadable as entity_unreadable)

log = logging.getLogger("checks.journal.store")

TRANSACTION_LIMIT = 100
MAX_DETAILS_CHARS = LIMITS["Details"]  # a string property holds 32K UTF-16 units; stay far below
_INVERT_BASE = 10 ** 13


class JournalRejected(JournalUnavailable):
    """The journal answered 4xx to a write: not an outage, the same write would fail again."""


def inverted_ms(moment: datetime) -> str:
    return f"{_INVERT_BASE - int(moment.timestamp() * 1000):013d}"


def month_of_run_id(run_id: str) -> str:
    """20261126T092114Z-3f9a1c -> 2026-11 (run ids carry their month)."""
    if len(run_id) < 8 or not run_id[:8].isdigit():
        raise ValueError(msg("not a run id: {value} (expected e.g. 20261126T092114Z-3f9a1c)", value=repr(run_id)))
    return f"{run_id[:4]}-{run_id[4:6]}"


def _bounded_json(details: dict[str, Any]) -> str:
    return bounded_json(redact_obj(details), MAX_DETAILS_CHARS)


# run summary columns holding how many results had each status: COUNT_COLUMNS (checks/journal/entities.py)


def run_entity(run: Run) -> dict[str, Any]:
    counts = run.counts()
    return bound_entity({
        "PartitionKey": run.month,
        "RowKey": f"{inverted_ms(run.started_at)}-{run.run_id}",
        "Kind": "run",
        "RunId": run.run_id,
        "Trigger": run.trigger,
        "Status": run.status.value,
        "StartedAt": run.started_at,
        "FinishedAt": run.finished_at or run.started_at,
        "DurationMs": int(((run.finished_at or run.started_at) - run.started_at).total_seconds() * 1000),
        "DryRun": run.dry_run,
        "CheckCount": len(run.results),
        **{column: counts[status] for status, column in COUNT_COLUMNS.items()},
        "Notes": bounded_json([redact(n) for n in run.notes], LIMITS["Notes"]),
        **_note_facts(run.notes),
        "AppVersion": __version__,
        **(run.target.to_columns() if run.target else {}),
        **({"FleetMessage": run.origin} if run.origin else {}),
        **({"RequestedByObjectId": run.requested_by["object_id"], "RequestedByName": run.requested_by["name"]}
           if run.requested_by else {}),
    }, f"run {run.run_id}")


def check_entity(run: Run, result: CheckResult) -> dict[str, Any]:
    return bound_entity({
        "PartitionKey": run.month,
        "RowKey": f"{inverted_ms(run.started_at)}-{run.run_id}-{result.check_id}",
        "Kind": "check",
        "RunId": run.run_id,
        "Trigger": run.trigger,
        "CheckId": result.check_id,
        "Title": result.title,
        "Status": result.status.value,
        "Severity": result.severity.value,
        "Summary": redact(result.summary),
        "Remediation": redact(result.remediation),
        "StartedAt": result.started_at,
        "DurationMs": result.duration_ms,
        "Details": _bounded_json(result.details),
        "Messages": _bounded_json(result.messages),
        "AppVersion": __version__,
        **(run.target.to_columns() if run.target else {}),  # each result says what it is about
    }, f"run {run.run_id} check {result.check_id}")


def _note_facts(notes: list[str]) -> dict[str, str]:
    """NoteFacts: each note's message id and (redacted) parameters, null for a plain text, so a page
    renders a journaled note (an override run, a lease not taken) in its reader's language."""
    facts = [{**fact, "params": redact_obj(fact["params"])} if fact else None for fact in map(fact_of, notes)]
    return {"NoteFacts": bounded_json(facts, LIMITS["Notes"])} if any(facts) else {}


def reduced_run(run: Run, why: str) -> Run:
    """The run in its smallest form (texts cut short, details dropped) after the journal refused it."""
    import dataclasses
    marker = {"reduced": True, "why": cut(why, 500), "full_run": "in the logs"}
    results = [dataclasses.replace(r, summary=cut(r.summary, 500), remediation=cut(r.remediation, 500),
                                   title=cut(r.title, 200), details={**marker, **_kept(r.details)})
               for r in run.results]
    notes = [cut(n, 500) for n in run.notes[:20]] + [
        msg("journal refused the full run ({why}); reduced form written, full run in the logs", why=cut(why, 300))]
    return dataclasses.replace(run, results=results, notes=notes)


def _kept(details: dict[str, Any]) -> dict[str, Any]:
    """The details a reduced run keeps: an interrupted check stays marked (the run is then no evidence)."""
    return {INTERRUPTED: True} if details.get(INTERRUPTED) is True else {}


def result_from_entity(entity: dict[str, Any]) -> CheckResult:
    """A check entity's result; EntityError (a ValueError naming the field) when it is unreadable."""
    return read_check(entity)[1]


def run_from_entities(summary: dict[str, Any], checks: Iterable[dict[str, Any]]) -> Run:
    """A run from its summary and check entities, read by checks/journal/entities.py: EntityError when
    the summary is unreadable; an unreadable check entity stands as an error result."""
    part = read_partition([summary, *checks])
    if not part.runs or part.damaged:
        read_run(summary)  # raises EntityError saying why
    head = next(iter(part.runs.values()))
    run = run_of(head, part.results.get(head.run_id, {}))
    run.notes += [n for n in part.notes() if n not in run.notes]
    return run


def run_summary(row: dict[str, Any]) -> dict[str, Any]:
    """A run summary entity as plain data (JSON-ready); EntityError when it is unreadable."""
    head = read_run(row)
    return {
        "run_id": head.run_id, "trigger": head.trigger, "status": head.status.value,
        "started_at": head.started_at.isoformat(), "finished_at": head.finished_at.isoformat(),
        "duration_ms": head.duration_ms, "dry_run": head.dry_run, "check_count": head.check_count,
        "counts": dict(head.counts), "notes": list(head.notes),
        "target": (head.target or Target()).to_dict() if head.target is not None else None,
        **({"origin": head.origin} if head.origin else {}),
        **({"requested_by": dict(head.requested_by)} if head.requested_by else {}),
    }


def _entity_dict(entity: Any) -> dict[str, Any]:
    return {k: v for k, v in dict(entity).items()}


class Journal:
    """Write and read runs in the journal table. Build with `Journal.from_settings(settings)`."""

    def __init__(self, table_client: Any):
        self._table = table_client
        self._table_ready = False

    @classmethod
    def from_settings(cls, settings: Settings, credential: Any = None, **client_kwargs: Any) -> "Journal":
        client_kwargs.setdefault("retry_total", 3)  # the SDK's own retries with backoff
        try:
            return cls(_table_client(settings, credential, client_kwargs))
        except ValueError as exc:  # validation let through something the SDK refuses: still a config error
            attr = "journal_account_url" if settings.journal_account_url else "journal_connection_string"
            raise ConfigError({variable_name(attr): f"the Tables SDK refused it: {redact(_short(exc))}"}) from None

    @property
    def table_client(self) -> Any:
        return self._table

    def ensure_table(self) -> None:
        """Create the journal table only when it is missing. A deployment creates it (infra/modules/storage.bicep)
        and the app's role, scoped to that table, has no right to create tables: one read finds it there,
        so nothing is asked of Azure that the role refuses. Missing (local, Azurite): created; a 409 (created
        meanwhile) or a 403 (not ours to create: the deployment's) counts as there."""
        if self._table_ready:
            return
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError
        try:
            next(iter(self._table.list_entities(results_per_page=1, select=["PartitionKey"]).by_page()), None)
        except ResourceNotFoundError:
            try:
                self._table.create_table()
            except ResourceExistsError:
                pass
            except HttpResponseError as exc:
                if exc.status_code != 403:
                    raise
                log.info("journal table not created: not ours to create (403); the deployment creates it")
        self._table_ready = True

    def _guard(self, action: str, fn, *args, answers: tuple = (), **kwargs):
        """Call the SDK; `answers` (and a 409) are re-raised as they are: the caller decides what they mean."""
        from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
        try:
            return fn(*args, **kwargs)
        except answers:
            raise
        except ResourceExistsError:
            raise  # a conflict is an answer, not an outage (insert decides what it means)
        except HttpResponseError as exc:
            raise _translated(action, exc) from None
        except AzureError as exc:
            raise JournalUnavailable(_failed(action, redact(_short(exc)))) from None

    # --- write side -------------------------------------------------------------------------
    def write_run(self, run: Run) -> None:
        """All entities of the run in transactions within Azure's limits (summary last, with the chain
        head: checks/journal/chain.py); a run already journaled (same RowKey) is left as it is.

        Raises JournalRejected on a 4xx (the same write would fail again) and JournalUnavailable
        on an outage."""
        from checks.journal.append import write_run
        from checks.journal.baseline import record_run
        self._guard("table creation", self.ensure_table)
        record_run(self, run)  # first: a replay of this run writes its baseline again (checks/journal/baseline.py)
        write_run(self, run)

    def insert(self, entity: dict[str, Any]) -> bool:
        """Create an entity that must never overwrite another: False when its RowKey is taken.
        An acknowledgement or a sign-off in a month partition is appended to the month's chain."""
        from azure.core.exceptions import ResourceExistsError
        self._guard("table creation", self.ensure_table)
        if entity.get("Kind") in ANCHOR_KINDS and is_month(str(entity.get("PartitionKey", ""))):
            from checks.journal.append import append_link
            return append_link(self, entity, [], [])
        try:
            self._guard("write", self._table.create_entity, entity)
        except ResourceExistsError:
            return False
        return True

    def submit(self, action: str, operations: list, answers: tuple = ()) -> Any:
        """One entity-group transaction (checks/journal/append.py); `answers` are re-raised as they are."""
        return self._guard(action, self._table.submit_transaction, operations, answers=answers)

    @staticmethod
    def error(action: str, exc: Any) -> JournalUnavailable:
        return _translated(action, exc)

    def get_entity(self, partition_key: str, row_key: str) -> tuple[dict[str, Any], str] | None:
        """(entity, etag) or None when it does not exist (for conditional updates)."""
        from azure.core.exceptions import ResourceNotFoundError
        try:
            entity = self._guard("read", self._table.get_entity, partition_key, row_key,
                                 answers=(ResourceNotFoundError,))
        except ResourceNotFoundError:
            return None
        return _entity_dict(entity), entity.metadata["etag"]

    def replace_if_unchanged(self, entity: dict[str, Any], etag: str) -> bool:
        """Replace an entity only if nobody changed it since it was read with `etag`: False when they did."""
        from azure.core import MatchConditions
        from azure.core.exceptions import ResourceModifiedError
        from azure.data.tables import UpdateMode
        try:
            self._guard("write", self._table.update_entity, entity, mode=UpdateMode.REPLACE, etag=etag,
                        match_condition=MatchConditions.IfNotModified, answers=(ResourceModifiedError,))
        except ResourceModifiedError:
            return False
        return True

    def upsert(self, entity: dict[str, Any]) -> None:
        """One entity outside a run (drill state, sign-off)."""
        self._guard("table creation", self.ensure_table)
        self._guard("write", self._table.upsert_entity, entity)

    # --- read side --------------------------------------------------------------------------
    def query(self, filter_: str, parameters: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        from azure.core.exceptions import AzureError, ResourceNotFoundError
        try:
            return [_entity_dict(e) for e in self._table.query_entities(filter_, parameters=parameters or {})]
        except (ValueError, TypeError, OverflowError) as exc:  # the SDK could not decode an entity (a bad Edm value)
            raise JournalUnavailable(msg("journal read failed: the Tables SDK could not decode an entity ({reason}); "
                                         "find it with Azure Storage Explorer", reason=redact(_short(exc))[:200])) from None
        except ResourceNotFoundError:
            return []  # no table yet = no entries
        except AzureError as exc:
            raise JournalUnavailable(msg("journal read failed: {reason}", reason=redact(_short(exc)))) from None

    def partition(self, partition_key: str) -> list[dict[str, Any]]:
        """Every entity of one partition: one query (paged by the SDK)."""
        return self.query("PartitionKey eq @pk", {"pk": partition_key})

    def partition_stamped(self, partition_key: str) -> list[dict[str, Any]]:
        """Every entity of one partition with the service's own write time as `Timestamp` (journal verify)."""
        from azure.core.exceptions import AzureError, ResourceNotFoundError
        try:
            return [dict(_entity_dict(e), Timestamp=e.metadata.get("timestamp"))
                    for e in self._table.query_entities("PartitionKey eq @pk", parameters={"pk": partition_key})]
        except ResourceNotFoundError:
            return []
        except AzureError as exc:
            raise JournalUnavailable(msg("journal read failed: {reason}", reason=redact(_short(exc)))) from None

    def list_runs(self, month: str, unreadable: list[Unreadable] | None = None) -> list[dict[str, Any]]:
        """Run summaries of a month, newest first (one partition query); an unreadable summary is left
        out (logged, and added to `unreadable` when given)."""
        out = []
        for row in self.query("PartitionKey eq @pk and Kind eq 'run'", {"pk": month}):
            try:
                out.append(run_summary(row))
            except EntityError as exc:
                bad = entity_unreadable(row, exc)
                log.warning("journal %s: %s", month, bad.note())
                if unreadable is not None:
                    unreadable.append(bad)
        return out

    def get_run(self, run_id: str) -> Run | None:
        """The run with its results; a run whose summary is unreadable reads as an error run saying so
        (checks/journal/entities.py), None when the journal holds no summary of it."""
        rows = self.query("PartitionKey eq @pk and RunId eq @rid",
                          {"pk": month_of_run_id(run_id), "rid": run_id})
        part = read_partition(rows)
        if run_id not in part.runs:
            return None
        run = run_of(part.runs[run_id], part.results.get(run_id, {}))
        run.notes += [n for n in part.notes() if n not in run.notes]
        return run

    def baseline(self, target: Target, tables: Iterable[str], now: datetime) -> dict[str, Any]:
        """{table: Accepted}: each table's newest accepted count of this target and database, however old
        (checks/journal/baseline.py)."""
        from checks.journal.baseline import read_baseline
        return read_baseline(self, target, tables, now)


def ack_summary(row: dict[str, Any]) -> dict[str, Any]:
    """An acknowledgement entity as plain data (JSON-ready); EntityError when it is unreadable."""
    return read_ack(row)


def _table_client(settings: Settings, credential: Any, client_kwargs: dict[str, Any]) -> Any:
    from azure.data.tables import TableClient  # lazy: cold start

    if settings.journal_account_url:
        if credential is None:
            from azure.identity import DefaultAzureCredential
            credential = DefaultAzureCredential()
        return TableClient(endpoint=settings.journal_account_url, table_name=settings.journal_table,
                           credential=credential, **client_kwargs)
    if settings.journal_connection_string:
        return TableClient.from_connection_string(settings.journal_connection_string,
                                                  table_name=settings.journal_table, **client_kwargs)
    raise JournalUnavailable(msg("journal not configured: set JOURNAL_ACCOUNT_URL (managed identity) "
                                 "or AzureWebJobsStorage (connection string)"))


def _translated(action: str, exc: Any) -> JournalUnavailable:
    """A refused write (4xx: the same write would fail again) or an outage."""
    status = exc.status_code or 0
    kind = JournalRejected if 400 <= status < 500 and status not in (401, 403, 408, 429) else JournalUnavailable
    return kind(_failed(action, redact(_short(exc))))


# "journal {action} failed" as one text per action, so each language words it whole
FAILED = {"write": N_("journal write failed: {reason}"), "read": N_("journal read failed: {reason}"),
          "table creation": N_("journal table creation failed: {reason}")}


def _failed(action: str, reason: str) -> str:
    return msg(FAILED[action], reason=reason) if action in FAILED else f"journal {action} failed: {reason}"


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
