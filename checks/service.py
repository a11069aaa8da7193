"""One verification run, the same for the timer, HTTP and the CLI: settings → checks → journal.

Nothing is lost when the journal is down: the write is retried with backoff (the SDK's retry
policy), the run is still returned to the caller and logged in full, `run.journal_status`
says `error: <why>`, and the run is kept in a local spool that the next run replays into the
journal. One run at a time per target (checks/journal/lease.py); the next run also says when the
previous one never reached the journal.
"""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.target import Target
from checks.journal.store import Journal, JournalUnavailable
from checks.journal.lease import HeldLease, RunInProgress, RunLease
from checks.journal.spool import Spool, write_or_reduce
from checks.engine.i18n import msg, msgn
from checks.engine.valueparse import reason_of
from checks.engine import stop
from checks.engine.model import Run, Status, new_run_id, run_from_dict, was_interrupted
from checks.engine.redact import redact, redacted_json, register_from_env
from checks.engine.registry import select
from checks.engine.runner import run_checks

log = logging.getLogger("checks.service")

__all__ = ["RunRequest", "RunInProgress", "load_settings", "open_journal", "verify", "record"]


@dataclass
class RunRequest:
    trigger: str
    checks: Sequence[str] = ()
    dry_run: bool = False
    write_journal: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)  # e.g. pg_server_name from --azure-server
    origin: str = ""  # the fleet message it answers (checks/dispatch): journaled with the run, marks it done
    requested_by: dict[str, str] | None = None  # the Entra caller of an HTTP run: {"object_id", "name"}
    owner: str = ""  # who owns the deviations this run opens (CLI --owner; an HTTP run: its caller)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    register_from_env(env)
    return Settings.from_env(env)


# One Journal per journal table and worker process: the Functions host reuses the process across invocations
# ("Manage connections in Azure Functions"), so a queued target or an HTTP call pays no new client, no new
# credential token and no table check. Thread-safe: Azure SDK clients are.
_JOURNALS: dict[tuple[str, str, str], Journal] = {}


def open_journal(settings: Settings, credential: Any = None, **client_kwargs: Any) -> Journal:
    if credential is not None or client_kwargs:  # a caller's own credential or transport: its own client
        return Journal.from_settings(settings, credential=credential, **client_kwargs)
    key = (settings.journal_account_url or "", settings.journal_connection_string or "", settings.journal_table)
    if key not in _JOURNALS:
        _JOURNALS[key] = Journal.from_settings(settings)
    return _JOURNALS[key]


def verify(request: RunRequest, settings: Settings, journal: Journal | None = None,
           ctx: RunContext | None = None, lease: RunLease | None = None) -> Run:
    """Run the selected checks and record them.

    Raises UnknownCheck for a bad selection and RunInProgress when another run holds the lease;
    everything else ends up in the returned Run.
    """
    configured = Target.from_settings(settings)
    if request.overrides:
        settings = settings.override(**request.overrides)
    target = Target.from_settings(settings)
    target = dataclasses.replace(target, override=not target.same_resources(configured))
    specs = select(request.checks, read_only_only=request.dry_run)
    ctx = ctx or RunContext(settings=settings)
    ctx.settings = settings
    if ctx.journal is None:
        ctx.journal = journal
    run_id = new_run_id(ctx.now())
    notes: list[str] = []
    held = _take_lease(request, settings, journal, lease, run_id, notes)
    try:
        try:
            if journal is not None and request.write_journal:
                notes.extend(Spool(settings.spool_dir).replay(journal))
                if held and held.previous_run_id and held.previous_run_id != run_id:
                    notes.extend(_previous_run_missing(journal, held.previous_run_id))
        except KeyboardInterrupt:  # Ctrl-C before the checks: none starts, the run is recorded as interrupted
            stop.request()
        try:
            run = run_checks(specs, ctx, trigger=request.trigger, dry_run=request.dry_run, run_id=run_id)
        finally:
            ctx.close()
        run.notes.extend(notes)
        if run.interrupted:
            run.notes.append(interrupted_note(run))
        run.target, run.origin, run.requested_by = target, request.origin, request.requested_by
        if target.override:
            run.notes.append(msg("run against an override of the configured target: never evidence for production's "
                                 "checklist"))
        if not request.write_journal:
            run.journal_status = "disabled"
        elif journal is None:
            run.journal_status = msg("error: journal not configured (set JOURNAL_ACCOUNT_URL or AzureWebJobsStorage)")
            _log_full_run(run)
        else:
            from checks.journal.deviation_log import after_run  # before the run's write: its notes are journaled
            run.notes.extend(after_run(journal, run, configured, settings.deviation_due_days, owner=request.owner))
            record(run, journal, Spool(settings.spool_dir))
    finally:
        if held:
            held.release(run_id)
    # WARNING/ERROR: the run-failed alert reads this line whatever LOG_LEVEL is (checks/engine/logsetup.py)
    log.log(logging.ERROR if run.status in (Status.FAIL, Status.ERROR) else logging.WARNING,
            "run %s finished: %s (%s)", run.run_id, run.status.value,
            ", ".join(f"{k}={v}" for k, v in run.counts().items() if v),
            extra={"run_id": run.run_id, "status": run.status.value, "trigger": run.trigger,
                   "journal": run.journal_status, "outcome_line": True})
    return run


