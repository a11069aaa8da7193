"""PostgreSQL flexible server protections beyond retention: immutable backups, customer-managed
key health, where the backups live (HDS: in the EEA) and long-term retention.

Checks: postgres.immutable_backup, postgres.encryption, postgres.backup_residency (from the one
`servers.get` of the run, shared with postgres.retention) and postgres.long_term_retention
(`backups_long_term_retention.list_by_server`). Reader on the server covers both reads.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from checks.connect.azure import arm_error, postgres_client, sdk_text
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import join_messages, msg, msgn, plain
from checks.engine.model import Outcome
from checks.engine.controls import LOCATION, MONITORING, PROTECTION
from checks.engine.regions import REGIONS, lookup, region_key
from checks.engine.registry import check
from checks.engine.timeutil import to_utc
from checks.families.postgres import server_target, shared_server
from checks.families.residency import Copy, copy_row

# Region pairs (where a geo-redundant backup goes: the region's pair, PostgreSQL flexible server "Backup and
# restore") and the EEA list live in one table, checks/engine/regions.py (sources cited there).
REGION_PAIRS: dict[str, str] = {name: r.pair for name, r in REGIONS.items() if r.pair}


@dataclass(frozen=True)
class ProtectionFacts:
    server: str
    state: str | None
    location: str | None
    geo_redundant_backup: str | None
    immutable_backup: str | None
    encryption_type: str | None  # SystemManaged | AzureKeyVault
    primary_key_status: str | None
    geo_key_status: str | None
    geo_key_configured: bool


def protection_facts(server: Any) -> ProtectionFacts:
    props = server.properties
    backup = getattr(props, "backup", None)
    enc = getattr(props, "data_encryption", None)
    return ProtectionFacts(
        server=server.name, state=sdk_text(getattr(props, "state", None)), location=server.location,
        geo_redundant_backup=sdk_text(backup.geo_redundant_backup) if backup else None,
        immutable_backup=sdk_text(backup.immutable_backup) if backup else None,
        encryption_type=sdk_text(enc.type) if enc else None,
        primary_key_status=sdk_text(enc.primary_encryption_key_status) if enc else None,
        geo_key_status=sdk_text(enc.geo_backup_encryption_key_status) if enc else None,
        geo_key_configured=bool(enc and enc.geo_backup_key_uri))


# --- postgres.immutable_backup -----------------------------------------------------------------------

def evaluate_immutable_backup(facts: ProtectionFacts, settings: Settings) -> Outcome:
    """Passes when the server's backups are immutable (`backup.immutableBackup` Enabled); warns
    otherwise (Disabled or not reported)."""
    details = {"server": facts.server, "immutable_backup": facts.immutable_backup}
    if (facts.immutable_backup or "").lower() == "enabled":
        return Outcome.passed(msg("immutable backups enabled on server {server}", server=facts.server), **details)
    return Outcome.warn(msg("immutable backups are {state} on server {server}: "
                            "a compromised administrator could shorten or remove the backups",
                            state=facts.immutable_backup or msg("not reported"), server=facts.server),
                        msg("Enable immutable backups on server {server} (Backup and restore settings).",
                            server=facts.server),
                        **details)


@check(id="postgres.immutable_backup", title="PostgreSQL: immutable backups", severity="medium",
       remediation="Enable immutable backups on the flexible server.",
       risk="Mutable backups can be deleted or shortened by an attacker holding administrative rights.",
        controls=PROTECTION)
def immutable_backup(ctx: RunContext) -> Outcome:
    return evaluate_immutable_backup(protection_facts(shared_server(ctx)), ctx.settings)


# --- postgres.encryption -----------------------------------------------------------------------------

def evaluate_encryption(facts: ProtectionFacts, settings: Settings) -> Outcome:
    """Fails when the server is Inaccessible (a revoked or missing key makes it and its restores
    unusable) or, with customer-managed keys (AzureKeyVault), when the primary key status, or the
    geo-backup key status when geo-redundant backup or a geo key is set, is not Valid. Warns when a
    needed key status is not reported. Passes with service-managed keys or Valid keys."""
    cmk = (facts.encryption_type or "").lower() == "azurekeyvault"
    geo_needed = cmk and (facts.geo_key_configured or (facts.geo_redundant_backup or "").lower() == "enabled")
    details = {"server": facts.server, "state": facts.state, "encryption_type": facts.encryption_type,
               "primary_key_status": facts.primary_key_status,
               "geo_backup_key_status": facts.geo_key_status if geo_needed else None}
    fix = msg("Restore access to the key: re-enable the key or its version in Key Vault, give the server's "
              "user-assigned identity 'Key Vault Crypto Service Encryption User' again, then revalidate the key.")
    if (facts.state or "").lower() == "inaccessible":
        return Outcome.fail(msg("server {server} is Inaccessible: its encryption key cannot be used, so the "
                                "server and any restore of it are unusable", server=facts.server), fix, **details)
    if not cmk:
        return Outcome.passed(msg("server {server} encrypted with {type} keys", server=facts.server,
                                  type=facts.encryption_type or msg("service-managed")), **details)
    keys = [(msg("primary key"), facts.primary_key_status)] + \
        ([(msg("geo-backup key"), facts.geo_key_status)] if geo_needed else [])
    invalid = [msg("{key} {status}", key=name, status=status) for name, status in keys
               if status and status.lower() != "valid"]
    unknown = [name for name, status in keys if not status]
    if invalid:
        return Outcome.fail(msg("customer-managed key on server {server} not Valid: {keys}", server=facts.server,
                                keys=join_messages(invalid, ", ")), fix, **details)
    if unknown:
        return Outcome.warn(msg("customer-managed key status not reported on server {server}: {keys}",
                                server=facts.server, keys=join_messages(unknown, ", ")),
                            msg("Check the server's Data encryption blade for the key status."), **details)
    return Outcome.passed(msg("customer-managed keys Valid on server {server} ({keys})", server=facts.server,
                              keys=join_messages([n for n, _ in keys], ", ")), **details)


@check(id="postgres.encryption", title="PostgreSQL: encryption keys usable", severity="critical",
       remediation="Keep the customer-managed key (and the geo-backup key) enabled and accessible to the server.",
       risk="A revoked customer-managed key makes the server and every restore of its backups unreadable.",
        controls=PROTECTION)
def encryption(ctx: RunContext) -> Outcome:
    return evaluate_encryption(protection_facts(shared_server(ctx)), ctx.settings)


# --- postgres.backup_residency -----------------------------------------------------------------------

def evaluate_backup_residency(facts: ProtectionFacts, settings: Settings) -> Outcome:
    """Passes when every region holding backups (the server's region, plus its Azure pair when
    geo-redundant backup is on) is in ALLOWED_BACKUP_REGIONS (default: the EEA regions, for HDS).
    Fails when one is not; warns when geo-redundant backup is on but the region has no pair in
    the cited table (the geo-backup region cannot be told)."""
    allowed = set(settings.allowed_backup_regions)
    region = region_key(facts.location)
    geo = (facts.geo_redundant_backup or "").lower() == "enabled"
    pair = REGION_PAIRS.get(region) if geo else None
    regions = [region] + ([pair] if pair else [])
    outside = [r for r in regions if r not in allowed]
    details = {"server": facts.server, "region": region, "geo_redundant_backup": facts.geo_redundant_backup,
               "geo_backup_region": pair, "backup_regions": regions, "outside": outside,
               "allowed_regions": sorted(allowed), "copies": _copies(facts.server, region, geo, pair, allowed)}
    unknown = [r for r in outside if lookup(r) is None]
    if unknown:
        return Outcome.fail(msg("unknown region {region} holds backups of server {server}: cannot prove it is in "
                                "the EEA", region=", ".join(r or "?" for r in unknown), server=facts.server),
                            msg("Check the server's region; add the region to checks/engine/regions.py (with its "
                                "pair and whether it is in the EEA) if Azure opened it, or to ALLOWED_BACKUP_REGIONS."),
                            **details)
    if outside:
        return Outcome.fail(msg("backups of server {server} are kept in {regions}, outside "
                                "ALLOWED_BACKUP_REGIONS (health data must stay in the EEA under HDS)",
                                server=facts.server, regions=", ".join(outside)),
                            msg("Move the server to an allowed region whose pair is allowed too, or turn geo-redundant "
                            "backup off (chosen at creation: restore to a new server), or correct "
                            "ALLOWED_BACKUP_REGIONS."), **details)
    if geo and pair is None:
        return Outcome.warn(msg("geo-redundant backup is on but region {region} has no pair in the verifier's "
                                "table: the geo-backup region of server {server} is unknown",
                                region=region, server=facts.server),
                            msg("Look up the server's geo-backup region in the portal and update the region table "
                                "(checks/engine/regions.py) if Azure added a pair."), **details)
    return Outcome.passed(msg("backups of server {server} stay in {regions} (allowed)", server=facts.server,
                              regions=", ".join(regions)), **details)


def _copies(server: str, region: str, geo: bool, pair: str | None, allowed: set[str]) -> list[dict[str, Any]]:
    """The copies as facts for the report's "all copies in the EEA" line (checks/report/residency.py)."""
    why = msg("no paired region: the geo-backup region is unknown")
    copies = [Copy("server", server, region or None)] + ([Copy("geo_backup", server, pair, why)] if geo else [])
    return [copy_row(c, allowed) for c in copies]


