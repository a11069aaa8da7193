"""Which fleet target a restore drill is about, and that target's settings.

A drill belongs to one target of the fleet (TARGET_NAME, a TARGETS entry or a discovered target):
its source server, database and subscription are that target's (`FleetTarget.settings_for`). The
drill records the target's name (`Drill.target_name`, journal column TargetName as runs have it),
so the invocations that advance it later use the same target's settings again, and its journal run
ticks that target's drill box only. A drill recorded before drills named their target is the
deployment's own.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.fleet import select_targets, targets_of
from checks.engine.i18n import msg
from checks.engine.model import NotConfigured

Lookup = Callable[[str], Settings]  # a target's name -> its settings; UnknownTarget when not in the fleet


class UnknownTarget(NotConfigured):
    """A target name the fleet does not have (the message names the known targets)."""

    def __init__(self, name: str, known: list[str]):
        self.name, self.known = name, known
        self.reason = msg("unknown target {name}; known targets: {known}", name=repr(name),
                          known=", ".join(known) or "-")
        super().__init__(self.reason)


def fleet_lookup(settings: Settings) -> Lookup:
    """The targets of TARGETS (else the deployment's own settings, a fleet of one), by name."""
    fleet = targets_of(settings)

    def lookup(name: str) -> Settings:
        try:
            return select_targets(fleet, [name])[0].settings_for(settings)
        except KeyError:
            raise UnknownTarget(name, [t.name for t in fleet]) from None
    return lookup


def production_servers(settings: Settings) -> set[str]:
    """Every configured target's PostgreSQL server name (and the deployment's own): the names a drill
    server never has and the sweeper never deletes."""
    names = {t.settings_for(settings).pg_server_name for t in targets_of(settings)} | {settings.pg_server_name}
    return {n for n in names if n}


def production_groups(settings: Settings) -> dict[str, str]:
    """Every resource group holding a production resource, lower-cased (Azure's names ignore case) ->
    what it holds: each target's server and storage account (TARGETS, else the deployment's own; the
    drilled target's own when discovered) and the journal (JOURNAL_RESOURCE_GROUP). No restore or drill
    server ever goes into one of them."""
    held: dict[str, str] = {}

    def add(group: str | None, what: str) -> None:
        if group:
            held.setdefault(group.lower(), what)
    add(settings.pg_resource_group, msg("the source server {server} (target {target})",
                                        server=settings.pg_server_name or "-", target=settings.target_name))
    for target in targets_of(settings):
        own = target.settings_for(settings)
        add(own.pg_resource_group, msg("the PostgreSQL server {server} of target {target}",
                                       server=own.pg_server_name or "-", target=target.name))
        add(own.storage_resource_group, msg("the storage account {account} of target {target}",
                                            account=own.storage_account_name or "-", target=target.name))
    add(settings.storage_resource_group, msg("the storage account {account} of target {target}",
                                             account=settings.storage_account_name or "-",
                                             target=settings.target_name))
    add(settings.journal_resource_group, msg("the verifier's journal (JOURNAL_RESOURCE_GROUP)"))
    return held


def refuse_production_drill_group(settings: Settings) -> None:
    """NotConfigured when RESTORE_DRILL_RESOURCE_GROUP holds a production resource (settings validation
    refuses it for TARGETS; this catches a discovered target's groups before anything is asked of Azure)."""
    group = settings.restore_drill_resource_group or ""
    held = production_groups(settings).get(group.lower())
    if held:
        raise NotConfigured(msg("RESTORE_DRILL_RESOURCE_GROUP {group} holds {what}: drill servers never live next "
                                "to production; choose a group of their own", group=group, what=held))


def target_context(ctx: RunContext, settings: Settings) -> RunContext:
    """A context for a target's settings sharing the clock, credential and transport of `ctx`; its own
    SDK clients (another target may be in another subscription). `ctx` itself when nothing changes."""
    if settings is ctx.settings:
        return ctx
    return RunContext(settings=settings, clock=ctx.clock, journal=ctx.journal, credential=ctx.credential,
                      azure_kwargs=ctx.azure_kwargs)


@contextmanager
def drill_context(ctx: RunContext, target_name: str, lookup: Lookup | None) -> Iterator[tuple[RunContext, str]]:
    """(context for the drill's target, "" or why its target could not be found). A drill without a
    target, or in a deployment without a fleet, runs with `ctx` itself; a target no longer in the fleet
    also gets `ctx` and the reason, so the caller stops the drill and still cleans up its server. A
    lookup that cannot answer now (discovery failed: CheckError) raises: the next invocation retries."""
    s = ctx.settings
    own_name = target_name == s.target_name and target_name not in {t.name for t in s.targets}
    if not target_name or own_name:  # the deployment's own settings are that target's
        yield ctx, ""
        return
    try:
        settings = (lookup or fleet_lookup(s))(target_name)
    except UnknownTarget as exc:
        yield ctx, msg("target {name} is no longer configured ({reason})", name=target_name, reason=exc.reason)
        return
    own = target_context(ctx, settings)
    try:
        yield own, ""
    finally:
        if own is not ctx:
            own.close()
