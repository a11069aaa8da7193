"""postgres.restore_residency: where the restore drill and the incident restore put their copies.

Both restore with PointInTimeRestore into the source server's own region (checks/drill/state.py
begin_restore: `location=source.location`), so the next drill's or incident restore's copy lives where
the server does; the servers they left in RESTORE_DRILL_RESOURCE_GROUP (kept drills, incident
restores) are listed with their own region and, when geo-redundant, their pair. Judged with the one
residency rule (checks/families/residency.py judge). Reader on the drill group covers the list.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.connect.azure import arm_error, postgres_client, sdk_text
from checks.drill.state import CREATED_BY, PURPOSE_INCIDENT, TAG_CREATED_BY, TAG_DRILL_ID, TAG_PURPOSE, TAG_SOURCE
from checks.engine.config import Settings
from checks.engine.controls import LOCATION  # the audit controls this check evidences (issue 30 item 2)
from checks.engine.context import RunContext
from checks.engine.i18n import msg
from checks.engine.model import Outcome
from checks.engine.regions import display, paired, region_key
from checks.engine.registry import check
from checks.families.postgres import shared_server
from checks.families.residency import Copy, judge


@dataclass(frozen=True)
class RestoredServer:
    name: str
    kind: str  # drill_server | restore_server
    location: str | None
    geo_redundant_backup: str | None


@dataclass(frozen=True)
class RestoreResidencyFacts:
    server: str
    source_location: str | None  # where the next drill or incident restore goes
    drill_group: str | None  # None: RESTORE_DRILL_RESOURCE_GROUP not set, no server listed
    servers: tuple[RestoredServer, ...]


def restored_kind(tags: dict[str, str] | None) -> str | None:
    """drill_server or restore_server for a server this verifier created, None for any other."""
    tags = tags or {}
    if tags.get(TAG_CREATED_BY) != CREATED_BY:
        return None
    if tags.get(TAG_PURPOSE) == PURPOSE_INCIDENT:
        return "restore_server"
    return "drill_server" if tags.get(TAG_DRILL_ID) else None


def restored_servers(models: list[Any], source: str | None = None) -> tuple[RestoredServer, ...]:
    """The verifier's servers in a drill group; with `source`, only those restored from it: a group shared by
    several targets holds other targets' copies (a server without a source tag is kept: it cannot be told)."""
    out = []
    for m in models:
        kind = restored_kind(m.tags)
        tagged = (m.tags or {}).get(TAG_SOURCE)
        if kind is None or (source and tagged and tagged.lower() != source.lower()):
            continue
        backup = getattr(getattr(m, "properties", None), "backup", None)
        out.append(RestoredServer(str(m.name), kind, m.location,
                                  sdk_text(backup.geo_redundant_backup) if backup is not None else None))
    return tuple(out)


def restore_copies(facts: RestoreResidencyFacts) -> list[Copy]:
    source = region_key(facts.source_location) or None
    copies = [Copy("next_restore", facts.server, source,
                   msg("server {server} does not report its region", server=facts.server))]
    for s in facts.servers:
        region = region_key(s.location) or None
        copies.append(Copy(s.kind, s.name, region, msg("server {server} does not report its region", server=s.name)))
        if (s.geo_redundant_backup or "").lower() == "enabled":
            copies.append(Copy("geo_backup", s.name, paired(region), msg(
                "geo-redundant backup is on for server {server} in {region}, a region without a pair (or not in "
                "the verifier's table): its geo-backup region is unknown", server=s.name,
                region=display(region) or "?")))
    return copies


def evaluate_restore_residency(facts: RestoreResidencyFacts, settings: Settings) -> Outcome:
    """The region where the next drill or incident restore creates its server (the source server's:
    point-in-time restores stay in the source region) and every drill or incident-restore server
    found in RESTORE_DRILL_RESOURCE_GROUP (its region, and its pair when its geo-backup is on), judged
    by the one residency rule: passes when all are in ALLOWED_BACKUP_REGIONS; fails on a region outside
    it or unknown; warns when a region cannot be told."""
    details = {"server": facts.server, "drill_resource_group": facts.drill_group,
               "restored_servers": [s.name for s in facts.servers]}
    return judge(restore_copies(facts), settings, msg("server {server} (drills and incident restores)",
                                                      server=facts.server), **details)


def listed_servers(ctx: RunContext, group: str) -> list[Any]:
    from azure.core.exceptions import AzureError  # lazy: cold start
    try:
        return list(postgres_client(ctx).servers.list_by_resource_group(group))
    except AzureError as exc:
        raise arm_error(exc, msg("servers of {group}", group=group), msg("resource group {group}", group=group),
                        role="Reader") from exc


@check(id="postgres.restore_residency", title="PostgreSQL: drill and incident-restore servers in allowed regions",
       severity="high",
       remediation="Keep the source server (drills and incident restores restore into its region) and every "
                   "drill or restore server inside ALLOWED_BACKUP_REGIONS.",
       risk="A restored copy of the database outside the EEA breaks French health-data hosting (HDS) rules.",
       controls=LOCATION)
def restore_residency(ctx: RunContext) -> Outcome:
    source = shared_server(ctx)
    group = ctx.settings.restore_drill_resource_group
    servers = restored_servers(listed_servers(ctx, group), str(source.name)) if group else ()
    return evaluate_restore_residency(RestoreResidencyFacts(str(source.name), source.location, group, servers),
                                      ctx.settings)
