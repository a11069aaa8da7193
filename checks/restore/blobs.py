"""Blob incident restore: bring back deleted or overwritten blobs of one container. Never deletes.

plan (no write): one bounded listing with `include=deleted,versions` under the prefix, judged by
`select_candidates` (pure):
* a soft-deleted blob without versioning → **undelete** (Undelete Blob);
* a deleted blob of a versioned account (no current version, previous versions kept) → **promote**
  its newest version (copy `<blob>?versionid=V` over the base blob, Microsoft's documented restore);
* with `--deleted-since T`, an overwritten blob (current version written at/after T) whose newest
  version from before T exists → **promote** that version; soft-deleted blobs deleted before T are left.
apply: each candidate restored, then its content hashed (streamed MD5) and compared with the
Content-MD5 the listing reported for what was restored ("unknown" when the service had none).
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from checks.engine.config import VARIABLES
from checks.engine.context import RunContext
from checks.engine.i18n import N_, msg, msgn
from checks.engine.valueparse import blob_prefix, reason_of
from checks.engine.model import new_run_id
from checks.engine.timeutil import iso_z, parse_iso
from checks.restore.record import DONE, FAILED, Incident, save
from checks.restore.timepoint import parse_zoned

CONTRIBUTOR_ROLE = "Storage Blob Data Contributor"
EXAMPLES = 5
MAX_RECORDED = 100  # blob results kept in the incident record (a journal entity is bounded)
_CONTAINER = dict(VARIABLES)["blob_canary_container"].parse
# a blob's restore result and hash check, shown to people (through the catalog where shown)
N_("restored"), N_("pending")
NOT_CHECKED = N_("not checked (copy still pending)")
NO_MD5 = N_("unknown (no Content-MD5 listed)")
VERIFIED = N_("verified (MD5 matches)")


@dataclass
class BlobCandidate:
    name: str
    action: str  # undelete | promote
    why: str
    version_id: str | None = None
    size: int | None = None
    content_md5: str | None = None  # base64, as the listing reported it for what gets restored


@dataclass
class BlobPlan:
    account: str
    container: str
    prefix: str
    deleted_since: str = ""
    listed: int = 0
    cap_hit: bool = False
    candidates: list[BlobCandidate] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.reasons

    def to_dict(self, limit: int | None = None) -> dict[str, Any]:
        data = asdict(self)
        data["candidates"] = data["candidates"][:limit]
        return {**data, "valid": self.valid, "count": len(self.candidates),
                "bytes": sum(c.size or 0 for c in self.candidates)}


def _md5(item: Any) -> str | None:
    raw = getattr(getattr(item, "content_settings", None), "content_md5", None)
    return base64.b64encode(bytes(raw)).decode() if raw else None


def _version_time(version_id: str) -> datetime | None:
    try:  # version ids are timestamps with 7 fractional digits: 2026-11-26T09:00:01.1234567Z
        return parse_iso(version_id[:26].rstrip(".") + "Z" if len(version_id) > 27 else version_id)
    except ValueError:
        return None


def _candidate(name: str, item: Any, action: str, why: str) -> BlobCandidate:
    return BlobCandidate(name=name, action=action, why=why, version_id=getattr(item, "version_id", None),
                         size=getattr(item, "size", None), content_md5=_md5(item))


def select_candidates(items: list[Any], since: datetime | None) -> list[BlobCandidate]:
    """What to restore among listed items (deleted, versions, current) grouped by blob name."""
    groups: dict[str, list[Any]] = {}
    for item in items:
        groups.setdefault(item.name, []).append(item)
    out = []
    for name, group in groups.items():
        current = [i for i in group if i.is_current_version or (not i.version_id and not i.deleted)]
        deleted = [i for i in group if i.deleted and not i.version_id]
        versions = sorted((i for i in group if i.version_id and not i.is_current_version), key=lambda i: i.version_id)
        if not current and deleted:
            when = getattr(deleted[-1], "deleted_time", None)
            if since is None or when is None or when >= since:
                out.append(_candidate(name, deleted[-1], "undelete",
                                      msg("soft-deleted at {when}", when=iso_z(when) or "?")))
        elif not current and versions:
            out.append(_candidate(name, versions[-1], "promote",
                                  msg("deleted (versioning: previous versions kept); newest version restored")))
        elif current and since is not None and current[0].last_modified and current[0].last_modified >= since:
            older = [v for v in versions if (_version_time(v.version_id) or since) < since]
            if older:
                out.append(_candidate(name, older[-1], "promote", msg(
                    "overwritten at {when}; version from before {since} restored",
                    when=iso_z(current[0].last_modified), since=iso_z(since))))
    return out


def blob_input(container: str, deleted_since: str | None, prefix: str | None = None
               ) -> tuple[list[str], datetime | None]:
    """(reasons, since) from the request alone (no I/O): the container's name, the prefix (a blob name's
    characters: a lone surrogate made the SDK raise UnicodeEncodeError), --deleted-since's form and range."""
    reasons = []
    try:
        _CONTAINER(container)
    except ValueError as exc:
        reasons.append(msg("--container: {reason}", reason=reason_of(exc)))
    try:
        blob_prefix(prefix or "")
    except ValueError as exc:
        reasons.append(msg("--prefix: {reason}", reason=reason_of(exc)))
    since, why = parse_zoned("--deleted-since", deleted_since) if deleted_since is not None else (None, "")
    return reasons + ([why] if why else []), since


