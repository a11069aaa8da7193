"""Writing deviations (checks/journal/deviations.py holds the model, the rules and the reader).

After every run (timer, CLI, HTTP, queue: checks/service.py) `after_run` opens a deviation for each
failing result without an open one, and closes the open ones whose check passed in a full run;
`close_by_hand` and `assign` are the CLI's and HTTP's. Every write is an insert-only event appended
to the `deviation` partition's hash chain (checks/journal/append.py): a 409 on the event's key means
another writer got there first (the deviation is open, or closed, already).
"""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from checks import __version__
from checks.engine.i18n import msg
from checks.engine.model import INTERRUPTED, CheckResult, JournalUnavailable, Run, Status, was_interrupted
from checks.engine.redact import log_crash, redact
from checks.journal.bounds import bound_entity, cut
from checks.journal.deviations import (CLOSE_KIND, MAX_SUMMARY_CHARS, OPEN_KIND, OPENING, OWNER_KIND, PARTITION,
                                       Deviation, DeviationState, counts_for_production, deviation_id, due_date,
                                       journal_failure, next_seq, open_for, read_rows, read_state, warn_persists)
from checks.journal.entities import EntityError, read_check

log = logging.getLogger("checks.journal.deviations")

LOOKBACK_MONTHS = 24  # how far back a hand close looks for the check's latest result


class DeviationRefused(ValueError):
    """A close or an assignment the journal cannot honour; `status` is the HTTP answer (404, 409)."""

    def __init__(self, reason: str, status: int = 409):
        super().__init__(reason)
        self.reason, self.status = reason, status


# --- after a run -----------------------------------------------------------------------------

def after_run(journal: Any, run: Run, production: Any, due_days: Any, now: datetime | None = None,
              owner: str = "") -> list[str]:
    """Update the deviations of the run's target; a failure is a note of the run, never its end."""
    try:
        update(journal, run, production, due_days, now, owner)
        return []
    except JournalUnavailable as exc:
        log.warning("run %s: deviations not updated: %s", run.run_id, exc)
        return [journal_failure(exc)]
    except Exception as exc:  # broad on purpose: a bug here is a note of the run, never a lost run
        log_crash(log, "run %s: deviation update crashed", run.run_id)
        return [journal_failure(exc)]


def after_drill(journal: Any, run: Run, settings: Any) -> list[str]:
    """A restore drill's run (checks/drill/restore_drill.py): its drill.restore result for the drilled target."""
    from checks.engine.target import Target
    production = Target.from_settings(settings) if run.target and run.target.name == settings.target_name else None
    return after_run(journal, run, production, settings.deviation_due_days)


def update(journal: Any, run: Run, production: Any, due_days: Any, now: datetime | None = None,
           owner: str = "") -> None:
    """Open and close the run's target's deviations (pure rules in checks/journal/deviations.py); the ones it
    opens are owned by the run's HTTP caller, else `owner` (CLI --owner), else nobody yet."""
    if run.target is None or not run.results:
        return
    target = run.target.name
    rows = _target_rows(journal, target)
    state = read_rows([r for r in rows if "ChainHash" in r], verify=False)  # an unchained event is never believed
    keys = [str(r.get("RowKey", "")) for r in rows]
    full = not run.dry_run and not run.interrupted and not was_interrupted(run.results)
    for result in run.results:
        if result.status is Status.SKIPPED or result.details.get(INTERRUPTED) is True or \
                not counts_for_production(run.trigger, run.target, production, result.check_id):
            continue
        current = open_for(state, target, result.check_id)
        if current is None and _opens(journal, run, result, production):
            _open(journal, run, result, next_seq(state, keys, target, result.check_id), due_days, owner)
        elif current is not None and result.status is Status.PASS and full:
            _write_close(journal, current, now or datetime.now(timezone.utc), evidence=run.run_id, via="run")


