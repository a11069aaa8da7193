"""Blob Storage protections beyond soft delete and versioning: whether a deleted container, a
point in time, a permanently deleted blob or a tampered document can really come back.

Checks: blob.container_soft_delete, blob.point_in_time_restore, blob.change_feed,
storage.key_access, storage.immutability (blob.lifecycle lives in storage_lifecycle.py).

Management plane only (Reader on the storage account). The blob service properties and the
account are read once per run and shared with checks/families/blob.py (checks/connect/azure.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from checks.connect.azure import blob_service_properties, sdk_text, storage_account, storage_read
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import join_messages, msg, msgn
from checks.engine.model import Outcome, Status
from checks.engine.controls import PROTECTION
from checks.engine.registry import check
from checks.engine.timeutil import iso_or_none


# --- facts of the blob service (one GET, shared) ----------------------------------------------------

@dataclass(frozen=True)
class BlobServiceFacts:
    account: str
    soft_delete: bool
    soft_delete_days: int | None
    allow_permanent_delete: bool | None
    container_soft_delete: bool
    container_soft_delete_days: int | None
    versioning: bool
    change_feed: bool
    change_feed_days: int | None  # None with change feed on = kept forever
    restore: bool
    restore_days: int | None
    min_restore_time: datetime | None


def blob_service_facts(props: Any, account: str) -> BlobServiceFacts:
    """Plain facts from the SDK's BlobServicePropertiesProperties (None = nothing reported)."""
    delete = getattr(props, "delete_retention_policy", None)
    container = getattr(props, "container_delete_retention_policy", None)
    feed = getattr(props, "change_feed", None)
    restore = getattr(props, "restore_policy", None)
    return BlobServiceFacts(
        account=account,
        soft_delete=bool(delete and delete.enabled), soft_delete_days=delete.days if delete else None,
        allow_permanent_delete=delete.allow_permanent_delete if delete else None,
        container_soft_delete=bool(container and container.enabled),
        container_soft_delete_days=container.days if container else None,
        versioning=bool(getattr(props, "is_versioning_enabled", None)),
        change_feed=bool(feed and feed.enabled), change_feed_days=feed.retention_in_days if feed else None,
        restore=bool(restore and restore.enabled), restore_days=restore.days if restore else None,
        min_restore_time=restore.min_restore_time if restore else None)


def _blob_facts(ctx: RunContext) -> BlobServiceFacts:
    return blob_service_facts(blob_service_properties(ctx), ctx.settings.storage_account_name)


# --- blob.container_soft_delete ---------------------------------------------------------------------

def evaluate_container_soft_delete(facts: BlobServiceFacts, settings: Settings) -> Outcome:
    """Passes when container soft delete is on with a retention in [BLOB_RETENTION_MIN_DAYS,
    BLOB_RETENTION_MAX_DAYS] (the blob soft delete band). Fails when it is off or keeps deleted
    containers fewer days than the minimum; warns when it keeps them longer than the maximum."""
    lo, hi = settings.blob_retention_min_days, settings.blob_retention_max_days
    days = facts.container_soft_delete_days if facts.container_soft_delete else None
    details = {"account": facts.account, "enabled": facts.container_soft_delete, "retention_days": days,
               "min_days": lo, "max_days": hi}
    band = dict(account=facts.account, min_days=lo, max_days=hi)
    fix = msgn("Enable container soft delete on {account} with {min_days}-{max_days} day (Data protection → "
               "'Enable soft delete for containers').",
               "Enable container soft delete on {account} with {min_days}-{max_days} days (Data protection → "
               "'Enable soft delete for containers').", "max_days", **band)
    if not facts.container_soft_delete:
        return Outcome.fail(msg("container soft delete is OFF on {account}: a deleted container (and every "
                                "document in it) cannot be brought back, not even by point-in-time restore",
                                account=facts.account), fix, **details)
    if days is None or days < lo:
        return Outcome.fail(msgn("container soft delete keeps deleted containers {days} day on {account}, below "
                                 "the required {min_days}-{max_days} days",
                                 "container soft delete keeps deleted containers {days} days on {account}, below "
                                 "the required {min_days}-{max_days} days", "days",
                                 days=days, **band), fix, **details)
    if days > hi:
        return Outcome.warn(msgn("container soft delete keeps deleted containers {days} days on {account}, above "
                                 "the policy's {min_days}-{max_days} day",
                                 "container soft delete keeps deleted containers {days} days on {account}, above "
                                 "the policy's {min_days}-{max_days} days", "max_days", days=days, **band),
                            msgn("Lower the container soft delete retention of {account} to at most {max_days} "
                                 "day, or raise BLOB_RETENTION_MAX_DAYS if the policy changed.",
                                 "Lower the container soft delete retention of {account} to at most {max_days} "
                                 "days, or raise BLOB_RETENTION_MAX_DAYS if the policy changed.", "max_days",
                                 account=facts.account, max_days=hi), **details)
    return Outcome.passed(msgn("container soft delete on, {days} day (within {min_days}-{max_days})",
                               "container soft delete on, {days} days (within {min_days}-{max_days})", "days",
                               days=days, min_days=lo, max_days=hi), **details)


