"""One verification run, the same for the timer, HTTP and the CLI: settings → checks → journal.

The journal write never loses results: if it fails, the run is still returned to the caller
and logged in full, and `run.journal_status` says why it was not recorded.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from .config import Settings
from .context import RunContext
from .journal import Journal, JournalUnavailable
from .model import Run
from .redact import redact, register_from_env
from .registry import select
from .runner import run_checks

log = logging.getLogger("checks.service")


@dataclass
class RunRequest:
    trigger: str
    checks: Sequence[str] = ()
    dry_run: bool = False
    write_journal: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)  # e.g. pg_server_name from --azure-server


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    register_from_env(env)
    return Settings.from_env(env)


def open_journal(settings: Settings, credential: Any = None, **client_kwargs: Any) -> Journal:
    return Journal.from_settings(settings, credential=credential, **client_kwargs)


def verify(request: RunRequest, settings: Settings, journal: Journal | None = None,
           ctx: RunContext | None = None) -> Run:
    """Run the selected checks and record them. Raises UnknownCheck for a bad selection only."""
    if request.overrides:
        settings = settings.override(**request.overrides)
    specs = select(request.checks, read_only_only=request.dry_run)
    ctx = ctx or RunContext(settings=settings)
    ctx.settings = settings
    if ctx.journal is None:
        ctx.journal = journal
    try:
        run = run_checks(specs, ctx, trigger=request.trigger, dry_run=request.dry_run)
    finally:
        ctx.close()
    if not request.write_journal:
        run.journal_status = "disabled"
    elif journal is None:
        run.journal_status = "failed: journal not configured"
    else:
        record(run, journal)
    log.info("run %s finished: %s (%s)", run.run_id, run.status.value,
             ", ".join(f"{k}={v}" for k, v in run.counts().items() if v),
             extra={"run_id": run.run_id, "status": run.status.value})
    return run


def record(run: Run, journal: Journal) -> None:
    try:
        journal.write_run(run)
        run.journal_status = "written"
    except JournalUnavailable as exc:
        run.journal_status = f"failed: {exc}"
        # nothing lost: the whole run goes to the log (Application Insights) instead
        log.error("journal write failed for run %s; full run follows: %s", run.run_id,
                  redact(json.dumps(run.to_dict(), default=str)),
                  extra={"run_id": run.run_id, "status": "error"})
