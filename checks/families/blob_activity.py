"""Blob activity: `blob.recent_file` and `blob.deleted_visible`, whose cost follows recent activity.

Two strategies, chosen per run (`activity_strategy`, recorded in each result's details and summary):
- change feed (`BLOB_ACTIVITY_SOURCE=auto` and the blob service properties say it is on, or
  `change_feed`): read only the hours of the window from `$blobchangefeed`
  (checks/connect/changefeed.py), newest first, and prove each finding on the container itself:
  a HEAD on the newest created blob (still there?), a name-prefix listing with `include=deleted`
  for each deleted one (listed among deleted blobs?). Cost does not depend on container size.
- listing (change feed off, its state unknown, or `listing`): the bounded listing of
  checks/families/blob.py, under BLOB_RECENT_PREFIX or the months of BLOB_RECENT_PREFIX_TEMPLATE.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Callable

from checks.connect.azure import account_label, blob_service, blob_service_properties, data_plane_error
from checks.connect.changefeed import CONTAINER, CREATED, DELETED, ChangeFeedNotStarted, change_feed
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import N_, join_messages, msg, msgn, plain
from checks.engine.model import CheckError, NotConfigured, Outcome, Status
from checks.engine.controls import MONITORING
from checks.engine.registry import check
from checks.engine.timeutil import iso_or_none
from checks.families.blob import (CANARY_PREFIX, DeletedVisibleFacts, RecentFileFacts, bounded_listing,
                                  checked_containers, deleted_in, evaluate_deleted_visible, evaluate_recent_file,
                                  newest_blob)

MAX_HEADS = 20  # created blobs tried per container before "not proven" (all deleted since)
NAME_LISTING = 50  # a name-prefix listing: the blob itself comes first, then longer names
FEED_ROLE_SCOPE = N_("the {c} container of storage account {a} (or the whole account)")


@dataclass(frozen=True)
class Strategy:
    name: str  # "change_feed" or "listing"
    reason: str
    feed_retention_days: int | None = None  # None = unlimited or unknown
    soft_delete_days: int | None = None  # from the blob service properties, when read

    @property
    def label(self) -> str:
        return msg("change feed") if self.name == "change_feed" else msg("listing")


def activity_strategy(ctx: RunContext) -> Strategy:
    """Change feed or listing, from BLOB_ACTIVITY_SOURCE and the blob service properties that
    blob.soft_delete / blob.versioning already read this run (cached, never fetched twice)."""
    source = ctx.settings.blob_activity_source
    try:
        props = blob_service_properties(ctx)
    except (NotConfigured, CheckError) as exc:
        reason = getattr(exc, "reason", None) or (exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc))
        props, unknown = None, reason  # a Message stays one: the run page renders it in French
    feed = props.change_feed if props else None
    policy = props.delete_retention_policy if props else None
    kept = dict(feed_retention_days=feed.retention_in_days if feed else None,
                soft_delete_days=policy.days if policy and policy.enabled else None)
    if source != "auto":
        return Strategy(source, msg("BLOB_ACTIVITY_SOURCE={source}", source=source), **kept)
    if props is None:
        return Strategy("listing", msg("change feed state unknown ({reason})", reason=unknown))
    if feed and feed.enabled:
        reason = msgn("change feed on (retention {days} day)", "change feed on (retention {days} days)", "days",
                      days=feed.retention_in_days) if feed.retention_in_days else msg("change feed on (retention unlimited)")
        return Strategy("change_feed", reason, **kept)
    return Strategy("listing", msg("change feed off on the account"))


def _labelled(outcome: Outcome, strategy: Strategy) -> Outcome:
    details = {**outcome.details, "strategy": strategy.name, "strategy_reason": strategy.reason}
    return dataclasses.replace(outcome, summary=msg("{summary} [{strategy}]", summary=outcome.summary,
                                                    strategy=strategy.label), details=details)


def _feed_error(exc: Exception, account: str) -> CheckError:
    return data_plane_error(exc, account, CONTAINER, msg("reading the change feed"),
                            role_scope=msg(FEED_ROLE_SCOPE, c=CONTAINER, a=account))


def expand_prefix_template(template: str, now: datetime, max_age_days: int) -> list[str]:
    """`uploads/{yyyy}/{mm}/` for this month, last month and any older month the window reaches."""
    oldest = min(now - timedelta(days=max_age_days), now.replace(day=1) - timedelta(days=1))
    prefixes: list[str] = []
    year, month = now.year, now.month
    while (year, month) >= (oldest.year, oldest.month):
        prefix = template.replace("{yyyy}", f"{year:04d}").replace("{mm}", f"{month:02d}")
        if prefix not in prefixes:
            prefixes.append(prefix)
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return prefixes


# --- blob.recent_file -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FeedNewest:
    container: str
    name: str | None  # newest blob created in the window and still present
    created: datetime | None
    last_modified: datetime | None
    gone: tuple[str, ...] = ()  # newer blobs created in the window but deleted since (HEAD 404)
    gave_up: bool = False  # MAX_HEADS candidates were all gone


@dataclass(frozen=True)
class FeedRecentFacts:
    account: str
    now: datetime
    window_days: float  # the window actually read (the feed may keep less than the policy's age)
    hours_read: int
    containers: tuple[FeedNewest, ...]


def evaluate_recent_from_feed(facts: FeedRecentFacts, settings: Settings) -> Outcome:
    """Passes when every configured container has a blob created within RECENT_FILE_MAX_AGE_DAYS
    (change feed) that is still present (HEAD). Fails when a container has none. Warns when not
    proven either way: the feed keeps fewer days than the window, or the newest MAX_HEADS created
    blobs were all deleted since."""
    max_age = settings.recent_file_max_age_days
    statuses, notes, per = [], [], {}
    for c in facts.containers:
        age = round((facts.now - c.created).total_seconds() / 86400, 2) if c.created else None
        per[c.container] = {"newest": c.name, "created": iso_or_none(c.created),
                            "last_modified": iso_or_none(c.last_modified), "age_days": age, "gone": list(c.gone)}
        gone = msg(" (newer, deleted since: {names})", names=", ".join(c.gone[:3])) if c.gone else ""
        if c.name:
            statuses.append(Status.PASS)
            notes.append(msgn("{container}: {name} ({age} day old){gone}",
                              "{container}: {name} ({age} days old){gone}", "age", container=c.container, name=c.name,
                              age=age, gone=gone))
        elif c.gave_up or facts.window_days < max_age:
            statuses.append(Status.WARN)
            notes.append(msgn("{container}: no present blob found in the {days} day read{gone}",
                              "{container}: no present blob found in the {days} days read{gone}", "days",
                              container=c.container, days=plain(facts.window_days), gone=gone))
        else:
            statuses.append(Status.FAIL)
            notes.append(msgn("{container}: no blob created in the last {days} day{gone}",
                              "{container}: no blob created in the last {days} days{gone}", "days",
                              container=c.container,
                              days=max_age, gone=gone))
    details = {"account": facts.account, "max_age_days": max_age, "window_days": facts.window_days,
               "hours_read": facts.hours_read, "containers": per}
    status, summary = Status.worst(statuses), join_messages(notes)
    if status is Status.PASS:
        return Outcome.passed(msgn("recent file within {days} day: {containers}",
                                   "recent file within {days} days: {containers}", "days",
                                   days=max_age, containers=summary),
                              **details)
    if status is Status.WARN:
        return Outcome.warn(msg("recent file not proven: {containers}", containers=summary),
                            msg("Set the change feed retention to at least RECENT_FILE_MAX_AGE_DAYS days."), **details)
    return Outcome.fail(msgn("no file younger than {days} day: {containers}",
                             "no file younger than {days} days: {containers}", "days",
                             days=max_age, containers=summary),
                        msg("New documents are not arriving in Blob Storage (or land elsewhere): check the "
                            "application's uploads and BLOB_CONTAINERS."), **details)


def _present(service: Any, account: str, container: str, name: str) -> datetime | None:
    """Last-Modified of the blob, or None if it is gone (HEAD 404)."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    try:
        return service.get_blob_client(container, name).get_blob_properties().last_modified
    except ResourceNotFoundError:
        return None
    except AzureError as exc:
        raise data_plane_error(exc, account, container, msg("reading blob properties")) from exc


