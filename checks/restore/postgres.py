"""PostgreSQL incident restore: point-in-time restore of production to a NEW server, verified, journaled.

plan (no write): the point inside [earliestRestoreDate, now - 10 min], the target name (default
`<PG_SERVER_NAME>-pitr-YYYYMMDD-HHMM`), free (GET answers 404) and not production's, the resource
group (default RESTORE_DRILL_RESOURCE_GROUP; never the source's, the drill's guard), the network mode the restored server inherits from the source, the rights
the restore needs beyond creating a server (a CMK source: assign on each of its user-assigned identities,
which the restore request carries), and an estimate from past drills' RTO. Every problem is a reason; a plan without reasons is valid.

apply: the drill's guarded PUT (checks/drill/state.begin_restore: name valid, not the source, GET 404
right before the PUT), tagged `purpose=incident-restore` so no drill cleanup or sweeper ever deletes
it. `watch` follows the long-running operation with the SDK's ARM poller, one status request per
step (continuation token saved in the record after each), bounded by a wait limit; an interrupted
watch is resumed from the record. When the server is ready, the database checks run against it and
its counts are compared with production's (the drill's verification). Nothing is switched over.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable

from checks.drill.state import (CREATED_BY, PURPOSE_INCIDENT, TAG_CREATED_BY, TAG_PURPOSE, TAG_SOURCE,
                                DrillGuardError, LroStep, begin_restore, get_server, guard_drill_group,
                                poll_restore, restore_window, validate_server_name)
from checks.drill.targets import production_groups, production_servers
from checks.engine.config import VARIABLES, Settings
from checks.engine.context import RunContext
from checks.engine.i18n import msg, msgn, plain
from checks.engine.valueparse import reason_of
from checks.engine.model import CheckError, JournalUnavailable, new_run_id
from checks.engine.timeutil import iso_z, minutes, parse_iso
from checks.restore.record import FAILED, PROVISIONING, READY, VERIFYING, Incident, save
from checks.restore.timepoint import SHOWN, parse_zoned

LATEST_MARGIN = timedelta(minutes=10)  # 'latest' = now - margin: the newest WAL may not be archived yet
POLL_SECONDS = 30.0  # between two status requests while watching (ARM asks for 15-60 s)
DRILLS_FOR_ESTIMATE = 5
TAG_INCIDENT_ID = "incident-id"
_RESOURCE_GROUP = dict(VARIABLES)["pg_resource_group"].parse


@dataclass
class PostgresPlan:
    source_server: str
    source_resource_group: str
    resource_group: str  # where the new server goes
    target_server: str
    point: str = ""  # ISO UTC, once validated against the window
    point_mode: str = ""  # latest | given
    point_given: str = ""  # --point as typed (echoed beside the point in UTC)
    point_utc: str = ""  # the point asked for in UTC (ISO), inside the window or not; "" until known
    window: list[str] = field(default_factory=list)  # [earliest, latest]
    target_free: bool | None = None  # None: not looked up (not_checked["target"] says why)
    location: str = ""
    network: str = ""
    estimated_minutes: float | None = None
    estimate_basis: str = ""
    # what the restore needs beyond creating the server: a CMK source's identities, [{"action", "scope"}]
    rights: list[dict[str, str]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    not_checked: dict[str, str] = field(default_factory=dict)  # window|target|location|network|rights|estimate -> why

    @property
    def valid(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "valid": self.valid}


def parse_point(spec: str | None) -> tuple[datetime | None, str, str]:
    """(point, mode, reason): `latest` or an ISO time WITH a zone; reason is '' when well-formed."""
    if (spec or "").strip() == "latest":
        return None, "latest", ""
    point, why = parse_zoned("--point", spec, latest_allowed=True)
    return point, "given", why


def default_target(source: str, now: datetime) -> str:
    stamp = f"-pitr-{now:%Y%m%d-%H%M}"
    return source[:63 - len(stamp)].rstrip("-") + stamp


def network_mode(source: Any) -> str:
    network = getattr(source.properties, "network", None) if source.properties else None
    subnet = getattr(network, "delegated_subnet_resource_id", None) if network else None
    if subnet:
        return msg("private access (VNet integration): subnet {subnet}, inherited from the source",
                   subnet=subnet.rsplit("/", 1)[-1])
    public = getattr(network, "public_network_access", None) if network else None
    public = getattr(public, "value", public)  # an SDK enum prints its class name
    return msg("public access {mode} (inherited from the source; check the firewall rules)",
               mode=public or msg("unknown"))


def estimate(journal) -> tuple[float | None, str]:
    """Median time to ready of the last drills (the journal's drill records)."""
    from checks.drill.restore_drill import load_drills

    if journal is None:
        return None, msg("journal not available")
    try:
        drills = load_drills(journal)
    except JournalUnavailable as exc:  # the estimate is a hint: a journal outage never stops a plan
        return None, msg("journal not available: {reason}", reason=reason_of(exc))
    durations = []
    for drill in drills:
        ready, requested = parse_iso(drill.ready_at), parse_iso(drill.requested_at)
        if ready and requested:
            durations.append(minutes(ready - requested))
        if len(durations) == DRILLS_FOR_ESTIMATE:
            break
    if not durations:
        return None, msg("no drill with a ready time in the journal (run `python -m checks drill start` to measure)")
    return statistics.median(durations), msgn("median of the last {count} drill: {durations} min",
                                              "median of the last {count} drills: {durations} min", "count",
                                              count=len(durations), durations=str(durations))


def _check_names(plan: PostgresPlan, production: set[str]) -> bool:
    """Name and resource group checks that need no Azure call; True when the target may be looked up."""
    ok = True
    try:
        _RESOURCE_GROUP(plan.resource_group)
    except ValueError as exc:
        plan.reasons.append(msg("--resource-group: {reason}", reason=reason_of(exc)) if plan.resource_group else
                            msg("--resource-group not given and RESTORE_DRILL_RESOURCE_GROUP not set: where should "
                                "the new server go? (never production's group)"))
        ok = False
    try:
        validate_server_name(plan.target_server)
    except DrillGuardError as exc:
        plan.reasons.append(msg("--name: {reason}", reason=exc.reason))
        return False
    if plan.target_server.lower() == plan.source_server.lower():
        plan.reasons.append(msg("--name: {server} is the production server itself; an incident restore always goes "
                                "to a NEW server", server=plan.target_server))
        return False
    if plan.target_server.lower() in {n.lower() for n in production}:
        plan.reasons.append(msg("--name: {server} is a production server of the fleet (TARGETS); an incident "
                                "restore always goes to a NEW server", server=plan.target_server))
        return False
    return ok


def _check_production_group(plan: PostgresPlan, s: Settings) -> None:
    """Never into a group holding a production resource of any target (server, storage account, journal)."""
    held = production_groups(s).get(plan.resource_group.lower())
    if held:
        plan.reasons.append(msg("--resource-group: refused: resource group {group} holds {what} (restore into "
                                "another group, e.g. RESTORE_DRILL_RESOURCE_GROUP)", group=plan.resource_group,
                                what=held))


def postgres_input(s: Settings, point_spec: str | None, name: str | None, resource_group: str | None,
                   now: datetime) -> tuple[PostgresPlan, datetime | None]:
    """The plan as far as the request alone decides it (no I/O): the point's form and range, the names and
    the resource group (never one holding a production resource). Raises NotConfigured like plan_postgres."""
    s.require("azure_subscription_id", "pg_resource_group", "pg_server_name")
    plan = PostgresPlan(source_server=s.pg_server_name, source_resource_group=s.pg_resource_group,
                        resource_group=resource_group or s.restore_drill_resource_group or "",
                        target_server=name or default_target(s.pg_server_name, now))
    point, plan.point_mode, why = parse_point(point_spec)
    plan.point_given = _given(point_spec)
    plan.point_utc = iso_z(point) if point is not None else ""
    if why:
        plan.reasons.append(why)
    _check_names(plan, production_servers(s))
    _check_production_group(plan, s)
    if plan.reasons:
        _not_checked(plan, UNCHECKED_FIELDS, msg("the request is refused (see below)"))
    return plan, point


def plan_postgres(ctx: RunContext, journal, point_spec: str | None, name: str | None = None,
                  resource_group: str | None = None) -> tuple[PostgresPlan, Any]:
    """The plan and the source server (None when it could not be read). Writes nothing.

    Raises NotConfigured when AZURE_SUBSCRIPTION_ID, PG_RESOURCE_GROUP or PG_SERVER_NAME is unset.
    """
    from checks.connect.azure import postgres_client

    now = ctx.now()
    plan, point = postgres_input(ctx.settings, point_spec, name, resource_group, now)
    if plan.reasons:  # the request itself is wrong: nothing is asked of Azure or the journal
        return plan, None
    names_ok = True
    client = postgres_client(ctx)
    source, answered = _read(client, plan.source_resource_group, plan.source_server, plan.reasons, "source server")
    if source is None:
        _not_checked(plan, ("window", "location", "network", "rights"),
                     msg("the source server could not be read (see below)") if not answered else
                     msg("the source server was not found (see below)"))
        if not answered:  # no credential, refused, unreachable: the same identity cannot look the name up either
            names_ok = False
            _not_checked(plan, ("target",), msg("the source server could not be read (see below)"))
    else:
        earliest, latest = restore_window(source, now, LATEST_MARGIN)
        plan.window = [iso_z(earliest), iso_z(latest)]
        plan.location, plan.network = source.location or "", network_mode(source)
        _rights(plan, source)
        names_ok = _check_group(plan, source) and names_ok  # never look the target up in a refused group
        point = latest.replace(microsecond=0) if plan.point_mode == "latest" else point
        plan.point_utc = iso_z(point) if point is not None else ""
        if point is not None and earliest <= point <= latest:
            plan.point = iso_z(point)
        elif point is not None:
            plan.reasons.append(msg("--point {point} is outside the restore window {earliest} .. {latest}",
                                    point=iso_z(point), earliest=plan.window[0], latest=plan.window[1]))
    if names_ok:
        existing, answered = _read(client, plan.resource_group, plan.target_server, plan.reasons, "target server")
        plan.target_free = existing is None if answered else None
        if plan.target_free is None:
            _not_checked(plan, ("target",), msg("the lookup failed (see below)"))
        if existing is not None:
            plan.reasons.append(msg("--name: server {server} already exists in {group}; a restore never overwrites "
                                    "a server (choose another --name)", server=plan.target_server,
                                    group=plan.resource_group))
    elif "target" not in plan.not_checked:
        _not_checked(plan, ("target",), msg("the resource group is refused (see below)"))
    plan.estimated_minutes, plan.estimate_basis = estimate(journal)
    return plan, source


UNCHECKED_FIELDS = ("window", "target", "location", "network", "rights", "estimate")


def _rights(plan: PostgresPlan, source: Any) -> None:
    """A CMK source's restore carries its user-assigned identities: the one who applies needs assign on each
    (checks/drill/source.py). Named in the plan; whether the caller holds it is not asked of Azure."""
    from checks.drill.source import restore_rights

    plan.rights = restore_rights(source)
    if plan.rights:
        plan.not_checked["rights"] = msg("whether you hold it is not asked of Azure; the restore request is refused "
                                         "without it")


def _given(spec: Any) -> str:
    """--point as typed, for echoing it: printable (NUL, newlines, escapes shown escaped, never raw), at most
    SHOWN characters."""
    text = spec if isinstance(spec, str) else "" if spec is None else str(spec)
    text = text if text.isprintable() else repr(text)[1:-1]
    return text if len(text) <= SHOWN else text[:SHOWN - 1] + "…"


def _not_checked(plan: PostgresPlan, names: tuple[str, ...], why: str) -> None:
    for name in names:
        plan.not_checked.setdefault(name, why)


def _check_group(plan: PostgresPlan, source: Any) -> bool:
    """The drill's resource-group guard: the new server never goes into the source server's group."""
    try:
        guard_drill_group(plan.resource_group, plan.resource_group, str(source.id or ""))
    except DrillGuardError as exc:
        plan.reasons.append(msg("--resource-group: {reason} (restore into another group, e.g. "
                                "RESTORE_DRILL_RESOURCE_GROUP)", reason=exc.reason))
        return False
    return True


def _read(client: Any, rg: str, name: str, reasons: list[str], what: str) -> tuple[Any | None, bool]:
    """(the server or None, whether Azure answered: False when the read failed, its reason added)."""
    try:
        server = get_server(client, rg, name)
    except CheckError as exc:
        label = msg("source server {server}", server=name) if what == "source server" else \
            msg("target server {server}", server=name)
        reasons.append(msg("{what}: {reason} ({remediation})", what=label, reason=exc.reason,
                           remediation=exc.remediation) if exc.remediation else
                       msg("{what}: {reason}", what=label, reason=exc.reason))
        return None, False
    if server is None and what == "source server":
        reasons.append(msg("source server {server} not found in resource group {group} "
                           "(check PG_SERVER_NAME / PG_RESOURCE_GROUP / AZURE_SUBSCRIPTION_ID)", server=name, group=rg))
    return server, True


def incident_tags(incident_id: str, source: str) -> dict[str, str]:
    """No `drill-id` and `purpose=incident-restore`: drill cleanup and the sweeper never touch it."""
    return {TAG_CREATED_BY: CREATED_BY, TAG_PURPOSE: PURPOSE_INCIDENT, TAG_INCIDENT_ID: incident_id,
            TAG_SOURCE: source}


def apply_postgres(ctx: RunContext, journal, plan: PostgresPlan, source: Any, by: str,
                   accepted: Callable[[Incident], None] | None = None) -> Incident:
    """Journal the incident, then request the restore (guards first) and poll it once. Once Azure accepted
    it, `accepted` (the face: keep the continuation on this machine, print it) runs before anything else."""
    from checks.connect.azure import postgres_client

    if not plan.valid or source is None:
        raise ValueError("apply_postgres needs a valid plan")  # the faces refuse before calling
    now = ctx.now()
    incident = Incident(incident_id=new_run_id(now), kind="postgres", state=PROVISIONING, by=by,
                        requested_at=iso_z(now), restore_point=plan.point, source_server=plan.source_server,
                        resource_group=plan.resource_group, target_server=plan.target_server, plan=plan.to_dict())
    incident.event(now, msg("restore of {source} at {point} to {target} (resource group {group}) requested by {by}",
                            source=plan.source_server, point=plan.point, target=plan.target_server,
                            group=plan.resource_group, by=by))
    save(journal, incident, now)  # before the PUT: a crash after it still leaves the record (and the tags)
    try:
        step = begin_restore(postgres_client(ctx), plan.resource_group, plan.target_server, source,
                             parse_iso(plan.point), incident_tags(incident.incident_id, plan.source_server),
                             drill_group=plan.resource_group)
    except CheckError as exc:
        incident.state, incident.outcome = FAILED, "fail"
        incident.summary = msg("restore not started: {reason}", reason=exc.reason)
        incident.event(now, incident.summary)
        save(journal, incident, now)
        return incident
    incident.create_token = step.token
    if accepted is not None:
        accepted(incident)
    incident.event(now, msg("Azure accepted the restore (operation {status})", status=step.status))
    after_poll(incident, step, now)
    save(journal, incident, now)
    return incident


def poll_server(client: Any, resource_group: str, name: str) -> LroStep:
    """Follow a restore from its server alone (no continuation token: the journal lost it, another machine):
    the restored server's state; Ready is done, anything else (not created yet: 404) still in progress."""
    server = get_server(client, resource_group, name)
    if server is not None and (server.tags or {}).get(TAG_PURPOSE) != PURPOSE_INCIDENT:
        return LroStep("Failed", "", error=msg("server {server} does not carry the tag {tag}={value}: not an "
                                               "incident restore", server=name, tag=TAG_PURPOSE,
                                               value=PURPOSE_INCIDENT))
    state = getattr(getattr(server, "properties", None), "state", None) if server is not None else None
    state = str(getattr(state, "value", state) or "")
    if state.lower() == "ready":
        return LroStep("Succeeded", "", resource=server)
    return LroStep(state or "NotFound", "")  # Azure's words, as the operation's status is shown


def after_poll(incident: Incident, step: Any, now: datetime) -> None:
    incident.plan["operation_status"] = step.status
    if not step.done:
        return
    if not step.succeeded:
        incident.state, incident.outcome = FAILED, "fail"
        incident.summary = msg("restore failed in Azure: {error}", error=step.error or step.status)
        incident.event(now, incident.summary)
        return
    requested = parse_iso(incident.requested_at)
    ready = step.end_time if step.end_time and requested <= step.end_time <= now else now
    incident.ready_at = iso_z(ready)
    incident.time_to_ready_minutes = minutes(ready - requested)
    props = getattr(step.resource, "properties", None)
    incident.target_host = (getattr(props, "fully_qualified_domain_name", None) or "") if props else ""
    incident.event(now, msg("{server} ready at {ready} ({minutes} min), host {host}", server=incident.target_server,
                            ready=incident.ready_at, minutes=plain(incident.time_to_ready_minutes),
                            host=incident.target_host or "?"))
    incident.state = VERIFYING


Progress = Callable[[Incident, timedelta], None]


def watch(ctx: RunContext, journal, incident: Incident, progress: Progress, sleep: Callable[[float], None],
          wait_minutes: float, poll_seconds: float = POLL_SECONDS) -> Incident:
    """Follow the restore until ready (then verify), failed, or `wait_minutes` passed.

    Ctrl-C (KeyboardInterrupt) propagates to the face; the record already holds the continuation
    token of the last status request, so `restore status ID` resumes from there.
    """
    from checks.connect.azure import postgres_client

    deadline = ctx.now() + timedelta(minutes=wait_minutes)
    client = postgres_client(ctx)
    while incident.state == PROVISIONING:
        now = ctx.now()
        progress(incident, now - parse_iso(incident.requested_at))
        if now >= deadline:
            incident.event(now, msg("stopped watching after {minutes} min; Azure goes on", minutes=plain(wait_minutes)))
            save(journal, incident, now)
            return incident
        sleep(poll_seconds)
        try:
            step = poll_restore(client, incident.resource_group, incident.target_server, incident.create_token) \
                if incident.create_token else poll_server(client, incident.resource_group, incident.target_server)
        except CheckError as exc:  # transient: the next step asks again, the wait limit bounds it
            incident.event(ctx.now(), msg("status request failed: {reason}", reason=exc.reason))
            continue
        incident.create_token = step.token
        after_poll(incident, step, ctx.now())
        save(journal, incident, ctx.now())
    if incident.state == VERIFYING:
        progress(incident, ctx.now() - parse_iso(incident.requested_at))
        verify(ctx, journal, incident)
    return incident


def verify(ctx: RunContext, journal, incident: Incident) -> None:
    """The drill's verification on the restored server: database checks, counts beside production's."""
    from checks.connect.azure import postgres_client
    from checks.drill.verify import evaluate_drill, gather_facts

    if not incident.target_host:
        server = get_server(postgres_client(ctx), incident.resource_group, incident.target_server)
        props = server.properties if server is not None else None
        incident.target_host = (props.fully_qualified_domain_name or "") if props else ""
    facts = gather_facts(ctx, incident.target_server, incident.target_host, incident.restore_point,
                         incident.requested_at, incident.ready_at)
    outcome = evaluate_drill(facts, ctx.settings)
    incident.verification = dict(outcome.details.get("verification", {}))
    incident.outcome = outcome.status.value
    incident.summary = msg("{server} restored to {point}, ready in {minutes} min; verification {status}: {summary}",
                           server=incident.target_server, point=incident.restore_point,
                           minutes=plain(incident.time_to_ready_minutes), status=outcome.status.value,
                           summary=outcome.summary)
    incident.state = READY
    now = ctx.now()
    incident.event(now, msg("verification {status}", status=outcome.status.value))
    save(journal, incident, now)
