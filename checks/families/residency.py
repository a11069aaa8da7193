"""Where every copy of the data lives (HDS EXI 28: health data and its backups stay in the EEA).

Checks: storage.replication_residency (the checked account and, with GRS/RA-GRS/GZRS/RA-GZRS, its
secondary region) and postgres.ltr_residency (the Backup vaults holding the server's long-term
retention backups, and their paired region when the vault is geo-redundant). postgres.backup_residency
(checks/families/postgres_protection.py) covers the server and its geo-backup; postgres.restore_residency
(checks/drill/residency.py) the drill and incident-restore servers.

Each copy is one fact (`Copy`: what, of what, in which region); `judge` is the one rule over them,
with the regions of checks/engine/regions.py: a copy in a region outside ALLOWED_BACKUP_REGIONS
fails, a region the table does not know fails ("cannot prove it is in the EEA"), a copy whose
region cannot be told (geo-redundancy in a nonpaired region) warns. Never a pass on doubt.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.connect.azure import sdk_text, storage_account
from checks.engine.config import Settings
from checks.engine.controls import LOCATION  # the audit controls these checks evidence (issue 30 item 2)
from checks.engine.context import RunContext
from checks.engine.i18n import join_messages, msg, msgn
from checks.engine.model import Outcome
from checks.engine.regions import display, in_eea, kind_label, lookup, paired, region_key
from checks.engine.registry import check
from checks.families.postgres import server_target

@dataclass(frozen=True)
class Copy:
    kind: str  # one of checks.engine.regions.COPY_KINDS
    of: str  # the name of the resource it is (a copy of)
    region: str | None  # normalised region name; None = where the copy goes cannot be told
    why_unknown: str = ""  # with region None: why (a Message)


def copy_row(c: Copy, allowed: set[str]) -> dict[str, Any]:
    """A copy as journal facts: the report's "all copies in the EEA" line reads these."""
    place = "not told" if c.region is None else "allowed" if c.region in allowed else \
        "outside" if lookup(c.region) else "unknown region"
    return {"copy": c.kind, "of": c.of, "region": c.region, "eea": in_eea(c.region) if c.region else None,
            "place": place}


def _named(c: Copy) -> str:
    return msg("{what} {of} in {region}", what=kind_label(c.kind), of=c.of, region=display(c.region))


def judge(copies: list[Copy], settings: Settings, subject: str, **details: Any) -> Outcome:
    """Passes when every copy is in ALLOWED_BACKUP_REGIONS. Fails when one is in a known region
    outside it, or in a region the table does not know (nothing proves it is in the EEA). Warns
    when a copy's region cannot be told. The facts list every copy."""
    allowed = set(settings.allowed_backup_regions)
    rows = [copy_row(c, allowed) for c in copies]
    details.update(copies=rows, allowed_regions=sorted(allowed),
                   outside=[f"{r['region']}" for r in rows if r["place"] in ("outside", "unknown region")])
    unknown = [c for c in copies if c.region and c.region not in allowed and not lookup(c.region)]
    outside = [c for c in copies if c.region and c.region not in allowed and lookup(c.region)]
    fix = msg("Keep every copy in an allowed region: choose regions (and a pair) inside ALLOWED_BACKUP_REGIONS, "
              "or correct ALLOWED_BACKUP_REGIONS if the policy allows that region.")
    if unknown or outside:
        parts = [msg("unknown region {region} ({copy}): cannot prove it is in the EEA", region=c.region,
                     copy=_named(c)) for c in unknown]
        parts += [msg("{copy} is outside ALLOWED_BACKUP_REGIONS", copy=_named(c)) for c in outside]
        return Outcome.fail(msg("copies of {subject} outside the allowed regions (health data must stay in the "
                                "EEA under HDS): {problems}", subject=subject, problems=join_messages(parts)),
                            fix, **details)
    doubts = [c.why_unknown for c in copies if c.region is None]
    if doubts:
        return Outcome.warn(msg("where a copy of {subject} lives cannot be told: {why}", subject=subject,
                                why=join_messages(doubts)),
                            msg("Find the copy's region in the portal; turn geo-redundancy off in a region without "
                                "a pair, or move to a paired region whose pair is allowed."), **details)
    return Outcome.passed(msgn("the {count} copy of {subject} is in an allowed region: {regions}",
                               "all {count} copies of {subject} are in allowed regions: {regions}", "count",
                               count=len(copies), subject=subject,
                               regions=join_messages([_named(c) for c in copies], ", ")), **details)