def newest_from_feed(ctx: RunContext, service: Any, account: str, containers: tuple[str, ...],
                     days: float) -> tuple[list[FeedNewest], int]:
    """Newest created blob per container, newest hour first, each proven present by a HEAD."""
    from azure.core.exceptions import AzureError
    prefix = ctx.settings.blob_recent_prefix or ""
    found: dict[str, FeedNewest] = {}
    tried: dict[str, list[str]] = {c: [] for c in containers}
    start, end, hours = ctx.now() - timedelta(days=days), ctx.now(), 0
    try:
        for _, events in change_feed(ctx, service).scan(start, end):
            hours += 1
            for e in reversed(events):
                if (e.kind != CREATED or e.container not in tried or e.container in found
                        or e.name.startswith(CANARY_PREFIX) or not e.name.startswith(prefix)
                        or e.name in tried[e.container] or len(tried[e.container]) >= MAX_HEADS):
                    continue
                tried[e.container].append(e.name)
                modified = _present(service, account, e.container, e.name)
                if modified is not None:
                    found[e.container] = FeedNewest(e.container, e.name, e.at, modified,
                                                    tuple(tried[e.container][:-1]))
            if len(found) == len(containers):
                break
    except AzureError as exc:
        raise _feed_error(exc, account) from exc
    return [found.get(c) or FeedNewest(c, None, None, None, tuple(tried[c]), len(tried[c]) >= MAX_HEADS)
            for c in containers], hours