@check(id="blob.container_soft_delete", title="Container soft delete on, retention within policy",
       severity="high",
       remediation="Enable container soft delete with the blob soft delete retention (Data protection blade).",
       risk="Deleting a container deletes every document in it; without container soft delete it is final.",
        controls=PROTECTION)
def container_soft_delete(ctx: RunContext) -> Outcome:
    return evaluate_container_soft_delete(_blob_facts(ctx), ctx.settings)


# --- blob.point_in_time_restore ---------------------------------------------------------------------

def evaluate_point_in_time_restore(facts: BlobServiceFacts, settings: Settings) -> Outcome:
    """When point-in-time restore is on, passes if versioning, change feed and blob soft delete are
    on and the restore days are fewer than the soft delete days (Azure's own constraint); fails
    otherwise. When it is off: fails with REQUIRE_BLOB_POINT_IN_TIME_RESTORE=true, else warns.
    Reports `min_restore_time`, the earliest point the account can be restored to."""
    details = {"account": facts.account, "enabled": facts.restore, "restore_days": facts.restore_days,
               "min_restore_time": iso_or_none(facts.min_restore_time), "versioning": facts.versioning,
               "change_feed": facts.change_feed, "soft_delete_days": facts.soft_delete_days if facts.soft_delete else None,
               "required": settings.require_blob_point_in_time_restore}
    if not facts.restore:
        summary = msg("blob point-in-time restore is OFF on {account}: block blobs cannot be rolled back "
                      "to an earlier state after a bulk overwrite or deletion", account=facts.account)
        fix = msg("Enable point-in-time restore on {account} (needs versioning, change feed and blob soft "
                  "delete; restore days fewer than the soft delete days).", account=facts.account)
        if settings.require_blob_point_in_time_restore:
            return Outcome.fail(msg("{summary} (REQUIRE_BLOB_POINT_IN_TIME_RESTORE=true)", summary=summary),
                                fix, **details)
        return Outcome.warn(summary, fix, **details)
    problems = []
    if not facts.versioning:
        problems.append(msg("blob versioning is off"))
    if not facts.change_feed:
        problems.append(msg("change feed is off"))
    if not facts.soft_delete:
        problems.append(msg("blob soft delete is off"))
    elif facts.restore_days is None or facts.soft_delete_days is None or facts.restore_days >= facts.soft_delete_days:
        problems.append(msg("restore days ({restore_days}) must be fewer than the soft delete days "
                            "({soft_delete_days})", restore_days=facts.restore_days,
                            soft_delete_days=facts.soft_delete_days))
    if problems:
        return Outcome.fail(msg("point-in-time restore on {account} cannot work: {problems}", account=facts.account,
                                problems=join_messages(problems)),
                            msg("On {account}: turn on versioning, change feed and blob soft delete, with a "
                                "soft delete retention longer than the point-in-time restore days.",
                                account=facts.account),
                            problems=problems, **details)
    return Outcome.passed(msgn("point-in-time restore on, {restore_days} day (soft delete {soft_delete_days} "
                               "days); earliest restore point {earliest}",
                               "point-in-time restore on, {restore_days} days (soft delete {soft_delete_days} "
                               "days); earliest restore point {earliest}", "restore_days",
                               restore_days=facts.restore_days, soft_delete_days=facts.soft_delete_days,
                               earliest=iso_or_none(facts.min_restore_time) or msg("not reported")), **details)


@check(id="blob.point_in_time_restore", title="Blob point-in-time restore usable", severity="high",
       remediation="Enable point-in-time restore with versioning, change feed and a longer soft delete retention.",
       risk="Without point-in-time restore a bulk overwrite or ransomware encryption must be undone blob by blob.",
        controls=PROTECTION)
def point_in_time_restore(ctx: RunContext) -> Outcome:
    return evaluate_point_in_time_restore(_blob_facts(ctx), ctx.settings)


# --- blob.change_feed -------------------------------------------------------------------------------