# --- storage.replication_residency ------------------------------------------------------------------

GEO_SKUS = ("standard_grs", "standard_ragrs", "standard_gzrs", "standard_ragzrs")


@dataclass(frozen=True)
class StorageResidencyFacts:
    account: str
    location: str | None  # primaryLocation (or location)
    sku: str | None  # Standard_LRS, Standard_GRS, ...
    secondary_location: str | None  # reported by ARM for a geo-redundant account


def storage_residency_facts(account: Any, name: str) -> StorageResidencyFacts:
    sku = getattr(account, "sku", None)
    return StorageResidencyFacts(account=name,
                                 location=getattr(account, "primary_location", None) or account.location,
                                 sku=sdk_text(sku.name) if sku is not None else None,
                                 secondary_location=getattr(account, "secondary_location", None))


def storage_copies(facts: StorageResidencyFacts) -> list[Copy]:
    of = facts.account
    primary = region_key(facts.location) or None
    copies = [Copy("primary", of, primary, msg("the account does not report its region"))]
    if (facts.sku or "").lower() not in GEO_SKUS:
        return copies
    reported, pair = region_key(facts.secondary_location) or None, paired(primary)
    if lookup(primary) and pair is None:  # nonpaired: Azure offers no GRS there, whatever is reported
        copies.append(Copy("secondary", of, None, msg(
            "{sku} on account {account} in {region}, a region without a pair: Azure offers no geo-redundant "
            "storage there, so where the secondary copy goes is not defined (reported: {reported})",
            sku=facts.sku, account=facts.account, region=display(primary),
            reported=reported or msg("nothing"))))
    elif reported or pair:
        copies.append(Copy("secondary", of, reported or pair))
    else:
        copies.append(Copy("secondary", of, None, msg(
            "{sku} on account {account}: no secondary region reported and region {region} is not in the "
            "verifier's table", sku=facts.sku, account=facts.account, region=primary or "?")))
    return copies


def evaluate_storage_residency(facts: StorageResidencyFacts, settings: Settings) -> Outcome:
    """The account's region and, for a geo-redundant SKU (GRS, RA-GRS, GZRS, RA-GZRS), its secondary
    region (ARM's secondaryLocation, else the region's pair), each judged by `judge`: passes when all
    are in ALLOWED_BACKUP_REGIONS; fails on a region outside it or unknown; warns on geo-redundancy in
    a nonpaired region (Azure offers no GRS there: the secondary is not defined)."""
    return judge(storage_copies(facts), settings, msg("account {account}", account=facts.account),
                 account=facts.account, sku=facts.sku, region=region_key(facts.location) or None,
                 secondary_region=region_key(facts.secondary_location) or None,
                 paired_region=paired(facts.location))


@check(id="storage.replication_residency", title="Storage: every replica in allowed regions", severity="high",
       remediation="Keep the account, and its secondary region when geo-redundant, inside ALLOWED_BACKUP_REGIONS.",
       risk="A geo-redundant replica outside the EEA breaks French health-data hosting (HDS) rules.",
       controls=LOCATION)
def replication_residency(ctx: RunContext) -> Outcome:
    account = storage_account(ctx)  # the run's one GET of the account, shared
    return evaluate_storage_residency(storage_residency_facts(account, ctx.settings.storage_account_name),
                                      ctx.settings)


# --- postgres.ltr_residency -------------------------------------------------------------------------

LTR_SKIPPED = msg("LTR_REQUIRED is false: where long-term retention backups live is not checked")


@dataclass(frozen=True)
class LtrVault:
    name: str
    location: str | None
    redundancy: str | None  # storageSettings[0].type: LocallyRedundant | ZoneRedundant | GeoRedundant


@dataclass(frozen=True)
class LtrResidencyFacts:
    server: str
    vaults: tuple[LtrVault, ...]  # Backup vaults holding a backup instance of the server


def ltr_copies(facts: LtrResidencyFacts) -> list[Copy]:
    copies = []
    for v in facts.vaults:
        region = region_key(v.location) or None
        copies.append(Copy("ltr_vault", v.name, region, msg("vault {vault} does not report its region", vault=v.name)))
        if (v.redundancy or "").lower() == "georedundant":
            pair = paired(region)
            copies.append(Copy("ltr_vault_pair", v.name, pair, msg(
                "vault {vault} is geo-redundant in {region}, a region without a pair (or not in the verifier's "
                "table): where its second copy goes is not defined", vault=v.name, region=display(region) or "?")))
    return copies