def _by_strategy(ctx: RunContext, by_feed: Callable[..., Outcome], by_listing: Callable[..., Outcome]) -> Outcome:
    """Run the check by the change feed or the listing; the result says which and why."""
    containers = checked_containers(ctx)
    service = blob_service(ctx)
    account = account_label(service)
    strategy = activity_strategy(ctx)
    if strategy.name == "change_feed":
        try:
            return _labelled(by_feed(ctx, service, account, containers, strategy), strategy)
        except ChangeFeedNotStarted as exc:
            strategy = Strategy("listing", msg("change feed on but not readable yet ({reason})",
                                               reason=exc.args[0] if exc.args else str(exc)))
    return _labelled(by_listing(ctx, service, account, containers), strategy)


def _feed_days(wanted: float, strategy: Strategy) -> float:
    kept = strategy.feed_retention_days
    return min(wanted, kept) if kept else wanted


@check(id="blob.recent_file", title="A recent file is present in each container", severity="high",
       remediation="Check that the application still writes documents to the configured containers.",
       risk="If no new file arrives, uploads are failing or going elsewhere, and the backup protects stale data.",
        controls=MONITORING)
def recent_file(ctx: RunContext) -> Outcome:
    return _by_strategy(ctx, recent_by_feed, recent_by_listing)


def recent_by_feed(ctx: RunContext, service: Any, account: str, containers: tuple[str, ...],
                   strategy: Strategy) -> Outcome:
    days = _feed_days(ctx.settings.recent_file_max_age_days, strategy)
    newest, hours = newest_from_feed(ctx, service, account, containers, days)
    return evaluate_recent_from_feed(FeedRecentFacts(account, ctx.now(), days, hours, tuple(newest)), ctx.settings)