@check(id="postgres.backup_residency", title="PostgreSQL: backups stay in allowed regions", severity="high",
       remediation="Keep the server and its geo-backup pair inside ALLOWED_BACKUP_REGIONS.",
       risk="A geo-backup copied outside the EEA breaks French health-data hosting (HDS) rules.",
        controls=LOCATION)
def backup_residency(ctx: RunContext) -> Outcome:
    return evaluate_backup_residency(protection_facts(shared_server(ctx)), ctx.settings)


# --- postgres.long_term_retention --------------------------------------------------------------------

LTR_NOT_REQUIRED = msg("LTR_REQUIRED is false: long-term retention not checked")


@dataclass(frozen=True)
class LtrOperation:
    name: str | None
    status: str | None  # Running | Cancelled | Failed | Succeeded
    start: datetime | None
    end: datetime | None
    error: str | None


@dataclass(frozen=True)
class LtrFacts:
    server: str
    now: datetime
    operations: tuple[LtrOperation, ...]


def ltr_operations(models: list) -> tuple[LtrOperation, ...]:
    out = []
    for m in models:
        p = m.properties
        out.append(LtrOperation(name=p.backup_name or m.name, status=sdk_text(p.status), start=to_utc(p.start_time),
                                end=to_utc(p.end_time), error=p.error_message or p.error_code))
    return tuple(out)