def evaluate_ltr_residency(facts: LtrResidencyFacts, settings: Settings) -> Outcome:
    """With LTR_REQUIRED=true: the Backup vaults holding the server's long-term retention backups
    (Azure Resource Graph: backup instances whose data source is the server) and, for a GeoRedundant
    vault, its paired region, judged by `judge`: passes when all are in ALLOWED_BACKUP_REGIONS; fails on
    a region outside it or unknown; warns on a geo-redundant vault in a nonpaired region, and when no
    vault is found (the LTR copies cannot be placed). Skipped when LTR_REQUIRED is false."""
    if not settings.ltr_required:
        return Outcome.skipped(LTR_SKIPPED)
    details = {"server": facts.server, "vaults": [{"name": v.name, "location": v.location,
                                                   "redundancy": v.redundancy} for v in facts.vaults]}
    if not facts.vaults:
        return Outcome.warn(msg("no Backup vault with a backup instance of server {server} was found: where its "
                                "long-term retention backups live cannot be told", server=facts.server),
                            msg("Give the verifier's identity Reader on the resource group of the Backup vault "
                                "(Azure Resource Graph lists only what it can read; discovery's Reader is granted per "
                                "resource group): add the group to DISCOVER_RESOURCE_GROUPS (subscription/group when "
                                "it is in another subscription) and deploy again, or assign Reader on it by hand; or "
                                "protect the server with a Backup vault in an allowed region."),
                            copies=[], grant="Reader", **details)
    return judge(ltr_copies(facts), settings, msg("server {server} (long-term retention)", server=facts.server),
                 **details)


def ltr_queries(server_id: str) -> tuple[str, str]:
    """Resource Graph: the server's backup instances (their vault ids), then the vaults."""
    instances = ("RecoveryServicesResources | where type =~ 'microsoft.dataprotection/backupvaults/backupinstances' "
                 f"| where tolower(tostring(properties.dataSourceInfo.resourceID)) == '{server_id.lower()}' "
                 "| project vaultId = tolower(tostring(split(id, '/backupInstances/')[0]))")
    vaults = ("Resources | where type =~ 'microsoft.dataprotection/backupvaults' "
              "| project id = tolower(id), name, location, redundancy = tostring(properties.storageSettings[0].type)")
    return instances, vaults


def ltr_vaults(ctx: RunContext, server_id: str) -> tuple[LtrVault, ...]:
    from azure.core.exceptions import AzureError  # lazy: cold start
    from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions
    from checks.connect.azure import arm_error
    from checks.connect.discovery import resource_graph_client

    client, subscription = resource_graph_client(ctx), ctx.settings.azure_subscription_id
    instances, vaults = ltr_queries(server_id)

    def rows(query: str) -> list[dict[str, Any]]:
        request = QueryRequest(subscriptions=[subscription], query=query,
                               options=QueryRequestOptions(result_format="objectArray"))
        return list(client.resources(request).data or [])
    try:
        wanted = {str(r.get("vaultId") or "") for r in rows(instances)}
        found = [r for r in rows(vaults) if str(r.get("id") or "") in wanted] if wanted else []
    except AzureError as exc:
        raise arm_error(exc, msg("Backup vaults"),
                        msg("Azure Resource Graph (subscription {subscription})", subscription=subscription)) from exc
    return tuple(LtrVault(str(r.get("name") or r.get("id")), r.get("location"), r.get("redundancy")) for r in found)


@check(id="postgres.ltr_residency", title="PostgreSQL: long-term retention backups in allowed regions",
       severity="high",
       remediation="Keep the Backup vault of the long-term retention backups (and its pair, when geo-redundant) "
                   "inside ALLOWED_BACKUP_REGIONS.",
       risk="Long-term backups kept in a vault outside the EEA break French health-data hosting (HDS) rules.",
       controls=LOCATION)
def ltr_residency(ctx: RunContext) -> Outcome:
    if not ctx.settings.ltr_required:  # no query for a capability not asked for
        return Outcome.skipped(LTR_SKIPPED)
    t = server_target(ctx)
    server_id = (f"/subscriptions/{t.subscription_id}/resourceGroups/{t.resource_group}/providers/"
                 f"Microsoft.DBforPostgreSQL/flexibleServers/{t.server_name}")
    return evaluate_ltr_residency(LtrResidencyFacts(t.server_name, ltr_vaults(ctx, server_id)), ctx.settings)
