"""Run checks concurrently, each under a timeout; nothing one check does can kill the run.

A check that raises becomes an `error` result with the reason and its remediation; one that
runs past its timeout becomes `error` too and the others go on. Checks run in daemon threads
so a hung driver call cannot keep the process (or the CLI) alive after the run is reported.
Ctrl-C or SIGTERM (checks/engine/stop.py) ends the wait: each unfinished check becomes an
interrupted `error`, the finished ones are kept.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime
from typing import Sequence

from checks.engine.context import RunContext
from checks.engine import stop
from checks.engine.i18n import fact_of, msg, plain
from checks.engine.model import (INTERRUPTED, CheckError, CheckResult, CheckSpec, NotConfigured, Outcome, Run, Status,
                                 new_run_id)
from checks.engine.redact import log_crash, redact, redact_obj

log = logging.getLogger("checks.engine.runner")

MAX_DETAIL_KEYS = 40
STOP_POLL_SECONDS = 0.2  # how soon a waiting run notices a stop asked in another thread


def execute(spec: CheckSpec, ctx: RunContext) -> Outcome:
    """Run one check synchronously and turn whatever happens into an Outcome."""
    try:
        outcome = spec.run(ctx)
        if not isinstance(outcome, Outcome):
            return Outcome.error(msg("check returned {kind}, not an Outcome", kind=type(outcome).__name__))
        return outcome
    except NotConfigured as exc:
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)  # a Message stays one
        return Outcome.skipped(reason)
    except CheckError as exc:
        return Outcome(Status.ERROR, exc.reason, dict(exc.details), exc.remediation)
    except Exception as exc:  # broad on purpose: a check's crash (our bug) is an error result, never a dead run
        log_crash(log, "check %s crashed", spec.id)
        return Outcome.error(f"{type(exc).__name__}: {exc}")


def _to_result(spec: CheckSpec, outcome: Outcome, started: datetime, duration_ms: int) -> CheckResult:
    details = dict(list(outcome.details.items())[:MAX_DETAIL_KEYS])
    remediation = outcome.remediation or (spec.remediation if outcome.status in
                                          (Status.WARN, Status.FAIL, Status.ERROR) else "")
    return CheckResult(
        check_id=spec.id, title=spec.title, status=outcome.status, severity=spec.severity,
        summary=redact(outcome.summary), details=redact_obj(details), remediation=redact(remediation),
        started_at=started, duration_ms=duration_ms,
        messages=_facts(outcome.summary, remediation, details))


DETAIL_FACTS_BUDGET = 8_000  # characters of JSON: detail texts' facts never crowd out the summary's


def _facts(summary: str, remediation: str, details: dict) -> dict[str, dict]:
    """The summary's and remediation's message facts, and those of detail texts that are messages
    ("details.<key>": the run page shows them in the reader's language) while they fit the budget."""
    facts = message_facts(summary=summary, remediation=remediation)
    texts = message_facts(**{f"details.{key}": value for key, value in details.items()})
    if texts and len(json.dumps({**facts, **texts}, default=str)) <= DETAIL_FACTS_BUDGET:
        facts.update(texts)
    return facts


def message_facts(**texts: object) -> dict[str, dict]:
    """The message id and (redacted) parameters of each text that is a Message (the journal's
    language-neutral form: any language can be rendered from it later)."""
    facts = {}
    for name, text in texts.items():
        fact = fact_of(text)
        if fact is not None:
            facts[name] = {**fact, "params": redact_obj(fact["params"])}  # a counted text keeps its plural
    return facts


def uses_azure(settings) -> bool:
    """Will this run's checks load an Azure SDK (a target, the blob data plane, or Entra auth)?"""
    return bool(settings.azure_subscription_id or settings.blob_account_url or settings.blob_connection_string
                or settings.pg_auth == "entra")


def preload_azure_core() -> None:
    """Import azure-core in this thread before the check threads start: the first imports of two
    Azure SDKs racing in two threads can deadlock on azure-core's own modules (the check then
    errors with ImportError 'cannot import name Pipeline' or a _DeadlockError)."""
    import azure.core.exceptions  # noqa: F401
    import azure.core.pipeline  # noqa: F401


def _wait(thread: threading.Thread, deadline: float) -> None:
    """Until the check ends, its deadline passes or a stop is asked (checks/engine/stop.py: the CLI's
    signal handler asks it; a fleet's targets run in worker threads and see it too). A KeyboardInterrupt
    is not caught here: where the caller did not ask for a recorded stop (a drill's checks), it ends the command."""
    while thread.is_alive() and not stop.requested():
        left = deadline - time.monotonic()
        if left <= 0:
            return
        thread.join(min(left, STOP_POLL_SECONDS))


def interrupted_outcome(signal_name: str) -> Outcome:
    """An unfinished check of an interrupted run: an error (never evidence), marked so the checklist
    leaves the whole run out (checks/report/checklist.py)."""
    return Outcome(Status.ERROR, msg("interrupted ({signal}) before it finished: not verified", signal=signal_name),
                   {INTERRUPTED: True, "signal": signal_name},
                   msg("Run the checks again: an interrupted run is no evidence for the checklist."))


def run_checks(specs: Sequence[CheckSpec], ctx: RunContext, trigger: str, dry_run: bool = False,
               run_id: str | None = None) -> Run:
    if uses_azure(ctx.settings):
        preload_azure_core()  # only then: a database-only run does not pay for the import
    started = ctx.now()
    run = Run(run_id=run_id or ctx.run_id or new_run_id(started), trigger=trigger, started_at=started,
              dry_run=dry_run)
    ctx.run_id = run.run_id
    default_timeout = ctx.settings.check_timeout_seconds
    slots: dict[str, tuple[Outcome, int] | None] = {spec.id: None for spec in specs}
    starts: dict[str, datetime] = {}
    threads: list[tuple[CheckSpec, threading.Thread, float]] = []

    def worker(spec: CheckSpec) -> None:
        t0 = time.perf_counter()
        outcome = execute(spec, ctx)
        slots[spec.id] = (outcome, int((time.perf_counter() - t0) * 1000))

    for spec in specs:
        starts[spec.id] = ctx.now()
        thread = threading.Thread(target=worker, args=(spec,), name=f"check:{spec.id}", daemon=True)
        if not stop.requested():  # Ctrl-C before the checks started: none of them starts
            thread.start()
        threads.append((spec, thread, time.monotonic() + (spec.timeout_seconds or default_timeout)))

    for spec, thread, deadline in threads:
        _wait(thread, deadline)
        done = slots[spec.id]
        if done is None and stop.requested():
            run.interrupted = stop.signal_name()
            done = (interrupted_outcome(run.interrupted), int((ctx.now() - starts[spec.id]).total_seconds() * 1000))
        elif done is None:
            timeout = spec.timeout_seconds or default_timeout
            done = (Outcome.error(msg("timed out after {seconds} s; the check was abandoned", seconds=plain(timeout)),
                                  msg("Find out why the target answers slowly, or raise CHECK_TIMEOUT_SECONDS."),
                                  timeout_seconds=timeout), int(timeout * 1000))
        result = _to_result(spec, done[0], starts[spec.id], done[1])
        run.results.append(result)
        # run id, check id and status in the message itself: the Functions host forwards the message,
        # not every `extra` field, to Application Insights
        log.info("run %s check %s: %s - %s", run.run_id, spec.id, result.status.value, result.summary,
                 extra={"run_id": run.run_id, "check_id": spec.id, "status": result.status.value,
                        "duration_ms": result.duration_ms})
    run.finished_at = ctx.now()
    return run
