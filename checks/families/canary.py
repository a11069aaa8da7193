"""`blob.canary`: a live soft delete / versioning / restore round trip in BLOB_CANARY_CONTAINER.

This check WRITES, so it is registered read_only=False: `--dry-run` skips it, and the read-only
`blob.deleted_visible` (checks/families/blob.py) still lists deleted blobs. It only ever touches blobs
under the reserved prefix `_verifier-canary/`: its own blob `_verifier-canary/<run id>`, and
canaries of earlier runs that crashed before deleting theirs (older than STALE_AFTER).

The I/O (`round_trip`) records what each step showed in `CanaryFacts`; `evaluate_canary` decides.
Round trip: upload v1 → overwrite with v2 (with versioning on, v1 must be listed as a previous
version) → delete → listed as deleted → restore (Undelete Blob; with versioning on, copy the
previous version over the base blob, which is how a versioned account restores) → SHA-256 of the
restored content equals v2's → delete again. Previous versions it created are left to the
account's lifecycle rules (deleting a version needs Storage Blob Data Owner).
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from checks.connect.azure import account_label, blob_service, data_plane_error
from checks.families.blob import CANARY_PREFIX, bounded_listing
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.i18n import msg, msgn
from checks.engine.model import CheckError, Outcome, new_run_id
from checks.engine.controls import MONITORING
from checks.engine.registry import check

CONTRIBUTOR_ROLE = "Storage Blob Data Contributor"
STALE_AFTER = timedelta(minutes=30)  # a younger canary may belong to a run still in progress
CLEANUP_CAP = 100
COPY_POLLS = 20
COPY_POLL_SECONDS = 0.5


STEPS = ("upload", "overwrite", "delete", "listed as deleted", "restore", "verify")


class CanaryGuardError(CheckError):
    """The canary was asked to touch a blob outside its reserved prefix: refused, nothing written."""


@dataclass(frozen=True)
class CanaryFacts:
    """What the round trip saw; `evaluate_canary` judges it."""
    account: str
    container: str
    blob: str
    reached: tuple[str, ...] = ()  # STEPS carried out, in order (whatever they showed)
    overwritten_version: str | None = None  # version id of the first upload (None: versioning off)
    versions_listed: int | None = None
    previous_version_listed: bool | None = None  # the overwritten version listed as a previous one
    listed_as_deleted: bool | None = None  # the deleted canary listed as deleted (or versions only)
    restored_by: str | None = None  # undelete | copy of previous version
    copy_status: str | None = None  # of the copy back (versioned accounts)
    sha256: str | None = None  # of the restored content
    expected_sha256: str | None = None  # of what was written last
    restored_size: int | None = None
    final_delete: bool = False
    cleaned: tuple[str, ...] = ()  # canaries of crashed runs, deleted now
    left_alone: tuple[str, ...] = ()  # recent canaries: maybe a run in progress

    @property
    def versioning(self) -> bool | None:
        return None if "upload" not in self.reached else self.overwritten_version is not None


_FIXES = {
    "overwrite": msg("Enable blob versioning on the storage account (see blob.versioning)."),
    "listed as deleted": msg("Enable blob soft delete (see blob.soft_delete): a deleted blob must stay listed as "
                             "deleted and restorable during the retention."),
    "restore": msg("A soft-deleted blob could not be restored: check soft delete / versioning settings and that "
                   "the identity has Storage Blob Data Contributor on the canary container."),
    "verify": msg("The restored canary's content differs from what was written: open a support case; do not rely "
                  "on soft delete restore until explained."),
}


def first_unmet(facts: CanaryFacts) -> tuple[str, str] | None:
    """(step, what was seen) of the first expectation the round trip did not meet, else None."""
    if facts.overwritten_version and facts.previous_version_listed is False:
        return "overwrite", msgn("versioning is on but the overwritten version {version} is not listed as a "
                                 "previous version ({count} version listed)",
                                 "versioning is on but the overwritten version {version} is not listed as a "
                                 "previous version ({count} versions listed)", "count",
                                 version=facts.overwritten_version, count=facts.versions_listed)
    if facts.listed_as_deleted is False:
        return "listed as deleted", msg("the deleted canary is not listed as a deleted blob (soft delete off, or "
                                        "retention 0?)")
    if facts.copy_status is not None and facts.copy_status != "success":
        return "restore", msg("copying the previous version back ended with copy status {status}",
                              status=facts.copy_status)
    if facts.sha256 is not None and facts.sha256 != facts.expected_sha256:
        return "verify", msg("restored content has SHA-256 {sha256}…, expected {expected}… ({size} bytes)",
                             sha256=facts.sha256[:16], expected=(facts.expected_sha256 or "")[:16],
                             size=facts.restored_size)
    return None


def evaluate_canary(facts: CanaryFacts, settings: Settings) -> Outcome:
    """Passes when the whole round trip worked (upload, overwrite with the previous version listed
    when versioning is on, delete, listed as deleted, restore, same SHA-256, delete again). Fails at
    the first step whose expectation is not met (or that was never reached). Warns when the round
    trip worked but the canary could not be deleted at the end (the next run cleans it)."""
    unmet = first_unmet(facts)
    if unmet is None and not set(STEPS) <= set(facts.reached):
        missing = next(s for s in STEPS if s not in facts.reached)
        unmet = (missing, msg("the round trip stopped before '{step}'", step=missing))
    passed = list(STEPS[:STEPS.index(unmet[0])] if unmet else STEPS)
    if not unmet and facts.final_delete:
        passed.append("delete again")
    details = {"account": facts.account, "container": facts.container, "blob": facts.blob,
               "versioning": facts.versioning, "steps": passed, "versions_listed": facts.versions_listed,
               "restored_by": facts.restored_by if facts.copy_status in (None, "success") else None,
               "sha256": facts.sha256, "final_delete": facts.final_delete,
               "cleaned_leftovers": list(facts.cleaned), "left_alone": list(facts.left_alone)}
    cleaned = msgn("; cleaned {count} canary left by an earlier run", "; cleaned {count} canaries left by earlier runs",
                   "count", count=len(facts.cleaned)) if facts.cleaned else ""
    if unmet:
        details["failed_step"] = unmet[0]
        return Outcome.fail(msg("canary round trip failed at '{step}': {problem}{cleaned}", step=unmet[0],
                                problem=unmet[1], cleaned=cleaned), _FIXES.get(unmet[0]), **details)
    versions = msgn("{count} version listed",
                    "{count} versions listed", "count", count=facts.versions_listed) if facts.versioning \
        else msg("versioning off")
    summary = msg("canary {container}/{blob}: uploaded, overwritten ({versions}), deleted, listed as deleted, "
                  "restored by {restored_by}, SHA-256 verified", container=facts.container, blob=facts.blob,
                  versions=versions, restored_by=facts.restored_by)
    if not facts.final_delete:
        return Outcome.warn(msg("{summary}, but not deleted again{cleaned}", summary=summary, cleaned=cleaned),
                            msg("The next run deletes leftover canaries; check the identity's Storage Blob Data "
                                "Contributor role on the canary container."), **details)
    return Outcome.passed(msg("{summary}, deleted again{cleaned}", summary=summary, cleaned=cleaned), **details)


def _own(name: str) -> bool:
    return name.startswith(CANARY_PREFIX)


def clean_leftovers(container_client: Any, own: str, now) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Delete current canary blobs of earlier runs (older than STALE_AFTER); never anything else."""
    items, _ = bounded_listing(container_client, CLEANUP_CAP, CANARY_PREFIX)
    cleaned, left = [], []
    for item in items:
        if item.name == own or not _own(item.name):  # the prefix listing guarantees _own; be strict anyway
            continue
        if item.last_modified and now - item.last_modified < STALE_AFTER:
            left.append(item.name)
            continue
        container_client.delete_blob(item.name, delete_snapshots="include")
        cleaned.append(item.name)
    return tuple(cleaned), tuple(left)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def round_trip(container_client: Any, account: str, container: str, name: str, now) -> CanaryFacts:
    """Do the round trip and record what each step showed; it stops at the first unmet expectation
    (`first_unmet`). I/O errors propagate (the canary blob is deleted first when it exists).

    :raises CanaryGuardError: `name` is outside the canary's reserved prefix (nothing is touched).
    """
    if not _own(name):  # an explicit guard: an assert would vanish under python -O
        raise CanaryGuardError(f"refused: canary blob {name!r} is outside the reserved prefix {CANARY_PREFIX}",
                               "This is a bug in the verifier: the canary only ever writes under its prefix.")
    cleaned, left = clean_leftovers(container_client, name, now)
    seen = _Seen(CanaryFacts(account=account, container=container, blob=name, cleaned=cleaned, left_alone=left))
    blob = container_client.get_blob_client(name)
    finished = False
    try:
        for step in (_upload, _overwrite, _delete, _list_deleted, _restore, _verify):
            step(container_client, blob, seen)
            if first_unmet(seen.facts):
                break
        finished = True
    finally:  # stopped by an I/O error or an unmet expectation: remove the canary if it exists
        if seen.exists and (not finished or first_unmet(seen.facts)):
            _best_effort_delete(blob)
    if first_unmet(seen.facts):
        return seen.facts
    return seen.record(final_delete=_best_effort_delete(blob))