def recent_by_listing(ctx: RunContext, service: Any, account: str, containers: tuple[str, ...]) -> Outcome:
    from azure.core.exceptions import AzureError
    s = ctx.settings
    prefixes = (expand_prefix_template(s.blob_recent_prefix_template, ctx.now(), s.recent_file_max_age_days)
                if s.blob_recent_prefix_template else [s.blob_recent_prefix])
    found = []
    for name in containers:
        try:
            client = service.get_container_client(name)
            parts = [newest_blob(client, name, s.blob_list_cap, p) for p in prefixes]
        except AzureError as exc:
            raise data_plane_error(exc, account, name, msg("listing blobs")) from exc
        best = max((p for p in parts if p.name), key=lambda p: p.last_modified, default=parts[0])
        found.append(dataclasses.replace(best, listed=sum(p.listed for p in parts),
                                         cap_hit=any(p.cap_hit for p in parts)))
    prefix = ", ".join(p for p in prefixes if p) or None
    return evaluate_recent_file(RecentFileFacts(account=account, prefix=prefix, now=ctx.now(),
                                                containers=tuple(found)), s)


# --- blob.deleted_visible -------------------------------------------------------------------------

@dataclass(frozen=True)
class DeletedProof:
    container: str
    name: str
    deleted_at: datetime
    listed: bool  # listed among deleted blobs (soft-deleted, or kept as versions only)
    remaining_retention_days: int | None = None


@dataclass(frozen=True)
class FeedDeletedFacts:
    account: str
    now: datetime
    window_days: float
    hours_read: int
    containers: tuple[str, ...]
    proofs: tuple[DeletedProof, ...]
    recreated: int  # deleted then created again under the same name (not a deleted blob any more)


def evaluate_deleted_from_feed(facts: FeedDeletedFacts, settings: Settings) -> Outcome:
    """Passes when every blob the change feed shows deleted within the soft-delete retention (up
    to BLOB_DELETED_SAMPLE per container, newest first) is listed among deleted blobs, or when
    nothing was deleted (noted: blob.canary proves the mechanism). Fails when a deleted blob is not
    listed: it was deleted for good and cannot be restored from soft delete."""
    per = {c: [{"name": p.name, "deleted_at": iso_or_none(p.deleted_at), "listed": p.listed,
                "remaining_retention_days": p.remaining_retention_days}
               for p in facts.proofs if p.container == c] for c in facts.containers}
    details = {"account": facts.account, "window_days": facts.window_days, "hours_read": facts.hours_read,
               "deleted_seen": len(facts.proofs), "recreated": facts.recreated, "containers": per}
    missing = [p for p in facts.proofs if not p.listed]
    window = plain(facts.window_days)
    if missing:
        names = join_messages([msg("{blob} (deleted {at})", blob=f"{p.container}/{p.name}",
                                   at=iso_or_none(p.deleted_at)) for p in missing], ", ")
        return Outcome.fail(msgn("{missing} of {count} blob deleted in the last {days} days is not listed as a "
                                 "deleted blob: {blobs}",
                                 "{missing} of {count} blobs deleted in the last {days} days are not listed as "
                                 "deleted blobs: {blobs}", "count",
                                 missing=len(missing), count=len(facts.proofs), days=window,
                                 blobs=names),
                            msg("These deletions cannot be undone from soft delete: check blob.soft_delete, "
                                "permanent-delete settings and lifecycle rules; restore the files from another "
                                "copy if they are needed."), **details)
    if not facts.proofs:
        return Outcome.passed(msgn("no blob deleted in {containers} in the last {days} day (change feed); "
                                   "blob.canary proves deletion and restore live",
                                   "no blob deleted in {containers} in the last {days} days (change feed); "
                                   "blob.canary proves deletion and restore live", "days",
                                   containers=", ".join(facts.containers), days=window), **details)
    first = facts.proofs[0]
    left = (msgn(", {days} day left",
                 ", {days} days left", "days", days=first.remaining_retention_days)
            if first.remaining_retention_days is not None else "")
    return Outcome.passed(msgn("{count} blob deleted in the last {days} days is listed as restorable, e.g. {blob} "
                               "(deleted {at}{left})",
                               "{count} blobs deleted in the last {days} days are listed as restorable, e.g. "
                               "{blob} (deleted {at}{left})", "count", count=len(facts.proofs), days=window,
                               blob=f"{first.container}/{first.name}", at=iso_or_none(first.deleted_at), left=left),
                          **details)