def _opens(journal: Any, run: Run, result: CheckResult, production: Any) -> bool:
    if result.status in OPENING:
        return True
    if result.status is not Status.WARN:
        return False
    start = run.started_at.astimezone(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    history = _results(journal, run.target.name, result.check_id, production, [start - timedelta(days=1), start])
    return warn_persists([(r.started_at, r.status) for _, r in history if r.started_at < run.started_at], start)


def _open(journal: Any, run: Run, result: CheckResult, seq: int, due_days: Any, named: str) -> bool:
    owner = run.requested_by or ({"name": named, "object_id": ""} if named else {})
    entity = {"PartitionKey": PARTITION, "RowKey": deviation_id(run.target.name, result.check_id, seq),
              "Kind": OPEN_KIND, **run.target.to_columns(), "CheckId": result.check_id,
              "Severity": result.severity.value, "FirstRunId": run.run_id, "FirstSeenAt": run.started_at,
              "FirstStatus": result.status.value, "Summary": cut(redact(str(result.summary)), MAX_SUMMARY_CHARS),
              "DueAt": due_date(run.started_at, result.severity.value, due_days),
              "OwnerName": owner.get("name", ""), "OwnerObjectId": owner.get("object_id", ""),
              "Via": run.trigger, "AppVersion": __version__}
    entity["DeviationId"] = entity["RowKey"]
    return append_event(journal, entity)  # False: another run opened it at the same time


def _write_close(journal: Any, dev: Deviation, at: datetime, *, evidence: str = "", via: str, note: str = "",
                 by: str = "", by_object_id: str = "") -> bool:
    entity = {"PartitionKey": PARTITION, "RowKey": f"{dev.id}-close", "Kind": CLOSE_KIND, "DeviationId": dev.id,
              "TargetName": dev.target, "CheckId": dev.check_id, "ClosedAt": at, "ClosedBy": by,
              "ClosedByObjectId": by_object_id, "ClosingNote": redact(note), "EvidenceRunId": evidence,
              "Via": via, "AppVersion": __version__}
    return append_event(journal, entity)


def append_event(journal: Any, entity: dict[str, Any]) -> bool:
    """One event as a link of the partition's chain; False when its RowKey exists already."""
    from azure.core.exceptions import AzureError
    from checks.journal.append import append_link
    try:
        journal.ensure_table()
    except AzureError as exc:
        raise JournalUnavailable(msg("journal write failed: {reason}", reason=redact(str(exc).splitlines()[0])[:200])) \
            from None
    try:
        return append_link(journal, bound_entity(entity, f"deviation {entity['RowKey']}"), [], [])
    except (ValueError, TypeError, KeyError) as exc:  # a chain head someone edited (ChainLength not a number, ...)
        raise JournalUnavailable(msg("journal write failed: the chain head of partition {partition} is unreadable "
                                     "({reason}); python -m checks journal verify names what changed",
                                     partition=PARTITION, reason=type(exc).__name__)) from None


def _target_rows(journal: Any, target: str) -> list[dict[str, Any]]:
    return journal.query("PartitionKey eq @pk and TargetName eq @t", {"pk": PARTITION, "t": target})


def _results(journal: Any, target: str, check_id: str, production: Any,
             moments: list[datetime]) -> list[tuple[str, CheckResult]]:
    """(run id, result) of a check for a target in the months of `moments`, from runs about production (None:
    a target no longer configured, its own runs), skipped and interrupted results left out."""
    from checks.engine.target import Target
    from checks.engine.timeutil import month_of
    out = []
    for month in dict.fromkeys(month_of(m) for m in moments):
        rows = journal.query("PartitionKey eq @pk and Kind eq 'check' and CheckId eq @cid and TargetName eq @t",
                             {"pk": month, "cid": check_id, "t": target})
        for row in rows:
            try:
                run_id, result = read_check(row)
            except EntityError:
                continue  # an unreadable entity is never a result (its month's report names it)
            if result.status is Status.SKIPPED or result.details.get(INTERRUPTED) is True or \
                    not counts_for_production(str(row.get("Trigger", "")), Target.from_columns(row), production,
                                              result.check_id):
                continue
            out.append((run_id, result))
    return out


# --- by hand ---------------------------------------------------------------------------------

def find(journal: Any, dev_id: str) -> Deviation:
    state = read_state(journal)
    dev = state.deviations.get(dev_id)
    if dev is None:
        raise DeviationRefused(msg("deviation {id} not found", id=dev_id), 404)
    return dev


def latest_result(journal: Any, dev: Deviation, production: Any, now: datetime) -> tuple[str, CheckResult] | None:
    """The newest result of the deviation's check for its target since it opened (production's runs)."""
    months, at = [], now
    while at >= dev.first_seen.replace(day=1, hour=0, minute=0, second=0, microsecond=0) and \
            len(months) < LOOKBACK_MONTHS:
        months.append(at)
        at = at.replace(day=1) - timedelta(days=1)
    for month in months:  # newest month first: the first month with a result holds the newest
        found = _results(journal, dev.target, dev.check_id, production, [month])
        if found:
            return max(found, key=lambda f: (f[1].started_at, f[0]))
    return None


def close_by_hand(journal: Any, dev_id: str, note: str, by: str, by_object_id: str, via: str, production: Any,
                  now: datetime | None = None) -> Deviation:
    """Close an open deviation with a note: refused (DeviationRefused 409) while its check still fails for
    its target; the newest result when it passed is recorded as the closing evidence."""
    now = now or datetime.now(timezone.utc)
    dev = find(journal, dev_id)
    if not dev.is_open:
        raise DeviationRefused(msg("deviation {id} is closed already ({at})", id=dev.id, at=dev.closed_at.isoformat()))
    latest = latest_result(journal, dev, production, now)
    if latest is not None and (latest[1].status in OPENING or
                               (latest[1].status is Status.WARN and dev.first_status == "warn")):
        raise DeviationRefused(msg("deviation {id} cannot be closed: {check_id} still fails for {target} (newest "
                                   "result {status} in run {run_id}); fix it and run the check again",
                                   id=dev.id, check_id=dev.check_id, target=dev.target,
                                   status=latest[1].status.value, run_id=latest[0]))
    evidence = latest[0] if latest is not None and latest[1].status is Status.PASS else ""
    if not _write_close(journal, dev, now, evidence=evidence, via=via, note=note, by=by, by_object_id=by_object_id):
        raise DeviationRefused(msg("deviation {id} was closed meanwhile", id=dev.id))
    return dataclasses.replace(dev, closed_at=now, closed_by=by, closed_by_object_id=by_object_id, closing_note=note,
                               evidence_run_id=evidence, closed_via=via)


def assign(journal: Any, dev_id: str, owner: str, owner_object_id: str, by: str, via: str,
           now: datetime | None = None) -> Deviation:
    """Record a deviation's owner (an event: the newest assignment wins; the earlier ones stay)."""
    now = now or datetime.now(timezone.utc)
    dev = find(journal, dev_id)
    entity = {"PartitionKey": PARTITION, "RowKey": f"{dev.id}-owner-{now:%Y%m%dT%H%M%S%f}Z", "Kind": OWNER_KIND,
              "DeviationId": dev.id, "TargetName": dev.target, "CheckId": dev.check_id, "OwnerName": owner,
              "OwnerObjectId": owner_object_id, "AssignedAt": now, "AssignedBy": by, "Via": via,
              "AppVersion": __version__}
    if not append_event(journal, entity):
        raise DeviationRefused(msg("an assignment with the same time already exists; try again"))
    return dataclasses.replace(dev, owner=owner, owner_object_id=owner_object_id)


__all__ = ["DeviationRefused", "DeviationState", "after_run", "update", "close_by_hand", "assign", "find"]