class _Seen:
    """The facts so far, the content written, and whether the canary blob exists right now."""

    def __init__(self, facts: CanaryFacts):
        self.facts = facts
        self.exists = False
        token = secrets.token_hex(8)
        self.v1 = f"MedicApp verifier canary {facts.blob} v1 {token}".encode()
        self.v2 = f"MedicApp verifier canary {facts.blob} v2 {token}".encode()
        self.v2_id: str | None = None

    def record(self, step: str | None = None, **seen: Any) -> CanaryFacts:
        reached = self.facts.reached + ((step,) if step else ())
        self.facts = replace(self.facts, reached=reached, **seen)
        return self.facts


def _upload(container_client: Any, blob: Any, seen: _Seen) -> None:
    first = blob.upload_blob(seen.v1, overwrite=False)
    seen.exists = True
    seen.record("upload", overwritten_version=first.get("version_id") or None)


def _overwrite(container_client: Any, blob: Any, seen: _Seen) -> None:
    seen.v2_id = blob.upload_blob(seen.v2, overwrite=True).get("version_id")
    v1_id = seen.facts.overwritten_version
    if not v1_id:
        seen.record("overwrite")
        return
    name = seen.facts.blob
    versions = [i for i in container_client.list_blobs(name_starts_with=name, include=["versions"]) if i.name == name]
    listed = any(i.version_id == v1_id and not i.is_current_version for i in versions)
    seen.record("overwrite", versions_listed=len(versions), previous_version_listed=listed)


