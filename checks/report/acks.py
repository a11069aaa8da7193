"""Acknowledging a count drop: `python -m checks ack --run RUN --check CHECK --by NAME --reason TEXT`.

A drop in `database.essential_counts` stays failing run after run (the baseline is the last run
whose counts passed) until the counts recover or a person acknowledges the drop. The
acknowledgement is journaled (Kind=ack, insert-only, in the month of the acknowledged run),
shown in that month's report, and the next run compares with the acknowledged counts.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from checks import __version__
from checks.engine.i18n import msg
from checks.engine.model import Status
from checks.engine.redact import redact
from checks.engine.valueparse import reason_of
from checks.journal.store import ack_summary, month_of_run_id
from checks.report.model import ReportError

MAX_BY_CHARS, MAX_REASON_CHARS = 100, 500


class AckRefused(ReportError):
    """A well-formed request the journal cannot honour (run or result not there, nothing dropped):
    exit 1 like `journal --run` of an unknown run, not a usage error (2)."""


def _text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ReportError(msg("{field} is required (1-{limit} characters)", field=what, limit=limit))
    text = " ".join(value.split())
    if len(text) > limit or not text.isprintable():
        raise ReportError(msg("{field} must be 1-{limit} printable characters", field=what, limit=limit))
    return text


def acknowledge(journal: Any, run_id: str, check_id: str, by: Any, reason: Any, *, via: str = "cli",
                now: datetime | None = None) -> dict[str, Any]:
    """Journal that `by` accepts the counts of `check_id` in `run_id` as the new baseline, and why."""
    name, why = _text(by, "name (--by)", MAX_BY_CHARS), _text(reason, "reason (--reason)", MAX_REASON_CHARS)
    try:
        run = journal.get_run(run_id)
    except ValueError as exc:
        raise ReportError(reason_of(exc)) from None
    result = next((r for r in run.results if r.check_id == check_id), None) if run else None
    if result is None:
        raise AckRefused(msg("no result of {check_id} in run {run_id} in the journal", check_id=check_id, run_id=run_id))
    counts = result.details.get("counts")
    if result.status is Status.PASS or not isinstance(counts, dict) or not counts:
        raise AckRefused(msg("nothing to acknowledge: {check_id} in run {run_id} is {status}", check_id=check_id,
                             run_id=run_id, status=result.status.value) if counts else
                         msg("nothing to acknowledge: {check_id} in run {run_id} is {status} and has no counts",
                             check_id=check_id, run_id=run_id, status=result.status.value))
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    entity = {"PartitionKey": month_of_run_id(run_id), "RowKey": f"ack-{now:%Y%m%dT%H%M%S%f}Z-{run_id}-{check_id}",
              "Kind": "ack", "RunId": run_id, "CheckId": check_id, "AckBy": name, "AckReason": redact(why),
              "AckAt": now, "Counts": json.dumps(counts, sort_keys=True),
              "CountsTarget": str(result.details.get("target") or ""), "Via": via, "AppVersion": __version__}
    if not journal.insert(entity):
        raise AckRefused(msg("an acknowledgement with the same time already exists; try again"))
    _into_baseline(journal, run, result, now, name, why)
    return ack_summary(entity)


def _into_baseline(journal: Any, run: Any, result: Any, now: datetime, by: str, why: str) -> None:
    """The acknowledged counts become the baseline of the run's target and database (checks/journal/baseline.py).
    A run journaled before runs recorded their database: the database its counts were read from."""
    import dataclasses
    from checks.engine.target import database_of_details
    from checks.journal.baseline import Accepted, record_ack
    target, read = run.target, database_of_details(result.details.get("target"))
    if target is None or read is None or (target.database() is not None and target.database() != read):
        return  # no target recorded, or counts of another database: the month walk of old journals finds it
    target = dataclasses.replace(target, database_host=read[0], database_name=read[1])
    # the counts' time is when they were read: acknowledging an older run's counts after a later run's counts
    # were accepted does not roll the baseline back (the newest accepted counts win)
    record_ack(journal, target, [Accepted(str(t), int(n), result.started_at, run.run_id, "ack", by, redact(why))
                                 for t, n in result.details["counts"].items()
                                 if isinstance(n, int) and not isinstance(n, bool) and n >= 0])