def plan_blobs(ctx: RunContext, container: str, prefix: str | None, deleted_since: str | None) -> BlobPlan:
    """The plan (one bounded listing, no write). Raises NotConfigured without a blob endpoint."""
    from checks.connect.azure import account_label, blob_service, data_plane_error
    from checks.families.blob import bounded_listing

    service = blob_service(ctx)
    plan = BlobPlan(account=account_label(service), container=container, prefix=prefix or "")
    plan.reasons, since = blob_input(container, deleted_since, prefix)
    plan.deleted_since = iso_z(since)
    if plan.reasons:  # the request itself is wrong: nothing is asked of Azure
        return plan
    from azure.core.exceptions import AzureError

    try:
        items, plan.cap_hit = bounded_listing(service.get_container_client(container), ctx.settings.blob_list_cap,
                                              prefix, include=["deleted", "versions"])
    except AzureError as exc:  # translated: 404 → unknown container, 403 → the role to grant
        error = data_plane_error(exc, plan.account, container, msg("listing deleted blobs and versions"))
        plan.reasons.append(msg("--container: {reason} ({remediation})", reason=error.reason,
                                remediation=error.remediation) if error.remediation else
                            msg("--container: {reason}", reason=error.reason))
        return plan
    plan.listed = len(items)
    plan.candidates = select_candidates(items, since)
    return plan


def apply_blobs(ctx: RunContext, journal, plan: BlobPlan, by: str) -> Incident:
    """Journal the incident, restore every candidate (undelete or promote), verify, record the results."""
    from checks.connect.azure import blob_service

    if not plan.valid:
        raise ValueError("apply_blobs needs a valid plan")  # the faces refuse before calling
    now = ctx.now()
    incident = Incident(incident_id=new_run_id(now), kind="blobs", state="restoring", by=by, requested_at=iso_z(now),
                        restore_point=plan.deleted_since, target_server=f"{plan.account}/{plan.container}",
                        plan=plan.to_dict(limit=MAX_RECORDED))
    incident.event(now, msgn("restore of {count} blob in {container}/{prefix} requested by {by}",
                             "restore of {count} blobs in {container}/{prefix} requested by {by}", "count",
                             count=len(plan.candidates), container=plan.container, prefix=plan.prefix, by=by))
    save(journal, incident, now)
    container = blob_service(ctx).get_container_client(plan.container)
    results = [restore_one(container, c, plan.account, plan.container) for c in plan.candidates]
    _record(incident, results)
    incident.event(ctx.now(), incident.summary)
    save(journal, incident, ctx.now())
    return incident


def restore_one(container: Any, candidate: BlobCandidate, account: str, container_name: str) -> dict[str, Any]:
    """Undelete or promote one blob, then hash it. Never raises for one blob: the result says what happened."""
    from azure.core.exceptions import AzureError
    from checks.connect.azure import data_plane_error

    blob = container.get_blob_client(candidate.name)
    result = {"name": candidate.name, "action": candidate.action, "version_id": candidate.version_id}
    try:
        if candidate.action == "undelete":
            blob.undelete_blob()
        else:  # the base blob's URL with ?versionid= (BlobClient.url omits it); same account: no SAS needed
            copy = blob.start_copy_from_url(f"{blob.url}?versionid={quote(candidate.version_id or '', safe='')}")
            if copy.get("copy_status") != "success":
                result.update(result="pending", hash=NOT_CHECKED)
                return result
        result["result"] = "restored"
        result["hash"] = _verify(blob, candidate.content_md5)
    except AzureError as exc:  # per blob: an SDK error becomes this blob's result, the others go on
        doing = msg("restoring {blob}", blob=candidate.name)  # not nested in msg(): Babel would miss it
        reason = data_plane_error(exc, account, container_name, doing, role=CONTRIBUTOR_ROLE).reason
        result["result"] = msg("failed: {reason}", reason=reason)
    return result


def _verify(blob: Any, expected_md5: str | None) -> str:
    if not expected_md5:
        return NO_MD5
    digest = hashlib.md5()
    for chunk in blob.download_blob().chunks():
        digest.update(chunk)
    actual = base64.b64encode(digest.digest()).decode()
    return VERIFIED if actual == expected_md5 else msg("DIFFERS (MD5 {actual}, expected {expected})", actual=actual,
                                                       expected=expected_md5)


def _record(incident: Incident, results: list[dict[str, Any]]) -> None:
    restored = [r for r in results if r.get("result") == "restored"]
    failed = [r for r in results if str(r.get("result", "")).startswith("failed")]
    differs = [r for r in restored if str(r.get("hash", "")).startswith("DIFFERS")]
    pending = [r for r in results if r.get("result") == "pending"]
    verified = [r for r in restored if str(r.get("hash", "")).startswith("verified")]
    incident.verification = {"results": results[:MAX_RECORDED], "restored": len(restored), "failed": len(failed),
                             "pending": len(pending), "hash_verified": len(verified), "hash_differs": len(differs)}
    incident.outcome = "fail" if failed or differs else "warn" if pending else "pass"
    incident.state = FAILED if failed and not restored else DONE
    incident.summary = msgn("{restored} of {total} blob restored ({verified} hash-verified, {differs} differing), "
                            "{failed} failed, {pending} copy pending",
                            "{restored} of {total} blobs restored ({verified} hash-verified, {differs} "
                            "differing), {failed} failed, {pending} copies pending", "total",
                            restored=len(restored), total=len(results),
                            verified=len(verified), differs=len(differs), failed=len(failed), pending=len(pending))