def _delete(container_client: Any, blob: Any, seen: _Seen) -> None:
    blob.delete_blob(delete_snapshots="include")
    seen.exists = False
    seen.record("delete")


def _list_deleted(container_client: Any, blob: Any, seen: _Seen) -> None:
    name = seen.facts.blob
    listed = [i for i in container_client.list_blobs(name_starts_with=name, include=["deleted", "deletedwithversions"])
              if i.name == name]
    seen.record("listed as deleted",
                listed_as_deleted=any(i.deleted or getattr(i, "has_versions_only", None) for i in listed))


def _restore(container_client: Any, blob: Any, seen: _Seen) -> None:
    if not seen.v2_id:
        blob.undelete_blob()
        seen.exists = True
        seen.record("restore", restored_by="undelete")
        return
    # versioned account: the deleted blob lives on as previous versions; restoring = promoting one
    # (Microsoft's restore sample: the base blob's URL with ?versionid=; BlobClient.url omits it)
    copy = blob.start_copy_from_url(f"{blob.url}?versionid={quote(seen.v2_id, safe='')}")
    status = copy.get("copy_status")
    for _ in range(COPY_POLLS):  # no SDK poller for a blob copy
        if status != "pending":
            break
        time.sleep(COPY_POLL_SECONDS)
        status = blob.get_blob_properties().copy.status
    seen.exists = status == "success"
    seen.record("restore", restored_by="copy of previous version", copy_status=str(status))


def _verify(container_client: Any, blob: Any, seen: _Seen) -> None:
    data = blob.download_blob().readall()
    seen.record("verify", sha256=_sha(data), expected_sha256=_sha(seen.v2), restored_size=len(data))


def _best_effort_delete(blob: Any) -> bool:
    from azure.core.exceptions import AzureError  # lazy: cold start

    try:
        blob.delete_blob(delete_snapshots="include")
        return True
    except AzureError:  # the next run's cleanup deletes it
        return False


@check(id="blob.canary", title="Canary round trip: delete, see as deleted, restore, verify", severity="high",
       remediation="Enable blob soft delete and versioning; grant the identity Storage Blob Data Contributor "
                   "on the canary container only.",
       risk="Settings can look right while restore does not work; only a live round trip proves it.",
       read_only=False,
        controls=MONITORING)
def canary(ctx: RunContext) -> Outcome:
    ctx.settings.require(("blob_account_url", "blob_connection_string"), "blob_canary_container")
    container = ctx.settings.blob_canary_container
    service = blob_service(ctx)
    account = account_label(service)
    name = CANARY_PREFIX + (ctx.run_id or new_run_id(ctx.now()))
    from azure.core.exceptions import AzureError  # lazy: cold start

    try:
        facts = round_trip(service.get_container_client(container), account, container, name, ctx.now())
    except AzureError as exc:
        raise data_plane_error(exc, account, container, msg("in the canary round trip"), role=CONTRIBUTOR_ROLE,
                               role_scope=msg("container {container} only (scope the assignment to the "
                                              "container, not the account)", container=container)) from exc
    return evaluate_canary(facts, ctx.settings)