def evaluate_long_term_retention(facts: LtrFacts, settings: Settings) -> Outcome:
    """With LTR_REQUIRED=true: passes when the newest Succeeded long-term retention backup ended
    within LTR_MAX_AGE_DAYS; fails when none succeeded or the newest is older (naming the last
    failure). Skipped when LTR_REQUIRED is false."""
    max_days = settings.ltr_max_age_days
    if not settings.ltr_required:
        return Outcome.skipped(LTR_NOT_REQUIRED)
    floor = datetime.min.replace(tzinfo=timezone.utc)
    ordered = sorted(facts.operations, key=lambda o: o.end or o.start or floor, reverse=True)
    done = [o for o in ordered if (o.status or "").lower() == "succeeded"]
    failed = next((o for o in ordered if (o.status or "").lower() in ("failed", "cancelled")), None)
    details: dict[str, Any] = {"server": facts.server, "operations": len(ordered), "max_age_days": max_days,
                               "statuses": [f"{o.name}: {o.status}" for o in ordered[:10]],
                               "last_failure": f"{failed.name}: {failed.status} {failed.error or ''}".strip()
                               if failed else None}
    fix = msg("Check the Azure Backup vault's long-term retention policy for the server (or start an LTR backup) "
              "and why recent operations did not succeed.")
    if not done:
        return Outcome.fail(msgn("no succeeded long-term retention backup for server {server} ({count} operation "
                                 "listed)",
                                 "no succeeded long-term retention backup for server {server} ({count} operations "
                                 "listed)", "count", server=facts.server, count=len(ordered)),
                            fix, **details)
    newest = done[0]
    when = newest.end or newest.start
    age_days = round((facts.now - when).total_seconds() / 86400, 1)
    details.update(last_ltr_backup=newest.name, last_ltr_at=when.isoformat(timespec="seconds"), age_days=age_days)
    if age_days > max_days:
        return Outcome.fail(msgn("newest long-term retention backup {backup} is {age_days} day old (limit "
                                 "LTR_MAX_AGE_DAYS={max_days})",
                                 "newest long-term retention backup {backup} is {age_days} days old (limit "
                                 "LTR_MAX_AGE_DAYS={max_days})", "age_days",
                                 backup=newest.name, age_days=plain(age_days),
                                 max_days=max_days), fix, **details)
    return Outcome.passed(msgn("newest long-term retention backup {backup} succeeded {age_days} day ago (limit "
                               "{max_days})",
                               "newest long-term retention backup {backup} succeeded {age_days} days ago (limit "
                               "{max_days})", "age_days", backup=newest.name, age_days=plain(age_days),
                               max_days=max_days), **details)


@check(id="postgres.long_term_retention", title="PostgreSQL: recent long-term retention backup",
       severity="high",
       remediation="Keep long-term retention backups running (Azure Backup vault policy) when LTR_REQUIRED=true.",
       risk="Without long-term backups, data older than the 35-day window is gone for audits or late discoveries.",
        controls=MONITORING)
def long_term_retention(ctx: RunContext) -> Outcome:
    if not ctx.settings.ltr_required:  # no ARM call for a capability not asked for
        return Outcome.skipped(LTR_NOT_REQUIRED)
    target = server_target(ctx)
    client = postgres_client(ctx)
    from azure.core.exceptions import AzureError  # lazy: cold start
    try:
        models = list(client.backups_long_term_retention.list_by_server(target.resource_group, target.server_name))
    except AzureError as exc:
        raise arm_error(exc, target.resource, target.scope, role="Reader") from exc
    return evaluate_long_term_retention(LtrFacts(target.server_name, to_utc(ctx.now()), ltr_operations(models)),
                                        ctx.settings)
