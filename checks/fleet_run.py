"""Several targets in one process: the fleet (TARGETS, DISCOVER_TAG or a fleet of one) and a run of it.

Each target is verified exactly as a single target is (`service.verify`: its own settings, its
own RunContext, its own lease and journal entities) on a bounded thread pool; the run's
credential is shared, so every target's Azure and Entra database tokens come from one identity.
One target's failure never stops the others: it becomes that target's outcome. The CLI
(`checks/fleet_cli.py`) is the face; the queue fan-out uses `verify` per message instead.
"""
from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from checks.engine.config import Settings
from checks.engine.context import FailOnce, RunContext
from checks.engine.fleet import FleetTarget, targets_of
from checks.engine.i18n import msg
from checks.engine.model import Run, Status
from checks.engine.redact import log_crash, redact
from checks.engine.registry import select
from checks.journal.lease import RunInProgress
from checks.service import RunRequest, verify

log = logging.getLogger("checks.fleet")

DEFAULT_CONCURRENCY = 4
MAX_CONCURRENCY = 32


@dataclass
class Fleet:
    """The targets to verify, where they came from, and what a person should know about it."""
    targets: tuple[FleetTarget, ...]
    source: str  # "TARGETS", "DISCOVER_TAG=<tag>" or "TARGET_NAME" (a fleet of one)
    notes: list[str] = field(default_factory=list)


def resolve_fleet(settings: Settings, ctx: RunContext | None = None) -> Fleet:
    """TARGETS when set (it wins over DISCOVER_TAG, with a note), else discovery, else a fleet of one.

    Raises DiscoveryError (checks/connect/discovery.py) when discovery fails or finds nothing usable.
    A `ctx` given is the caller's (its credential shared with the runs); one made here is closed here.
    """
    if settings.targets:
        notes = [msg("TARGETS is set: it is used and DISCOVER_TAG={tag} is ignored", tag=settings.discover_tag)] \
            if settings.discover_tag else []
        return Fleet(tuple(settings.targets), "TARGETS", notes)
    if settings.discover_tag:
        from checks.connect.discovery import discover_fleet  # lazy: Resource Graph SDK
        return Fleet(discover_fleet(settings, ctx), f"DISCOVER_TAG={settings.discover_tag}")
    return Fleet(targets_of(settings), "TARGET_NAME")


@dataclass
class TargetOutcome:
    """One target's part of a fleet run: its Run, or why it has none (e.g. another run held its lease)."""
    name: str
    run: Run | None = None
    error: str = ""

    @property
    def status(self) -> Status:
        return self.run.status if self.run is not None else Status.ERROR

    @property
    def journal_failed(self) -> bool:
        return self.run is not None and self.run.journal_status.startswith("error")


@dataclass
class FleetRun:
    outcomes: list[TargetOutcome]

    @property
    def status(self) -> Status:
        return Status.worst(o.status for o in self.outcomes)

    def worst_first(self) -> list[TargetOutcome]:
        return sorted(self.outcomes, key=lambda o: (-o.status.rank, o.name))

    def counts(self) -> dict[str, int]:
        """Targets per status, e.g. {"fail": 1, "pass": 2}."""
        out: dict[str, int] = {}
        for outcome in self.outcomes:
            out[outcome.status.value] = out.get(outcome.status.value, 0) + 1
        return out


def run_fleet(request: RunRequest, settings: Settings, targets: Sequence[FleetTarget], journal: Any = None, *,
              concurrency: int = DEFAULT_CONCURRENCY, credential: Any = None,
              azure_kwargs: dict[str, Any] | None = None,
              on_done: Callable[[TargetOutcome], None] | None = None) -> FleetRun:
    """Verify every target, at most `concurrency` at a time; outcomes in the targets' order.

    `on_done` is called (serialised) as each target finishes, for progress lines.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(msg("concurrency: expected 1 to {limit}, got {value}", limit=MAX_CONCURRENCY,
                             value=concurrency))
    select(request.checks, read_only_only=request.dry_run)  # UnknownCheck once, before any target starts
    if credential is None:
        from azure.identity import DefaultAzureCredential  # lazy: cold start
        credential = FailOnce(DefaultAzureCredential())  # one identity (and token cache) for the whole fleet
    report_lock = threading.Lock()

    def one(target: FleetTarget) -> TargetOutcome:
        outcome = _verify_one(request, settings, target, journal, credential, azure_kwargs or {})
        if on_done is not None:
            with report_lock:
                on_done(outcome)
        return outcome

    with ThreadPoolExecutor(max_workers=min(concurrency, max(len(targets), 1)),
                            thread_name_prefix="fleet") as pool:
        return FleetRun(list(pool.map(one, targets)))


def _verify_one(request: RunRequest, settings: Settings, target: FleetTarget, journal: Any, credential: Any,
                azure_kwargs: dict[str, Any]) -> TargetOutcome:
    target_settings = target.settings_for(settings)
    ctx = RunContext(settings=target_settings, credential=credential, azure_kwargs=dict(azure_kwargs))
    try:
        return TargetOutcome(target.name, verify(request, target_settings, journal, ctx=ctx))
    except RunInProgress as exc:
        return TargetOutcome(target.name, error=exc.args[0])  # a Message: the fleet summary translates it
    except Exception as exc:  # broad on purpose (isolation): one target's unexpected failure must not stop the others
        log_crash(log, "target %s: run failed", target.name, extra={"target": target.name})
        return TargetOutcome(target.name, error=f"{type(exc).__name__}: {redact(str(exc).splitlines()[0] if str(exc) else '')}")