def _take_lease(request: RunRequest, settings: Settings, journal: Journal | None, lease: RunLease | None,
                run_id: str, notes: list[str]) -> HeldLease | None:
    from azure.core.exceptions import AzureError

    if not request.write_journal or journal is None:
        return None  # a run that writes nothing cannot clash in the journal
    try:
        return (lease or RunLease(settings)).acquire(run_id)
    # storage down, access denied, no credential, a connection string the Blob SDK refuses (ValueError):
    # the checks still run, the note says the guard was off
    except (AzureError, ValueError) as exc:
        notes.append(msg("run lease not taken ({reason}); concurrent runs were not excluded",
                         reason=redact(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)))
        return None


def interrupted_note(run: Run) -> str:
    finished = sum(not was_interrupted([r]) for r in run.results)
    return msgn("interrupted ({signal}) after {finished} of {total} check finished: the unfinished ones are recorded "
                "as errors and the run is no evidence for the checklist",
                "interrupted ({signal}) after {finished} of {total} checks finished: the unfinished ones are recorded "
                "as errors and the run is no evidence for the checklist", "total", signal=run.interrupted,
                finished=finished, total=len(run.results))


def _previous_run_missing(journal: Journal, previous_run_id: str) -> list[str]:
    # runs the journal could not take were replayed from the spool just before: one still missing ended
    # before it was recorded (killed, crashed, power lost); nothing of it was kept, in the logs or elsewhere
    try:
        if journal.get_run(previous_run_id) is None:
            return [msg("the previous run {run_id} never reached the journal: it was stopped (killed or crashed) "
                        "before it could record its results", run_id=previous_run_id)]
    except (JournalUnavailable, ValueError):
        pass
    return []


def record(run: Run, journal: Journal, spool: Spool) -> None:
    """Write the run (reduced when the journal refuses its full form); else spool and log it in full."""
    try:
        run.journal_status = write_or_reduce(run, journal)
    except JournalUnavailable as exc:
        run.journal_status = msg("error: {reason}", reason=reason_of(exc))  # a Message keeps its id
        spool.save(run)
        _log_full_run(run)
    except KeyboardInterrupt:  # Ctrl-C again while writing: the spool keeps the run, the next run writes it
        stop.request()
        run.journal_status = msg("error: interrupted while writing the journal; kept in the outage spool for the "
                                 "next run")
        spool.save(run)


def _log_full_run(run: Run) -> None:
    # nothing lost: the whole run goes to the log (Application Insights) as well
    log.error("run %s not recorded in the journal (%s); full run follows: %s", run.run_id, run.journal_status,
              redacted_json(run.to_dict()), extra={"run_id": run.run_id, "status": "error"})