def evaluate_change_feed(facts: BlobServiceFacts, settings: Settings) -> Outcome:
    """Passes when the change feed is on and kept at least as many days as point-in-time restore
    goes back (or kept forever: no retention set). Fails when it is off while point-in-time restore
    is on or required, or kept fewer days; warns when it is off and nothing needs it."""
    restore_days = facts.restore_days if facts.restore else None
    details = {"account": facts.account, "enabled": facts.change_feed,
               "retention_days": facts.change_feed_days if facts.change_feed else None,
               "unlimited": facts.change_feed and facts.change_feed_days is None,
               "point_in_time_restore_days": restore_days}
    fix = msg("Enable the blob change feed on {account} with no retention limit or ≥ the restore days.",
              account=facts.account)
    if not facts.change_feed:
        summary = msg("blob change feed is OFF on {account}: no log of which blobs changed or were deleted",
                      account=facts.account)
        if facts.restore or settings.require_blob_point_in_time_restore:
            return Outcome.fail(msg("{summary} (point-in-time restore needs it)", summary=summary), fix, **details)
        return Outcome.warn(summary, fix, **details)
    if facts.change_feed_days is None:
        return Outcome.passed(msg("blob change feed on, kept without limit"), **details)
    if restore_days is not None and facts.change_feed_days < restore_days:
        return Outcome.fail(msgn("blob change feed keeps {days} day on {account}, fewer than the {restore_days} "
                                 "days point-in-time restore goes back",
                                 "blob change feed keeps {days} days on {account}, fewer than the {restore_days} "
                                 "days point-in-time restore goes back", "days", days=facts.change_feed_days,
                                 account=facts.account, restore_days=restore_days), fix, **details)
    if restore_days is None:
        return Outcome.passed(msgn("blob change feed on, {days} day",
                                   "blob change feed on, {days} days", "days",
                                   days=facts.change_feed_days), **details)
    return Outcome.passed(msgn("blob change feed on, {days} day (≥ {restore_days} restore days)",
                               "blob change feed on, {days} days (≥ {restore_days} restore days)", "days",
                               days=facts.change_feed_days, restore_days=restore_days), **details)


@check(id="blob.change_feed", title="Blob change feed on, kept long enough", severity="medium",
       remediation="Enable the blob change feed, kept at least as long as point-in-time restore goes back.",
       risk="Point-in-time restore replays the change feed; without it the restore cannot run or cover the window.",
        controls=PROTECTION)
def change_feed(ctx: RunContext) -> Outcome:
    return evaluate_change_feed(_blob_facts(ctx), ctx.settings)


# --- storage.key_access -----------------------------------------------------------------------------

@dataclass(frozen=True)
class KeyAccessFacts:
    account: str
    allow_shared_key_access: bool | None  # None = not set: Azure allows Shared Key
    allow_permanent_delete: bool | None


def evaluate_key_access(facts: KeyAccessFacts, settings: Settings) -> Outcome:
    """Fails when permanent delete is allowed on the blob service (it removes soft-deleted blobs
    and versions before their retention ends). Warns when Shared Key (account key / SAS) access is
    allowed or not set (not set = allowed). Passes when both are off."""
    details = {"account": facts.account, "allow_shared_key_access": facts.allow_shared_key_access,
               "allow_permanent_delete": facts.allow_permanent_delete}
    if facts.allow_permanent_delete:
        return Outcome.fail(msg("permanent delete is ALLOWED on {account}: soft-deleted blobs and versions "
                                "can be purged before their retention ends, which defeats soft delete",
                                account=facts.account),
                            msg("Turn off 'Enable permanent delete for soft deleted blobs' on {account} "
                                "(deleteRetentionPolicy.allowPermanentDelete=false).", account=facts.account),
                            **details)
    if facts.allow_shared_key_access is not False:
        state = msg("allowed") if facts.allow_shared_key_access else msg("not set (Azure allows it)")
        return Outcome.warn(msg("Shared Key access is {state} on {account}: anyone holding an account key or "
                                "a key-signed SAS can delete documents outside Microsoft Entra ID and RBAC",
                                state=state, account=facts.account),
                            msg("Set 'Allow storage account key access' to Disabled on {account} once no "
                                "client uses account keys (allowSharedKeyAccess=false).", account=facts.account),
                            **details)
    return Outcome.passed(msg("Shared Key access disabled and permanent delete off on {account}",
                              account=facts.account), **details)


@check(id="storage.key_access", title="Storage: no Shared Key access, no permanent delete", severity="high",
       remediation="Disallow Shared Key access and keep permanent delete of soft-deleted blobs off.",
       risk="A leaked account key bypasses RBAC; permanent delete lets deleted documents be purged early.",
        controls=PROTECTION)
def key_access(ctx: RunContext) -> Outcome:
    account = storage_account(ctx)
    service = _blob_facts(ctx)
    return evaluate_key_access(KeyAccessFacts(account=ctx.settings.storage_account_name,
                                              allow_shared_key_access=account.allow_shared_key_access,
                                              allow_permanent_delete=service.allow_permanent_delete), ctx.settings)