def _listed_as_deleted(service: Any, account: str, container: str, name: str) -> tuple[bool, int | None]:
    """Is `name` among the deleted blobs of `container`? A name-prefix listing, one small page."""
    from azure.core.exceptions import AzureError
    try:
        items, _ = bounded_listing(service.get_container_client(container), NAME_LISTING, name,
                                   include=["deleted", "deletedwithversions"])
    except AzureError as exc:
        raise data_plane_error(exc, account, container, msg("listing deleted blobs")) from exc
    for item in items:
        if item.name == name and (item.deleted or getattr(item, "has_versions_only", None)):
            return True, getattr(item, "remaining_retention_days", None)
    return False, None


def deleted_from_feed(ctx: RunContext, service: Any, account: str, containers: tuple[str, ...],
                      days: float) -> tuple[list[DeletedProof], int, int]:
    """The newest deletions per container (newest hour first), each looked up among deleted blobs."""
    from azure.core.exceptions import AzureError
    sample = ctx.settings.blob_deleted_sample
    picked: dict[str, list[tuple[str, datetime]]] = {c: [] for c in containers}
    created_later: set[tuple[str, str]] = set()
    recreated, hours = 0, 0
    start, end = ctx.now() - timedelta(days=days), ctx.now()
    try:
        for _, events in change_feed(ctx, service).scan(start, end):
            hours += 1
            for e in reversed(events):
                key = (e.container, e.name)
                if e.container not in picked or e.name.startswith(CANARY_PREFIX):
                    continue
                if e.kind == CREATED:
                    created_later.add(key)
                elif e.kind == DELETED and len(picked[e.container]) < sample:
                    if key in created_later:
                        recreated += 1
                    elif all(n != e.name for n, _ in picked[e.container]):
                        picked[e.container].append((e.name, e.at))
            if all(len(p) >= sample for p in picked.values()):
                break
    except AzureError as exc:
        raise _feed_error(exc, account) from exc
    proofs = [DeletedProof(c, name, at, *_listed_as_deleted(service, account, c, name))
              for c in containers for name, at in picked[c]]
    return proofs, recreated, hours


@check(id="blob.deleted_visible", title="Deleted blobs are listed (restorable)", severity="high",
       remediation="Enable blob soft delete; set BLOB_CANARY_CONTAINER for a live deletion/restore proof.",
       risk="If deleted files do not show as deleted blobs, they cannot be restored from soft delete.",
        controls=MONITORING)
def deleted_visible(ctx: RunContext) -> Outcome:
    return _by_strategy(ctx, deleted_by_feed, deleted_by_listing)


def deleted_by_feed(ctx: RunContext, service: Any, account: str, containers: tuple[str, ...],
                    strategy: Strategy) -> Outcome:
    # a day's margin: a blob deleted exactly `retention` days ago may be purged while we look
    retention = strategy.soft_delete_days or ctx.settings.blob_retention_min_days
    days = _feed_days(max(retention - 1, 1), strategy)
    proofs, recreated, hours = deleted_from_feed(ctx, service, account, containers, days)
    facts = FeedDeletedFacts(account, ctx.now(), days, hours, containers, tuple(proofs), recreated)
    return evaluate_deleted_from_feed(facts, ctx.settings)


def deleted_by_listing(ctx: RunContext, service: Any, account: str, containers: tuple[str, ...]) -> Outcome:
    from azure.core.exceptions import AzureError
    settings, seen = ctx.settings, []
    for name in containers:
        try:
            seen.append(deleted_in(service.get_container_client(name), name, settings.blob_list_cap))
        except AzureError as exc:
            raise data_plane_error(exc, account, name, msg("listing deleted blobs")) from exc
    return evaluate_deleted_visible(DeletedVisibleFacts(account=account, containers=tuple(seen)), settings)
