"""Blob point-in-time restore of one prefix: `storage_accounts.begin_restore_blob_ranges` (account feature).

When the account's restore policy is on, `restore blobs --container C --prefix P --point T` asks
Azure to put every block blob in the range [C/P, C/P') back to its state at T. The plan says what
the range covers and the documented limits (Azure undoes ALL changes in the range after T: blobs
created since are removed by Azure's restore, not by the verifier). The long-running operation is
the SDK's own poller; its continuation token is kept in the incident record so `restore status ID`
resumes watching after Ctrl-C.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from checks.engine.config import VARIABLES, Settings
from checks.engine.context import RunContext
from checks.engine.i18n import N_, msg, plain
from checks.engine.valueparse import blob_prefix, reason_of
from checks.engine.model import CheckError, new_run_id
from checks.engine.timeutil import iso_z, parse_iso
from checks.restore.record import DONE, FAILED, PROVISIONING, Incident, save
from checks.restore.timepoint import parse_zoned

POLL_SECONDS = 15.0
_CONTAINER = dict(VARIABLES)["blob_canary_container"].parse
LIMITS = (  # shown through the catalog
    N_("every block blob in the range goes back to its state at the point: later changes are undone and blobs "
       "created after the point in the range are removed (by Azure's restore)"),
    N_("only block blobs; page and append blobs, and containers deleted since, are not restored"),
    N_("the range cannot be read or written while the restore runs; it cannot be cancelled; one restore per "
       "account at a time; it can take hours for many changes"),
    N_("the point must lie inside the restore policy's days (and after its minRestoreTime); soft delete, "
       "versioning and change feed must stay on"),
)


@dataclass
class RangePlan:
    account: str
    resource_group: str
    container: str
    prefix: str
    point: str = ""
    window: list[str] = field(default_factory=list)
    range_start: str = ""
    range_end: str = ""
    limits: tuple[str, ...] = LIMITS
    reasons: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "limits": list(self.limits), "valid": self.valid}


def prefix_range(container: str, prefix: str) -> tuple[str, str]:
    """[start, end) of the names under `container/prefix` (the end is exclusive in Azure's ranges)."""
    start = f"{container}/{prefix}"
    return start, start[:-1] + chr(ord(start[-1]) + 1)


def ranges_input(s: Settings, container: str, prefix: str | None, point_spec: str | None
                 ) -> tuple[RangePlan, datetime | None]:
    """The plan as far as the request alone decides it (no I/O). Raises NotConfigured without the account."""
    s.require("azure_subscription_id", "storage_resource_group", "storage_account_name")
    plan = RangePlan(account=s.storage_account_name, resource_group=s.storage_resource_group, container=container,
                     prefix=prefix or "")
    try:
        _CONTAINER(container)
    except ValueError as exc:
        plan.reasons.append(msg("--container: {reason}", reason=reason_of(exc)))
    try:
        blob_prefix(plan.prefix)  # a blob name's characters and length, as `restore blobs` without --point
    except ValueError as exc:
        plan.reasons.append(msg("--prefix: {reason}", reason=reason_of(exc)))
    if not plan.reasons:
        plan.range_start, plan.range_end = prefix_range(container, plan.prefix)
    if not plan.prefix:
        plan.reasons.append(msg("--prefix is required with --point (the restore covers that prefix's range only)"))
    point, why = parse_zoned("--point", point_spec)
    if why:
        plan.reasons.append(why)
    return plan, point


def plan_ranges(ctx: RunContext, container: str, prefix: str | None, point_spec: str | None) -> RangePlan:
    """The plan (reads the blob service's restore policy only). Raises NotConfigured without the account."""
    from checks.connect.azure import blob_service_properties
    from checks.families.storage_protection import blob_service_facts

    plan, point = ranges_input(ctx.settings, container, prefix, point_spec)
    if plan.reasons:  # the request itself is wrong: nothing is asked of Azure
        return plan
    try:
        facts = blob_service_facts(blob_service_properties(ctx), plan.account)
    except CheckError as exc:
        plan.reasons.append(msg("restore policy of {account}: {reason}", account=plan.account, reason=exc.reason))
        return plan
    if not facts.restore:
        plan.reasons.append(msg("blob point-in-time restore is off on storage account {account} (see "
                                "blob.point_in_time_restore): restore deleted/overwritten blobs without --point",
                                account=plan.account))
        return plan
    now = ctx.now()
    earliest = now - timedelta(days=facts.restore_days or 0)
    if facts.min_restore_time and facts.min_restore_time > earliest:
        earliest = facts.min_restore_time
    plan.window = [iso_z(earliest), iso_z(now)]
    if point is not None and not earliest <= point <= now:
        plan.reasons.append(msg("--point {point} is outside the restore window {earliest} .. {latest}",
                                point=iso_z(point), earliest=plan.window[0], latest=plan.window[1]))
    plan.point = iso_z(point) if point is not None and not plan.reasons else ""
    return plan


def apply_ranges(ctx: RunContext, journal, plan: RangePlan, by: str,
                 accepted: Callable[[Incident], None] | None = None) -> tuple[Incident, Any]:
    """Journal the incident, then ask Azure for the range restore: (incident, the SDK's poller or None).
    Once Azure accepted it, `accepted` (the face: keep the continuation locally, print it) runs first."""
    from azure.core.exceptions import AzureError
    from azure.mgmt.storage.models import BlobRestoreParameters, BlobRestoreRange
    from checks.connect.azure import arm_error, storage_client

    if not plan.valid:
        raise ValueError("apply_ranges needs a valid plan")  # the faces refuse before calling
    now = ctx.now()
    incident = Incident(incident_id=new_run_id(now), kind="blob-ranges", state=PROVISIONING, by=by,
                        requested_at=iso_z(now), restore_point=plan.point, resource_group=plan.resource_group,
                        target_server=f"{plan.account}/{plan.range_start}", plan=plan.to_dict())
    incident.event(now, msg("point-in-time restore of {start} .. {end} to {point} requested by {by}",
                            start=plan.range_start, end=plan.range_end, point=plan.point, by=by))
    save(journal, incident, now)
    parameters = BlobRestoreParameters(time_to_restore=parse_iso(plan.point), blob_ranges=[
        BlobRestoreRange(start_range=plan.range_start, end_range=plan.range_end)])
    try:
        poller = storage_client(ctx).storage_accounts.begin_restore_blob_ranges(plan.resource_group, plan.account,
                                                                                 parameters)
    except AzureError as exc:
        error = arm_error(exc, msg("storage account {account}", account=plan.account),
                          msg("resource group {group}", group=plan.resource_group),
                          role="Storage Account Contributor")
        incident.state, incident.outcome = FAILED, "fail"
        incident.summary = msg("restore not started: {reason}", reason=error.reason)
        incident.event(now, incident.summary)
        save(journal, incident, now)
        return incident, None
    incident.create_token = poller.continuation_token()
    if accepted is not None:
        accepted(incident)
    save(journal, incident, now)
    return incident, poller


def watch_ranges(ctx: RunContext, journal, incident: Incident, progress: Callable[[Incident, timedelta], None],
                 wait_minutes: float, poller: Any = None, poll_seconds: float = POLL_SECONDS) -> Incident:
    """Wait on the SDK's poller in slices (progress between them) until done or `wait_minutes` passed."""
    from azure.core.exceptions import AzureError
    from checks.connect.azure import storage_client

    account = incident.plan.get("account", "")
    if poller is None and not incident.create_token:  # the SDK cannot rebuild a poller from nothing
        raise CheckError(msg("no continuation token recorded for this blob range restore"),
                         msg("See the restore's status on storage account {account} in the Azure portal (Data "
                             "protection, point-in-time restore).", account=account))
    if poller is None:
        poller = storage_client(ctx).storage_accounts.begin_restore_blob_ranges(
            incident.resource_group, account, None, continuation_token=incident.create_token)
    deadline = ctx.now() + timedelta(minutes=wait_minutes)
    while not poller.done():
        incident.plan["operation_status"] = poller.status()
        progress(incident, ctx.now() - parse_iso(incident.requested_at))
        if ctx.now() >= deadline:
            incident.event(ctx.now(), msg("stopped watching after {minutes} min; Azure goes on",
                                          minutes=plain(wait_minutes)))
            save(journal, incident, ctx.now())
            return incident
        poller.wait(poll_seconds)  # the SDK polls (honouring Retry-After); we only show progress between
    try:
        status = poller.result()
        outcome, failure = str(getattr(status.status, "value", status.status)), status.failure_reason or ""
    except AzureError as exc:
        outcome, failure = "Failed", str(getattr(exc, "message", exc)).splitlines()[0][:300]
    _finish(ctx, journal, incident, outcome, failure)
    return incident


def _finish(ctx: RunContext, journal, incident: Incident, outcome: str, failure: str) -> None:
    now = ctx.now()
    incident.plan["operation_status"] = outcome
    if outcome.lower() == "complete" or outcome.lower() == "succeeded":
        incident.state, incident.outcome = DONE, "pass"
        incident.ready_at = iso_z(now)
        incident.time_to_ready_minutes = round((now - parse_iso(incident.requested_at)).total_seconds() / 60, 1)
        incident.summary = msg("{target} restored to {point}", target=incident.target_server,
                               point=incident.restore_point)
    else:
        incident.state, incident.outcome = FAILED, "fail"
        incident.summary = msg("blob range restore {outcome}: {failure}", outcome=outcome,
                               failure=failure or msg("no reason given"))
    incident.event(now, incident.summary)
    save(journal, incident, now)