# --- storage.immutability ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ContainerWorm:
    container: str
    immutability_policy: bool
    policy_state: str | None  # Locked | Unlocked
    policy_days: int | None
    legal_hold: bool
    version_worm: bool  # container-level immutable storage with versioning


@dataclass(frozen=True)
class ImmutabilityFacts:
    account: str
    account_version_worm: bool
    account_policy_state: str | None
    account_policy_days: int | None
    containers: tuple[ContainerWorm, ...]


def evaluate_immutability(facts: ImmutabilityFacts, settings: Settings) -> Outcome:
    """Reports version-level WORM (immutable storage with versioning) on the account and, per
    checked container, an immutability policy, a legal hold or container-level version WORM.
    Passes when the account or every checked container is immutable. Otherwise fails with
    REQUIRE_IMMUTABLE_STORAGE=true, else passes as information only (summary says so)."""
    per = {c.container: {"immutability_policy": c.immutability_policy, "policy_state": c.policy_state,
                         "policy_days": c.policy_days, "legal_hold": c.legal_hold, "version_worm": c.version_worm}
           for c in facts.containers}
    protected = [c.container for c in facts.containers if c.immutability_policy or c.legal_hold or c.version_worm]
    immutable = facts.account_version_worm or (bool(facts.containers) and len(protected) == len(facts.containers))
    details = {"account": facts.account, "immutable": immutable, "required": settings.require_immutable_storage,
               "account_version_worm": facts.account_version_worm, "account_policy_state": facts.account_policy_state,
               "account_policy_days": facts.account_policy_days, "containers": per}
    if facts.account_version_worm:
        worm = dict(account=facts.account, state=facts.account_policy_state or msg("none"))
        if facts.account_policy_days:
            return Outcome.passed(msgn("version-level WORM on {account} (policy {state}, {days} day)",
                                       "version-level WORM on {account} (policy {state}, {days} days)", "days",
                                       days=facts.account_policy_days, **worm), **details)
        return Outcome.passed(msg("version-level WORM on {account} (policy {state})", **worm), **details)
    if immutable:
        return Outcome.passed(msg("every checked container is immutable: {containers}",
                                  containers=", ".join(protected)), **details)
    missing = [c.container for c in facts.containers if c.container not in protected]
    # no checked container and no account WORM: nothing is immutable (an empty list proves nothing)
    summary = (msg("no immutable (WORM) storage on {account}: containers without policy or legal hold: {containers}",
                   account=facts.account, containers=", ".join(missing)) if missing
               else msg("no immutable (WORM) storage on {account}: version-level WORM is off and no container "
                        "was checked (BLOB_CONTAINERS not set)", account=facts.account))
    fix = msg("Enable version-level immutability on {account} (or a time-based retention policy on each "
              "container) so a compromised identity cannot delete or overwrite documents.", account=facts.account)
    if settings.require_immutable_storage:
        return Outcome.fail(msg("{summary} (REQUIRE_IMMUTABLE_STORAGE=true)", summary=summary), fix, **details)
    return Outcome(Status.PASS, msg("info: {summary} (not required: REQUIRE_IMMUTABLE_STORAGE=false)",
                                    summary=summary), details, fix)


def container_worm(name: str, container: Any) -> ContainerWorm:
    policy = getattr(container, "immutability_policy", None)
    version = getattr(container, "immutable_storage_with_versioning", None)
    return ContainerWorm(container=name, immutability_policy=bool(getattr(container, "has_immutability_policy", None)),
                         policy_state=sdk_text(policy.state) if policy is not None else None,
                         policy_days=policy.immutability_period_since_creation_in_days if policy is not None else None,
                         legal_hold=bool(getattr(container, "has_legal_hold", None)),
                         version_worm=bool(version and version.enabled))


@check(id="storage.immutability", title="Storage: immutable (WORM) protection reported", severity="medium",
       remediation="Enable version-level immutability (or container retention policies) when policy requires it.",
       risk="Without WORM storage an attacker with write access can delete documents and their versions.",
        controls=PROTECTION)
def immutability(ctx: RunContext) -> Outcome:
    account = storage_account(ctx)
    worm = account.immutable_storage_with_versioning
    policy = worm.immutability_policy if worm is not None else None
    containers = tuple(container_worm(name, storage_read(
        ctx, f"container-{name}", lambda c, rg, acct, n=name: c.blob_containers.get(rg, acct, n)))
        for name in ctx.settings.blob_containers)
    return evaluate_immutability(ImmutabilityFacts(
        account=ctx.settings.storage_account_name, account_version_worm=bool(worm and worm.enabled),
        account_policy_state=sdk_text(policy.state) if policy is not None else None,
        account_policy_days=policy.immutability_period_since_creation_in_days if policy is not None else None,
        containers=containers), ctx.settings)
