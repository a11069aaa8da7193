"""Blob Storage protection checks: soft delete, versioning, account security (management plane),
a recent file and deleted blobs being visible (data plane, read-only).

The writing canary round trip lives in checks/families/canary.py (`blob.canary`, read_only=False) so that
`--dry-run` still runs every check here and skips only the one that writes.

Management plane: StorageManagementClient (AZURE_SUBSCRIPTION_ID, STORAGE_RESOURCE_GROUP,
STORAGE_ACCOUNT_NAME). Data plane: BlobServiceClient (BLOB_ACCOUNT_URL + managed identity, or
BLOB_CONNECTION_STRING locally) over BLOB_CONTAINERS. Listings are bounded: page size and a cap
(BLOB_LIST_CAP) per container, and an optional prefix (BLOB_RECENT_PREFIX). The two activity
checks (blob.recent_file, blob.deleted_visible) are registered in checks/families/blob_activity.py,
which picks the change feed or this module's listing strategy.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from checks.connect.azure import blob_service_properties, storage_account
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import join_messages, msg, msgn
from checks.engine.model import Outcome, Status
from checks.engine.controls import PROTECTION
from checks.engine.registry import check
from checks.engine.timeutil import iso_or_none

# Blobs under this prefix belong to the canary (checks/families/canary.py); they never count as evidence
# of application data (a recent file), and the canary never touches anything outside it.
CANARY_PREFIX = "_verifier-canary/"
MAX_PAGE = 5000  # the service's own maximum page size for List Blobs


# --- shared I/O helpers ---------------------------------------------------------------------------

# One read each per run, shared with checks/families/storage_protection.py (checks/connect/azure.py).
_account_properties = storage_account


def checked_containers(ctx: RunContext) -> tuple[str, ...]:
    ctx.settings.require(("blob_account_url", "blob_connection_string"), "blob_containers")  # all missing at once
    return tuple(ctx.settings.blob_containers)


def bounded_listing(container_client: Any, cap: int, prefix: str | None = None,
                    include: list[str] | None = None) -> tuple[list[Any], bool]:
    """At most `cap` blob items (pages of min(cap, 5000)); True when the cap stopped the listing."""
    items: list[Any] = []
    pages = container_client.list_blobs(name_starts_with=prefix or None, include=include,
                                        results_per_page=min(cap, MAX_PAGE)).by_page()
    for page in pages:
        for item in page:
            if len(items) >= cap:
                return items, True
            items.append(item)
        if len(items) >= cap:  # stop without asking for the next page; more exist if a marker came back
            return items, bool(pages.continuation_token)
    return items, False


# --- blob.soft_delete -----------------------------------------------------------------------------

@dataclass(frozen=True)
class SoftDeleteFacts:
    account: str
    enabled: bool
    retention_days: int | None
    container_enabled: bool
    container_retention_days: int | None


def evaluate_soft_delete(facts: SoftDeleteFacts, settings: Settings) -> Outcome:
    """Passes when blob soft delete is on with a retention in [BLOB_RETENTION_MIN_DAYS,
    BLOB_RETENTION_MAX_DAYS] and container soft delete is on. Fails when blob soft delete is off
    or keeps deleted blobs fewer days than the minimum; warns when it keeps them longer than the
    maximum (protected, but against the retention policy) or container soft delete is off."""
    lo, hi = settings.blob_retention_min_days, settings.blob_retention_max_days
    days = facts.retention_days if facts.enabled else None
    details = {"account": facts.account, "enabled": facts.enabled, "retention_days": days,
               "container_soft_delete_enabled": facts.container_enabled,
               "container_retention_days": facts.container_retention_days if facts.container_enabled else None,
               "min_days": lo, "max_days": hi}
    band = dict(account=facts.account, min_days=lo, max_days=hi)
    if not facts.enabled:
        return Outcome.fail(msg("blob soft delete is OFF on storage account {account}: deleted blobs cannot be "
                                "recovered", account=facts.account),
                            msgn("Enable blob soft delete with a retention of {min_days}-{max_days} day (Data "
                                 "protection → 'Enable soft delete for blobs').",
                                 "Enable blob soft delete with a retention of {min_days}-{max_days} days (Data "
                                 "protection → 'Enable soft delete for blobs').", "max_days",
                                 min_days=lo, max_days=hi), **details)
    if days is None or days < lo:
        return Outcome.fail(msgn("blob soft delete keeps deleted blobs {days} day on {account}, below the "
                                 "required {min_days}-{max_days} days",
                                 "blob soft delete keeps deleted blobs {days} days on {account}, below the "
                                 "required {min_days}-{max_days} days", "days", days=days, **band),
                            msgn("Set the blob soft delete retention of {account} to {min_days}-{max_days} day.",
                                 "Set the blob soft delete retention of {account} to {min_days}-{max_days} days.",
                                 "max_days",
                                 **band), **details)
    container_note = container_soft_delete_note(facts)
    if days > hi:
        return Outcome.warn(msgn("blob soft delete keeps deleted blobs {days} days on {account}, above the "
                                 "policy's {min_days}-{max_days} day ({containers})",
                                 "blob soft delete keeps deleted blobs {days} days on {account}, above the "
                                 "policy's {min_days}-{max_days} days ({containers})", "max_days",
                                 days=days, containers=container_note,
                                 **band),
                            msgn("Lower the blob soft delete retention of {account} to at most {max_days} day "
                                 "(deleted patient documents must not be kept longer than the policy says), or "
                                 "raise BLOB_RETENTION_MAX_DAYS if the policy changed.",
                                 "Lower the blob soft delete retention of {account} to at most {max_days} days "
                                 "(deleted patient documents must not be kept longer than the policy says), or "
                                 "raise BLOB_RETENTION_MAX_DAYS if the policy changed.", "max_days",
                                 account=facts.account,
                                 max_days=hi), **details)
    if not facts.container_enabled:
        return Outcome.warn(msgn("blob soft delete on ({days} day), but container soft delete is OFF on "
                                 "{account}: a deleted container cannot be restored",
                                 "blob soft delete on ({days} days), but container soft delete is OFF on "
                                 "{account}: a deleted container cannot be restored", "days",
                                 days=days, account=facts.account),
                            msgn("Enable container soft delete on {account} (Data protection → 'Enable soft "
                                 "delete for containers'), e.g. with the same {days} day.",
                                 "Enable container soft delete on {account} (Data protection → 'Enable soft "
                                 "delete for containers'), e.g. with the same {days} days.", "days",
                                 account=facts.account,
                                 days=days), **details)
    return Outcome.passed(msgn("blob soft delete on, {days} day (within {min_days}-{max_days}); {containers}",
                               "blob soft delete on, {days} days (within {min_days}-{max_days}); {containers}", "days",
                               days=days, min_days=lo, max_days=hi, containers=container_note), **details)


def container_soft_delete_note(facts: SoftDeleteFacts) -> str:
    if not facts.container_enabled:
        return msg("container soft delete OFF")
    if facts.container_retention_days:
        return msgn("container soft delete on ({days} day)",
                    "container soft delete on ({days} days)", "days", days=facts.container_retention_days)
    return msg("container soft delete on")


@check(id="blob.soft_delete", title="Blob soft delete on, retention within policy", severity="critical",
       remediation="Enable blob soft delete (retention within BLOB_RETENTION_MIN_DAYS-BLOB_RETENTION_MAX_DAYS) "
                   "and container soft delete on the storage account.",
       risk="Without soft delete a deleted or overwritten patient document is lost for good.",
        controls=PROTECTION)
def soft_delete(ctx: RunContext) -> Outcome:
    props = blob_service_properties(ctx)
    policy = props.delete_retention_policy if props else None
    cpolicy = props.container_delete_retention_policy if props else None
    facts = SoftDeleteFacts(account=ctx.settings.storage_account_name,
                            enabled=bool(policy and policy.enabled),
                            retention_days=policy.days if policy else None,
                            container_enabled=bool(cpolicy and cpolicy.enabled),
                            container_retention_days=cpolicy.days if cpolicy else None)
    return evaluate_soft_delete(facts, ctx.settings)


# --- blob.versioning ------------------------------------------------------------------------------

@dataclass(frozen=True)
class VersioningFacts:
    account: str
    versioning: bool
    change_feed: bool
    change_feed_retention_days: int | None
    point_in_time_restore: bool
    point_in_time_restore_days: int | None


def evaluate_versioning(facts: VersioningFacts, settings: Settings) -> Outcome:
    """Passes when blob versioning is on; fails when it is off. Change feed and point-in-time
    restore are reported as facts (they do not change the status)."""
    details = {"account": facts.account, "versioning": facts.versioning, "change_feed": facts.change_feed,
               "change_feed_retention_days": facts.change_feed_retention_days,
               "point_in_time_restore": facts.point_in_time_restore,
               "point_in_time_restore_days": facts.point_in_time_restore_days}
    extra = join_messages([
        msg("change feed on") if facts.change_feed else msg("change feed off"),
        msgn("point-in-time restore on ({days} day)",
             "point-in-time restore on ({days} days)", "days", days=facts.point_in_time_restore_days)
        if facts.point_in_time_restore else msg("point-in-time restore off")], ", ")
    if not facts.versioning:
        return Outcome.fail(msg("blob versioning is OFF on storage account {account}: an overwritten document keeps "
                                "no previous version ({protections})", account=facts.account, protections=extra),
                            msg("Enable blob versioning on {account} (Data protection → 'Enable versioning for "
                                "blobs') and a lifecycle rule that deletes old versions.", account=facts.account),
                            **details)
    return Outcome.passed(msg("blob versioning on ({protections})", protections=extra), **details)


@check(id="blob.versioning", title="Blob versioning on", severity="high",
       remediation="Enable blob versioning on the storage account.",
       risk="Without versioning an overwritten document cannot be brought back to its previous content.",
        controls=PROTECTION)
def versioning(ctx: RunContext) -> Outcome:
    props = blob_service_properties(ctx)
    feed = props.change_feed if props else None
    restore = props.restore_policy if props else None
    facts = VersioningFacts(account=ctx.settings.storage_account_name,
                            versioning=bool(props and props.is_versioning_enabled),
                            change_feed=bool(feed and feed.enabled),
                            change_feed_retention_days=feed.retention_in_days if feed else None,
                            point_in_time_restore=bool(restore and restore.enabled),
                            point_in_time_restore_days=restore.days if restore and restore.enabled else None)
    return evaluate_versioning(facts, ctx.settings)


# --- storage.account_security ---------------------------------------------------------------------

@dataclass(frozen=True)
class AccountSecurityFacts:
    account: str
    allow_blob_public_access: bool | None  # None = not reported by ARM
    minimum_tls_version: str | None
    https_only: bool | None


_GOOD_TLS = ("TLS1_2", "TLS1_3")


def evaluate_account_security(facts: AccountSecurityFacts, settings: Settings) -> Outcome:
    """Passes when public blob access is off, the minimum TLS version is 1.2 or newer and only
    HTTPS is accepted; warns (never fails) for each setting that is not so or not reported."""
    details = {"account": facts.account, "allow_blob_public_access": facts.allow_blob_public_access,
               "minimum_tls_version": facts.minimum_tls_version, "https_only": facts.https_only}
    problems: list[str] = []
    fixes: list[str] = []
    if facts.allow_blob_public_access is not False:
        problems.append(msg("public blob access allowed") if facts.allow_blob_public_access
                        else msg("public blob access not reported (may be allowed)"))
        fixes.append(msg("set 'Allow Blob anonymous access' to Disabled"))
    if facts.minimum_tls_version not in _GOOD_TLS:
        problems.append(msg("minimum TLS version {version}", version=facts.minimum_tls_version or msg("not reported")))
        fixes.append(msg("set the minimum TLS version to 1.2"))
    if facts.https_only is not True:
        problems.append(msg("HTTP allowed (secure transfer not required)") if facts.https_only is False
                        else msg("secure transfer not reported"))
        fixes.append(msg("enable 'Secure transfer required'"))
    if problems:
        return Outcome.warn(msg("storage account {account}: {problems}", account=facts.account,
                                problems=join_messages(problems)),
                            msg("On storage account {account}: {fixes}.", account=facts.account,
                                fixes=join_messages(fixes, ", ")),
                            problems=problems, **details)
    return Outcome.passed(msg("storage account {account}: public blob access off, minimum TLS {version}, HTTPS only",
                              account=facts.account, version=facts.minimum_tls_version), **details)


@check(id="storage.account_security", title="Storage account: no public access, TLS 1.2+, HTTPS only",
       severity="medium",
       remediation="Disable anonymous blob access, set minimum TLS 1.2 and require secure transfer.",
       risk="Public access or weak transport can expose patient documents outside the backup's control.",
        controls=PROTECTION)
def account_security(ctx: RunContext) -> Outcome:
    account = _account_properties(ctx)
    tls = account.minimum_tls_version
    facts = AccountSecurityFacts(account=ctx.settings.storage_account_name,
                                 allow_blob_public_access=account.allow_blob_public_access,
                                 minimum_tls_version=str(getattr(tls, "value", tls)) if tls else None,
                                 https_only=account.enable_https_traffic_only)
    return evaluate_account_security(facts, ctx.settings)


# --- blob.recent_file -----------------------------------------------------------------------------

@dataclass(frozen=True)
class NewestBlob:
    container: str
    name: str | None  # None = no blob listed
    last_modified: datetime | None
    listed: int
    cap_hit: bool


@dataclass(frozen=True)
class RecentFileFacts:
    account: str
    prefix: str | None
    now: datetime
    containers: tuple[NewestBlob, ...]


def evaluate_recent_file(facts: RecentFileFacts, settings: Settings) -> Outcome:
    """Passes when, in every configured container, the newest blob listed (under BLOB_RECENT_PREFIX)
    is younger than RECENT_FILE_MAX_AGE_DAYS. Fails when a container is empty or its newest blob is
    older. Warns when only the first BLOB_LIST_CAP blobs were listed and none of them is recent
    (a newer blob may sit beyond the cap: not proven either way)."""
    max_age = timedelta(days=settings.recent_file_max_age_days)
    per: dict[str, dict[str, Any]] = {}
    statuses: list[Status] = []
    notes: list[str] = []
    for c in facts.containers:
        age_days = round((facts.now - c.last_modified).total_seconds() / 86400, 2) if c.last_modified else None
        per[c.container] = {"newest": c.name, "last_modified": iso_or_none(c.last_modified), "age_days": age_days,
                            "listed": c.listed, "cap_hit": c.cap_hit}
        seen = dict(container=c.container, name=c.name, age=age_days)
        if c.name is None:
            statuses.append(Status.FAIL)
            notes.append(msg("{container}: no blob under {prefix}", container=c.container, prefix=facts.prefix)
                         if facts.prefix else msg("{container}: no blob", container=c.container))
        elif facts.now - c.last_modified <= max_age:
            statuses.append(Status.PASS)
            notes.append(msgn("{container}: {name} ({age} day old)",
                              "{container}: {name} ({age} days old)", "age", **seen))
        elif c.cap_hit:
            statuses.append(Status.WARN)
            notes.append(msgn("{container}: none of the first {listed} blobs is recent (newest {name}, {age} "
                              "day); listing capped",
                              "{container}: none of the first {listed} blobs is recent (newest {name}, {age} "
                              "days); listing capped", "age", listed=c.listed, **seen))
        else:
            statuses.append(Status.FAIL)
            notes.append(msgn("{container}: newest blob {name} is {age} day old",
                              "{container}: newest blob {name} is {age} days old", "age", **seen))
    status = Status.worst(statuses)
    details = {"account": facts.account, "prefix": facts.prefix,
               "max_age_days": settings.recent_file_max_age_days, "list_cap": settings.blob_list_cap,
               "cap_hit": any(c.cap_hit for c in facts.containers), "containers": per}
    summary, days = join_messages(notes), settings.recent_file_max_age_days
    if status is Status.PASS:
        return Outcome.passed(msgn("recent file within {days} day: {containers}",
                                   "recent file within {days} days: {containers}", "days",
                                   days=days, containers=summary),
                              **details)
    if status is Status.WARN:
        return Outcome.warn(msg("recent file not proven: {containers}", containers=summary),
                            msg("Set BLOB_RECENT_PREFIX to the folder new files land in (e.g. a year/month "
                                "prefix) so the newest files are within the listing, or raise BLOB_LIST_CAP."),
                            **details)
    return Outcome.fail(msgn("no file younger than {days} day: {containers}",
                             "no file younger than {days} days: {containers}", "days", days=days, containers=summary),
                        msg("New documents are not arriving in Blob Storage (or land elsewhere): check the "
                            "application's uploads, BLOB_CONTAINERS and BLOB_RECENT_PREFIX."), **details)


def newest_blob(container_client: Any, container: str, cap: int, prefix: str | None) -> NewestBlob:
    """Newest blob by Last-Modified among at most `cap` listed (canary blobs excluded)."""
    items, cap_hit = bounded_listing(container_client, cap, prefix)
    newest = None
    for item in items:
        if item.name.startswith(CANARY_PREFIX):
            continue
        if newest is None or item.last_modified > newest.last_modified:
            newest = item
    return NewestBlob(container=container, name=newest.name if newest else None,
                      last_modified=newest.last_modified if newest else None, listed=len(items), cap_hit=cap_hit)


# --- blob.deleted_visible -------------------------------------------------------------------------

@dataclass(frozen=True)
class DeletedSeen:
    container: str
    listed: int
    cap_hit: bool
    deleted: int
    example: str | None = None
    deleted_time: datetime | None = None
    remaining_retention_days: int | None = None


@dataclass(frozen=True)
class DeletedVisibleFacts:
    account: str
    containers: tuple[DeletedSeen, ...]


def evaluate_deleted_visible(facts: DeletedVisibleFacts, settings: Settings) -> Outcome:
    """Passes when at least one soft-deleted blob (or a deleted blob kept as versions) is listed in
    a configured container, i.e. "Deleted blobs" shows something restorable. Warns when none is
    listed: nothing was deleted within the retention, soft delete is off, or the listing was capped
    (the canary check `blob.canary` proves it live)."""
    per = {c.container: {"listed": c.listed, "cap_hit": c.cap_hit, "deleted": c.deleted, "example": c.example,
                         "deleted_time": iso_or_none(c.deleted_time),
                         "remaining_retention_days": c.remaining_retention_days}
           for c in facts.containers}
    total = sum(c.deleted for c in facts.containers)
    details = {"account": facts.account, "deleted_seen": total, "containers": per,
               "cap_hit": any(c.cap_hit for c in facts.containers)}
    if total:
        first = next(c for c in facts.containers if c.deleted)
        example = dict(count=total, blob=f"{first.container}/{first.example}")
        if first.remaining_retention_days is None:
            return Outcome.passed(msgn("{count} deleted blob listed as restorable, e.g. {blob}",
                                       "{count} deleted blobs listed as restorable, e.g. {blob}", "count", **example),
                                  **details)
        return Outcome.passed(msgn("{count} deleted blob listed as restorable, e.g. {blob} ({days} days left)",
                                   "{count} deleted blobs listed as restorable, e.g. {blob} ({days} days left)",
                                   "count",
                                   days=first.remaining_retention_days, **example), **details)
    capped = [c.container for c in facts.containers if c.cap_hit]
    containers = ", ".join(per)
    summary = (msg("no deleted blob listed in {containers} (listing capped at {cap} in {capped})",
                   containers=containers, cap=settings.blob_list_cap, capped=", ".join(capped)) if capped
               else msg("no deleted blob listed in {containers}", containers=containers))
    return Outcome.warn(summary, msg("Either nothing was deleted within the soft delete retention, or soft delete is "
                                     "off (see blob.soft_delete). Set BLOB_CANARY_CONTAINER so blob.canary proves "
                                     "deletion and restore live each month."), **details)


def deleted_in(container_client: Any, container: str, cap: int) -> DeletedSeen:
    items, cap_hit = bounded_listing(container_client, cap, None, include=["deleted", "deletedwithversions"])
    deleted = [i for i in items if i.deleted or getattr(i, "has_versions_only", None)]
    first = deleted[0] if deleted else None
    return DeletedSeen(container=container, listed=len(items), cap_hit=cap_hit, deleted=len(deleted),
                       example=first.name if first else None,
                       deleted_time=getattr(first, "deleted_time", None) if first else None,
                       remaining_retention_days=getattr(first, "remaining_retention_days", None) if first else None)
