"""Azure Database for PostgreSQL flexible server: backups and retention, through the management plane.

The procedure's monthly review ("at least one recent backup visible, note its date/time;
retention conforms: 7, 14 or 35 days by plan, enough to cover human error") without the Azure
CLI: `PostgreSQLManagementClient` (API 2026-10-01) with the run's credential. Reading needs the
**Reader** role on the server.

`get_server(ctx, name=None)` is reusable (the restore drill reads the source and the restored
server with it): it returns the SDK `Server` model, with SDK errors already mapped to
`CheckError`s that say what to do. `server_facts(server, now)` turns it into plain facts.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from checks.connect.azure import arm_error, fetch_once, postgres_client, sdk_text
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import join_messages, msg, msgn, plain
from checks.engine.model import Outcome, Status
from checks.engine.controls import MONITORING, PROTECTION
from checks.engine.registry import check
from checks.engine.timeutil import iso_seconds, to_utc

LISTING_CAP = 20  # backups printed under the result (newest first)
FUTURE_SKEW_TOLERANCE = timedelta(minutes=5)  # a backup this little "in the future" is clock noise


# --- targeting and the reusable server read ---------------------------------------------------

@dataclass(frozen=True)
class ServerTarget:
    subscription_id: str
    resource_group: str
    server_name: str

    @property
    def resource(self) -> str:
        return msg("server {server}", server=self.server_name)

    @property
    def scope(self) -> str:
        return msg("resource group {group} (subscription {subscription})", group=self.resource_group,
                   subscription=self.subscription_id)


def server_target(ctx: RunContext, name: str | None = None, resource_group: str | None = None) -> ServerTarget:
    """Which server to read: `name`/`resource_group` or PG_SERVER_NAME/PG_RESOURCE_GROUP (CLI flags
    --azure-server/--azure-resource-group override those). NotConfigured (→ skipped) names every
    missing variable."""
    needed = ["azure_subscription_id"]
    if resource_group is None:
        needed.append("pg_resource_group")
    if name is None:
        needed.append("pg_server_name")
    ctx.settings.require(*needed)
    return ServerTarget(ctx.settings.azure_subscription_id, resource_group or ctx.settings.pg_resource_group,
                        name or ctx.settings.pg_server_name)


def get_server(ctx: RunContext, name: str | None = None, resource_group: str | None = None) -> Any:
    """The SDK `Server` model of `name` (default PG_SERVER_NAME) in `resource_group` (default
    PG_RESOURCE_GROUP), read with the run's shared client.

    Raises NotConfigured when the target is not configured, and CheckError (403 → grant Reader,
    404 → not found in resource group/subscription, 429/5xx after the SDK's retries, no credential)
    otherwise. A CheckError's `details["http_status"]` carries the HTTP status when there was one.
    """
    from azure.core.exceptions import AzureError

    target = server_target(ctx, name, resource_group)
    client = postgres_client(ctx)
    try:
        return client.servers.get(target.resource_group, target.server_name)
    except AzureError as exc:  # HTTP, network and credential errors (CredentialUnavailableError too)
        raise arm_error(exc, target.resource, target.scope, role="Reader") from exc


def shared_server(ctx: RunContext) -> Any:
    """PG_SERVER_NAME's `Server` model, read once per run and shared by every check that judges
    it (retention, immutable backup, encryption, residency); errors as in get_server."""
    target = server_target(ctx)
    return fetch_once(ctx, f"pg-server:{target.resource_group}/{target.server_name}", lambda: get_server(ctx))


def list_backups(ctx: RunContext, name: str | None = None, resource_group: str | None = None) -> list:
    """All backups (automatic and on-demand) of the server, as SDK models; errors mapped as in get_server."""
    from azure.core.exceptions import AzureError

    target = server_target(ctx, name, resource_group)
    client = postgres_client(ctx)
    try:
        return list(client.backups_automatic_and_on_demand.list_by_server(target.resource_group,
                                                                           target.server_name))
    except AzureError as exc:
        raise arm_error(exc, target.resource, target.scope, role="Reader") from exc


# --- facts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerFacts:
    name: str
    state: str | None
    sku_tier: str | None
    sku_name: str | None
    retention_days: int | None
    geo_redundant_backup: str | None  # "Enabled" | "Disabled" | None
    earliest_restore: datetime | None
    created_at: datetime | None
    location: str | None
    version: str | None
    checked_at: datetime


def server_facts(server: Any, now: datetime) -> ServerFacts:
    props = server.properties
    backup = props.backup if props is not None else None
    sku = server.sku
    system = server.system_data
    return ServerFacts(
        name=server.name,
        state=sdk_text(props.state) if props is not None else None,
        sku_tier=sdk_text(sku.tier) if sku is not None else None,
        sku_name=sku.name if sku is not None else None,
        retention_days=backup.backup_retention_days if backup is not None else None,
        geo_redundant_backup=sdk_text(backup.geo_redundant_backup) if backup is not None else None,
        earliest_restore=to_utc(backup.earliest_restore_date) if backup is not None else None,
        created_at=to_utc(system.created_at) if system is not None else None,
        location=server.location,
        version=sdk_text(props.version) if props is not None else None,
        checked_at=to_utc(now),
    )


@dataclass(frozen=True)
class BackupItem:
    name: str
    backup_type: str | None  # "Full" | "Customer On-Demand"
    source: str | None  # "Automatic" | "Customer Initiated"
    completed_at: datetime | None


@dataclass(frozen=True)
class BackupFacts:
    server: str
    backups: tuple[BackupItem, ...]
    checked_at: datetime


def backup_items(models: list) -> tuple[BackupItem, ...]:
    return tuple(BackupItem(name=b.name, backup_type=sdk_text(b.backup_type), source=sdk_text(b.source),
                            completed_at=to_utc(b.completed_time)) for b in models)


# --- pure rules -----------------------------------------------------------------------------

def _hours(delta: timedelta) -> float:
    return round(delta.total_seconds() / 3600, 1)


def _newest_first(backups: tuple[BackupItem, ...]) -> list[BackupItem]:
    """Newest completed first; backups without a completion time (in progress) at the top."""
    floor = datetime.min.replace(tzinfo=timezone.utc)
    return sorted(backups, key=lambda b: (b.completed_at is None, b.completed_at or floor), reverse=True)


def backup_listing(backups: tuple[BackupItem, ...], cap: int = LISTING_CAP) -> list[str]:
    """One short line of data per backup, newest first, at most `cap` lines: completion time (`-` while
    in progress), type, name, source. Words about it are details of their own (`listed_backups`), so the
    journal keeps no English sentence inside a list (pages and the CLI say them in the reader's language)."""
    rows = _newest_first(backups)[:cap]
    return [f"{iso_seconds(b.completed_at) or '-':<25}  {b.backup_type or '?':<18}  {b.name}"
            + (f"  ({b.source})" if b.source else "") for b in rows]


def listed_backups(backups: tuple[BackupItem, ...], cap: int = LISTING_CAP) -> dict[str, Any]:
    """The listing detail and, when there are some, how many backups are in progress and how many
    older ones the listing leaves out (numbers: each face words them)."""
    running = sum(1 for b in backups if b.completed_at is None)
    return {"listing": backup_listing(backups, cap), **({"in_progress": running} if running else {}),
            **({"not_listed": len(backups) - cap} if len(backups) > cap else {})}


def evaluate_backup_recent(facts: BackupFacts, settings: Settings) -> Outcome:
    """Passes when the newest completed backup is younger than BACKUP_MAX_AGE_HOURS.

    Fails when no completed backup is listed or the newest is older than the limit. Warns when
    the newest backup's completion time is ahead of the verifier's clock (clock skew: the age
    cannot be trusted).
    """
    max_age = settings.backup_max_age_hours
    now = facts.checked_at
    completed = [b for b in _newest_first(facts.backups) if b.completed_at is not None]
    details: dict[str, Any] = {"server": facts.server, "backup_count": len(facts.backups),
                               "max_age_hours": max_age, "checked_at": iso_seconds(now)}
    if not completed:
        in_progress = len(facts.backups)
        return Outcome.fail(
            msg("no completed backup listed for server {server} ({count} in progress)", server=facts.server,
                count=in_progress) if in_progress else
            msg("no completed backup listed for server {server}", server=facts.server),
            msg("Check the server's Backup and restore blade: automatic backups should appear daily. "
                "If none do, open an Azure support request and take an on-demand backup meanwhile."),
            **details, last_backup_at=None, **listed_backups(facts.backups))
    newest = completed[0]
    age = now - newest.completed_at
    details.update(last_backup_name=newest.name, last_backup_type=newest.backup_type,
                   last_backup_source=newest.source, last_backup_at=iso_seconds(newest.completed_at),
                   age_hours=_hours(age), **listed_backups(facts.backups))
    described = msg("{name} ({type}) completed {at}", name=newest.name, type=newest.backup_type or msg("unknown type"),
                    at=iso_seconds(newest.completed_at))
    if age < -FUTURE_SKEW_TOLERANCE:
        ahead = _hours(-age)
        details["ahead_of_clock_hours"] = ahead
        return Outcome.warn(
            msgn("newest backup {backup}, {hours} h AHEAD of the verifier's clock ({now}): clock skew, its age "
                 "cannot be judged; {count} backup listed",
                 "newest backup {backup}, {hours} h AHEAD of the verifier's clock ({now}): clock skew, its age "
                 "cannot be judged; {count} backups listed", "count", backup=described, hours=plain(ahead),
                 now=iso_seconds(now), count=len(facts.backups)),
            msg("Check the verifier host's clock (NTP) and the backup's completion time in the portal."),
            **details)
    if age > timedelta(hours=max_age):
        return Outcome.fail(
            msgn("newest backup {backup}, {hours} h ago: older than {max_age} h; {count} backup listed",
                 "newest backup {backup}, {hours} h ago: older than {max_age} h; {count} backups listed",
                 "count",
                 backup=described, hours=plain(_hours(age)), max_age=plain(max_age), count=len(facts.backups)),
            msg("Automatic backups are daily: check the server's state and the Backup and restore blade; "
                "take an on-demand backup and open an Azure support request if backups stopped."),
            **details)
    if age < timedelta(0):  # within the skew tolerance: count it as just now
        age = timedelta(0)
        details["age_hours"] = 0.0
    return Outcome.passed(msgn("newest backup {backup}, {hours} h ago (limit {max_age} h); {count} backup listed",
                               "newest backup {backup}, {hours} h ago (limit {max_age} h); {count} backups listed",
                               "count", backup=described, hours=plain(_hours(age)), max_age=plain(max_age),
                               count=len(facts.backups)), **details)


def _window_warnings(facts: ServerFacts, settings: Settings, details: dict[str, Any]) -> list[tuple[str, str]]:
    """Does the earliest restore point cover the retention window? (adds the window to `details`)"""
    now = facts.checked_at
    window_start = now - timedelta(days=facts.retention_days)
    details["window_start"] = iso_seconds(window_start)
    if facts.earliest_restore is None:
        return [(msg("the server reports no earliest restore date"),
                 msg("Check the server's Backup and restore blade for the earliest restore point."))]
    gap = facts.earliest_restore - window_start  # how much of the window is missing
    if gap <= timedelta(hours=settings.restore_window_tolerance_hours):
        return []
    covered = max(now - facts.earliest_restore, timedelta(0))
    details["restore_window_shortfall_hours"] = _hours(gap)
    details["restore_window_covered_days"] = round(covered.total_seconds() / 86400, 1)
    short = dict(earliest=iso_seconds(facts.earliest_restore), covered=plain(details["restore_window_covered_days"]),
                 days=facts.retention_days, hours=plain(_hours(gap)),
                 tolerance=plain(settings.restore_window_tolerance_hours))
    problem = msgn("earliest restore point {earliest} covers only {covered} of the {days} day of retention: "
                   "{hours} h short (tolerance {tolerance} h); server created {created}",
                   "earliest restore point {earliest} covers only {covered} of the {days} days of retention: "
                   "{hours} h short (tolerance {tolerance} h); server created {created}", "days",
                   created=iso_seconds(facts.created_at), **short) if facts.created_at else \
        msgn("earliest restore point {earliest} covers only {covered} of the {days} day of retention: {hours} h "
             "short (tolerance {tolerance} h)",
             "earliest restore point {earliest} covers only {covered} of the {days} days of retention: {hours} h "
             "short (tolerance {tolerance} h)", "days", **short)
    return [(problem, msg("A young server or lost backups: the promised window is not yet restorable. It fills "
                          "up as days pass; if the server is old, ask Azure support why earlier points are gone."))]


def _retention_problems(days: int | None, min_days: int) -> list[tuple[str, str]]:
    """(problem, remediation) when the retention is unknown or shorter than required."""
    if days is None:
        return [(msg("the server reports no backup retention"),
                 msg("Check the server's backup settings (Compute + storage > Backup retention period)."))]
    if days < min_days:
        return [(msgn("backup retention {days} day is below the required {min_days}",
                      "backup retention {days} days is below the required {min_days}", "days",
                      days=days, min_days=min_days),
                 msgn("Raise the server's backup retention period to at least {min_days} day (portal: "
                      "Compute + storage > Backup retention period).",
                      "Raise the server's backup retention period to at least {min_days} days (portal: "
                      "Compute + storage > Backup retention period).", "min_days", min_days=min_days))]
    return []


def evaluate_retention(facts: ServerFacts, settings: Settings) -> Outcome:
    """Passes when retention ≥ MIN_BACKUP_RETENTION_DAYS, geo-redundant backup is on when
    REQUIRE_GEO_REDUNDANT_BACKUP=true, the earliest restore point covers the retention window
    (earliest restore ≤ now − retention + RESTORE_WINDOW_TOLERANCE_HOURS) and the server is Ready.

    Fails on too short a retention or missing geo-redundancy. Warns when the earliest restore point
    is later than the window needs (a young server, lost backups) saying by how much, or when the
    server's state is not Ready.
    """
    now = facts.checked_at
    min_days = settings.min_backup_retention_days
    geo_required = settings.require_geo_redundant_backup
    details: dict[str, Any] = {
        "server": facts.name,
        "state": facts.state, "sku_tier": facts.sku_tier, "sku_name": facts.sku_name,
        "retention_days": facts.retention_days, "min_retention_days": min_days,
        "geo_redundant_backup": facts.geo_redundant_backup, "geo_redundant_required": geo_required,
        "earliest_restore": iso_seconds(facts.earliest_restore), "created_at": iso_seconds(facts.created_at),
        "checked_at": iso_seconds(now),
    }
    fails: list[tuple[str, str]] = _retention_problems(facts.retention_days, min_days)
    warns: list[tuple[str, str]] = []

    geo = facts.geo_redundant_backup
    if geo_required and (geo or "").lower() != "enabled":
        fails.append((msg("geo-redundant backup is {geo} but REQUIRE_GEO_REDUNDANT_BACKUP=true",
                          geo=geo or msg("not reported")),
                      msg("Geo-redundant backup is chosen when a server is created: restore or migrate to a server "
                          "created with geo-redundant backup, or change the requirement if the policy allows.")))

    if facts.retention_days is not None:
        warns += _window_warnings(facts, settings, details)

    if (facts.state or "") != "Ready":
        warns.append((msg("server state is {state} (not Ready)", state=facts.state or msg("unknown")),
                      msg("Start the server or find out why it is not Ready: backups and restores need a "
                          "healthy server.")))

    if fails:
        status, problems = Status.FAIL, fails + warns
    elif warns:
        status, problems = Status.WARN, warns
    else:
        return Outcome.passed(
            msgn("retention {days} day (required ≥ {min_days}), geo-redundant backup {geo}, earliest restore "
                 "point {earliest} covers the window; server {state}",
                 "retention {days} days (required ≥ {min_days}), geo-redundant backup {geo}, earliest restore "
                 "point {earliest} covers the window; server {state}", "days",
                 days=facts.retention_days, min_days=min_days,
                 geo=geo or msg("not reported"), earliest=iso_seconds(facts.earliest_restore), state=facts.state),
            **details)
    return Outcome(status, join_messages([p for p, _ in problems]), details,
                   join_messages([r for _, r in problems], " "))


# --- checks -----------------------------------------------------------------------------------

@check(id="postgres.backup_recent", title="PostgreSQL: a recent backup is listed", severity="high",
       remediation="Check the server's Backup and restore blade; take an on-demand backup and open an "
                   "Azure support request if automatic backups stopped.",
       risk="Without a recent backup, a failure or a human error loses every change since the last one.",
        controls=MONITORING)
def backup_recent(ctx: RunContext) -> Outcome:
    target = server_target(ctx)
    models = list_backups(ctx)
    return evaluate_backup_recent(BackupFacts(server=target.server_name, backups=backup_items(models),
                                              checked_at=to_utc(ctx.now())), ctx.settings)


@check(id="postgres.retention", title="PostgreSQL: backup retention and restore window", severity="high",
       remediation="Set the server's backup retention to at least MIN_BACKUP_RETENTION_DAYS and geo-redundant "
                   "backup as policy requires.",
       risk="Too short a retention lets a human error go unnoticed past the last restorable point.",
        controls=PROTECTION)
def retention(ctx: RunContext) -> Outcome:
    server = shared_server(ctx)
    return evaluate_retention(server_facts(server, ctx.now()), ctx.settings)
