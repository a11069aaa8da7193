"""`blob.canary`: a live soft delete / versioning / restore round trip in BLOB_CANARY_CONTAINER.

This check WRITES, so it is registered read_only=False: `--dry-run` skips it, and the read-only
`blob.deleted_visible` (checks/families/blob.py) still lists deleted blobs. It only ever touches blobs
under the reserved prefix `_verifier-canary/`: its own blob `_verifier-canary/<run id>`, and
canaries of earlier runs that crashed before deleting theirs (older than STALE_AFTER).

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
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from checks.connect.azure import blob_service
from checks.families.blob import CANARY_PREFIX, account_label, bounded_listing, data_plane_error
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import Outcome, new_run_id
from checks.engine.registry import check

CONTRIBUTOR_ROLE = "Storage Blob Data Contributor"
STALE_AFTER = timedelta(minutes=30)  # a younger canary may belong to a run still in progress
CLEANUP_CAP = 100
COPY_POLLS = 20
COPY_POLL_SECONDS = 0.5


@dataclass(frozen=True)
class CanaryFacts:
    account: str
    container: str
    blob: str
    versioning: bool | None = None  # the service returned a version id on upload
    steps: tuple[str, ...] = ()  # steps done, in order
    failed_step: str | None = None  # first expectation not met
    observation: str | None = None  # what was seen there
    versions_listed: int | None = None
    restored_by: str | None = None  # undelete | copy of previous version
    sha256: str | None = None
    final_delete: bool = False
    cleaned: tuple[str, ...] = ()  # canaries of crashed runs, deleted now
    left_alone: tuple[str, ...] = ()  # recent canaries: maybe a run in progress


_FIXES = {
    "overwrite": "Enable blob versioning on the storage account (see blob.versioning).",
    "listed as deleted": "Enable blob soft delete (see blob.soft_delete): a deleted blob must stay listed as "
                         "deleted and restorable during the retention.",
    "restore": "A soft-deleted blob could not be restored: check soft delete / versioning settings and that "
               "the identity has Storage Blob Data Contributor on the canary container.",
    "verify": "The restored canary's content differs from what was written: open a support case; do not rely "
              "on soft delete restore until explained.",
}


def evaluate_canary(facts: CanaryFacts, settings: Settings) -> Outcome:
    """Passes when the whole round trip worked (upload, overwrite with the previous version listed
    when versioning is on, delete, listed as deleted, restore, same SHA-256, delete again). Fails at
    the first step whose expectation is not met. Warns when the round trip worked but the canary
    could not be deleted at the end (the next run cleans it)."""
    details = {"account": facts.account, "container": facts.container, "blob": facts.blob,
               "versioning": facts.versioning, "steps": list(facts.steps), "versions_listed": facts.versions_listed,
               "restored_by": facts.restored_by, "sha256": facts.sha256, "final_delete": facts.final_delete,
               "cleaned_leftovers": list(facts.cleaned), "left_alone": list(facts.left_alone)}
    cleaned = f"; cleaned {len(facts.cleaned)} canary(ies) left by earlier runs" if facts.cleaned else ""
    if facts.failed_step:
        details["failed_step"] = facts.failed_step
        return Outcome.fail(f"canary round trip failed at '{facts.failed_step}': {facts.observation}{cleaned}",
                            _FIXES.get(facts.failed_step), **details)
    versions = (f" ({facts.versions_listed} versions listed)" if facts.versioning else " (versioning off)")
    summary = (f"canary {facts.container}/{facts.blob}: uploaded, overwritten{versions}, deleted, listed as "
               f"deleted, restored by {facts.restored_by}, SHA-256 verified")
    if not facts.final_delete:
        return Outcome.warn(summary + f", but not deleted again{cleaned}",
                            "The next run deletes leftover canaries; check the identity's Storage Blob Data "
                            "Contributor role on the canary container.", **details)
    return Outcome.passed(summary + f", deleted again{cleaned}", **details)


class _Stop(Exception):
    """An expectation of the round trip was not met (not an I/O error)."""

    def __init__(self, step: str, observation: str):
        super().__init__(observation)
        self.step, self.observation = step, observation


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
    """Do the round trip; I/O errors propagate, unmet expectations end it with failed_step."""
    assert _own(name)
    cleaned, left = clean_leftovers(container_client, name, now)
    blob = container_client.get_blob_client(name)
    token = secrets.token_hex(8)
    v1, v2 = (f"MedicApp verifier canary {name} v1 {token}".encode(),
              f"MedicApp verifier canary {name} v2 {token}".encode())
    steps: list[str] = []
    state: dict[str, Any] = {"versioning": None, "versions_listed": None, "restored_by": None, "sha256": None}
    exists = False

    def facts(failed: _Stop | None = None, final_delete: bool = False) -> CanaryFacts:
        return CanaryFacts(account=account, container=container, blob=name, versioning=state["versioning"],
                           steps=tuple(steps), failed_step=failed.step if failed else None,
                           observation=failed.observation if failed else None,
                           versions_listed=state["versions_listed"], restored_by=state["restored_by"],
                           sha256=state["sha256"], final_delete=final_delete, cleaned=cleaned, left_alone=left)

    try:
        first = blob.upload_blob(v1, overwrite=False)
        exists = True
        steps.append("upload")
        v1_id = first.get("version_id")
        state["versioning"] = bool(v1_id)

        second = blob.upload_blob(v2, overwrite=True)
        v2_id = second.get("version_id")
        if v1_id:
            versions = [i for i in container_client.list_blobs(name_starts_with=name, include=["versions"])
                        if i.name == name]
            state["versions_listed"] = len(versions)
            previous = [i for i in versions if i.version_id == v1_id and not i.is_current_version]
            if not previous:
                raise _Stop("overwrite", f"versioning is on but the overwritten version {v1_id} is not listed "
                                         f"as a previous version ({len(versions)} version(s) listed)")
        steps.append("overwrite")

        blob.delete_blob(delete_snapshots="include")
        exists = False
        steps.append("delete")

        listed = [i for i in container_client.list_blobs(name_starts_with=name,
                                                          include=["deleted", "deletedwithversions"])
                  if i.name == name]
        if not any(i.deleted or getattr(i, "has_versions_only", None) for i in listed):
            raise _Stop("listed as deleted", "the deleted canary is not listed as a deleted blob "
                                             "(soft delete off, or retention 0?)")
        steps.append("listed as deleted")

        if v2_id:
            # versioned account: the deleted blob lives on as previous versions; restoring = promoting one
            # (Microsoft's restore sample: the base blob's URL with ?versionid=; BlobClient.url omits it)
            source = f"{blob.url}?versionid={quote(v2_id, safe='')}"
            copy = blob.start_copy_from_url(source)
            status = copy.get("copy_status")
            for _ in range(COPY_POLLS):
                if status != "pending":
                    break
                time.sleep(COPY_POLL_SECONDS)
                status = blob.get_blob_properties().copy.status
            if status != "success":
                raise _Stop("restore", f"copying the previous version back ended with copy status {status}")
            state["restored_by"] = "copy of previous version"
        else:
            blob.undelete_blob()
            state["restored_by"] = "undelete"
        exists = True
        steps.append("restore")

        data = blob.download_blob().readall()
        state["sha256"] = _sha(data)
        if state["sha256"] != _sha(v2):
            raise _Stop("verify", f"restored content has SHA-256 {state['sha256'][:16]}…, expected "
                                  f"{_sha(v2)[:16]}… ({len(data)} bytes)")
        steps.append("verify")
    except _Stop as stop:
        if exists:
            _best_effort_delete(blob)
        return facts(stop)
    except Exception:
        if exists:
            _best_effort_delete(blob)
        raise
    final = _best_effort_delete(blob)
    if final:
        steps.append("delete again")
    return facts(final_delete=final)


def _best_effort_delete(blob: Any) -> bool:
    try:
        blob.delete_blob(delete_snapshots="include")
        return True
    except Exception:  # the next run's cleanup deletes it
        return False


@check(id="blob.canary", title="Canary round trip: delete, see as deleted, restore, verify", severity="high",
       remediation="Enable blob soft delete and versioning; grant the identity Storage Blob Data Contributor "
                   "on the canary container only.",
       risk="Settings can look right while restore does not work; only a live round trip proves it.",
       read_only=False)
def canary(ctx: RunContext) -> Outcome:
    ctx.settings.require("blob_canary_container")
    container = ctx.settings.blob_canary_container
    service = blob_service(ctx)
    account = account_label(service)
    name = CANARY_PREFIX + (ctx.run_id or new_run_id(ctx.now()))
    try:
        facts = round_trip(service.get_container_client(container), account, container, name, ctx.now())
    except Exception as exc:
        raise data_plane_error(exc, account, container, "in the canary round trip", role=CONTRIBUTOR_ROLE,
                               role_scope=f"container {container} only (scope the assignment to the "
                                          f"container, not the account)") from exc
    return evaluate_canary(facts, ctx.settings)
