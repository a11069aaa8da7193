"""Restore drill: the persisted state and the Azure (ARM) actions, kept apart from the orchestration.

`Drill` is one drill's state, one entity in the journal table (PartitionKey `drill`, RowKey the drill
id). The ARM side creates the point-in-time restore, polls it with the SDK's long-running-operation
support (a continuation token kept in the state, ONE status request per invocation: the function
never sleeps waiting for Azure), and deletes drill servers behind guards:

* a target name is valid for Azure, is never the source server's name, and GET must answer 404
  before the PUT (a restore never lands on an existing server);
* creates and deletes happen only in the drill resource group (RESTORE_DRILL_RESOURCE_GROUP), never in
  the source server's group: the drill's write/delete role is assigned on that group alone;
* a delete first GETs the server and refuses unless it carries the drill's tags
  (`created-by` = the verifier, `drill-id`, and the expected drill id when one is known) and is
  not the source server.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Collection

from checks.drill.lro import LroStep, one_step_polling as _one_step_polling, step as _step  # noqa: F401
from checks.engine.i18n import Message, msg
from checks.engine.model import CheckError
from checks.engine.textfacts import facts_of, with_facts
from checks.engine.timeutil import INPUT_EARLIEST, INPUT_LATEST, TimeInputError, input_time, iso_z, parse_iso

PARTITION = "drill"
CREATED_BY = "medicapp-backup-verifier"
TAG_CREATED_BY, TAG_DRILL_ID, TAG_SOURCE, TAG_EXPIRES = "created-by", "drill-id", "source", "expires-at"
# an incident restore's server (checks/restore/postgres.py) is the on-call person's: never a drill's to delete
TAG_PURPOSE, PURPOSE_INCIDENT = "purpose", "incident-restore"

PROVISIONING, VERIFYING, CLEANING_UP, SUCCEEDED, FAILED = (
    "provisioning", "verifying", "cleaning_up", "succeeded", "failed")
ACTIVE = (PROVISIONING, VERIFYING, CLEANING_UP)
# a start that lost the drill slot before its PUT: its record is marked, never deleted (the app has no delete
# right on the journal), and it is no drill for any reader (checks/drill/records.py)
ABANDONED = "abandoned"
TERMINAL = (SUCCEEDED, FAILED)

_SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
MAX_EVENTS = 40
JSON_FIELDS = ("verification", "events", "restore_window", "production_access", "parity", "disposal")
EVENT = "{at} {event}"  # an event line: its time, then what happened (a message of its own)
NOT_RECORDED = msg("(target not recorded)")  # a drill recorded before drills named their fleet target
DRILL_ROLE = "the restore drill role of infra/modules/drill.bicep (assigned on RESTORE_DRILL_RESOURCE_GROUP)"


class DrillGuardError(CheckError):
    """A guard refused an action (restore over an existing server, delete of a foreign server...)."""


class DrillActive(Exception):
    """A drill of this target is already running: one at a time per target (checks/drill/slot.py says why)."""

    def __init__(self, drill_id: str, state: str, target: str = ""):
        self.drill_id, self.state, self.target = drill_id, state, target
        self.reason = msg("restore drill {drill_id} of target {target} is already active ({state}); one drill runs "
                          "at a time per target: wait for it to finish or see `python -m checks drill status`",
                          drill_id=drill_id, target=target, state=state) if target else \
            msg("restore drill {drill_id} is already active ({state}); wait for it to finish or see "
                "`python -m checks drill status`", drill_id=drill_id, state=state)
        super().__init__(self.reason)


# --- state --------------------------------------------------------------------------------------
@dataclass
class Drill:
    drill_id: str
    state: str
    trigger: str
    source_server: str
    resource_group: str
    target_server: str
    requested_at: str  # ISO, UTC
    restore_point: str
    restore_point_mode: str  # latest | random | given
    expires_at: str
    keep: bool = False
    location: str = ""
    created: bool = False  # Azure accepted our PUT: there is a server of ours to clean up
    create_token: str = ""
    delete_token: str = ""
    ready_at: str = ""
    target_host: str = ""
    outcome: str = ""  # pass | warn | fail | error, decided by evaluate_drill (checks/drill/verify.py)
    stopped_by: str = ""  # why it stopped before verification (verify.STOPPED_STATUS key); "" = it did not
    summary: str = ""
    verification: dict[str, Any] = field(default_factory=dict)
    cleanup: str = ""  # deleted | kept until <expiry> | not needed | refused: ... | failed: ...
    error: str = ""
    events: list[str] = field(default_factory=list)
    updated_at: str = ""
    finished_at: str = ""
    # the fleet target drilled (TARGET_NAME or a TARGETS name; column TargetName, as runs have it);
    # "" = recorded before drills named their target: the deployment's own target
    target_name: str = ""
    # who asked for it over HTTP (Entra token's object id and name; "" = a timer, the CLI, or before callers were)
    requested_by_object_id: str = ""
    requested_by_name: str = ""
    # what an auditor reads (checks/drill/record.py): the OS user of a CLI start; the restore window the point was
    # chosen in; production's access settings read at the start and the drill server's access-parity findings
    # (checks/drill/parity.py); the proof of the drill server's disposal (checks/drill/disposal.py). Empty: not
    # recorded (a drill recorded before these existed, or a step it never reached)
    requested_by_user: str = ""
    restore_window: dict[str, Any] = field(default_factory=dict)
    production_access: dict[str, Any] = field(default_factory=dict)
    parity: dict[str, Any] = field(default_factory=dict)
    disposal: dict[str, Any] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    def event(self, now: datetime, text: str) -> None:
        self.events.append(Message(EVENT, at=iso_z(now), event=text))  # the text keeps its message id
        self.events = self.events[-MAX_EVENTS:]

    def to_entity(self) -> dict[str, Any]:
        data = asdict(self)
        entity = {"PartitionKey": PARTITION, "RowKey": self.drill_id, "Kind": "drill"}
        for key, value in data.items():
            name = "".join(part.capitalize() for part in key.split("_"))
            entity[name] = json.dumps(value, default=str) if isinstance(value, (dict, list)) else \
                str(value) if isinstance(value, str) else value  # the table client takes plain str only
        facts = facts_of({"summary": self.summary, "error": self.error, "cleanup": self.cleanup, "events": self.events})
        checks = facts_of({cid: c.get("summary") for cid, c in (self.verification.get("checks") or {}).items()})
        if checks:  # the restored server's check summaries, quoted again when the drill is re-judged
            facts["checks"] = checks
        if facts:  # the texts' message ids: a past drill renders in any language
            entity["Messages"] = json.dumps(facts, default=str)
        return entity

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> "Drill":
        kwargs = {}
        for key, f in cls.__dataclass_fields__.items():
            name = "".join(part.capitalize() for part in key.split("_"))
            if name not in entity:
                continue
            value = entity[name]
            if key in JSON_FIELDS:
                value = json.loads(value or ("[]" if key == "events" else "{}"))
            kwargs[key] = value
        if "StoppedBy" not in entity and kwargs.get("outcome") in ("fail", "error") and not kwargs.get("verification"):
            # stored before `stopped_by` existed: keep the status decided then (verify.STOPPED_STATUS)
            kwargs["stopped_by"] = "failed" if kwargs["outcome"] == "fail" else "azure"
        try:
            facts = json.loads(entity.get("Messages") or "{}")
        except ValueError:  # a damaged column: the texts read as stored
            facts = {}
        facts = facts if isinstance(facts, dict) else {}
        checks = (kwargs.get("verification") or {}).get("checks") or {}
        for cid, fact in (facts.get("checks") or {}).items():
            if isinstance(checks.get(cid), dict):
                with_facts(checks[cid], {"summary": fact})
        return cls(**with_facts(kwargs, facts))

    def public(self) -> dict[str, Any]:
        """The state for people (CLI/HTTP): no continuation tokens."""
        data = asdict(self)
        data.pop("create_token"), data.pop("delete_token"), data.pop("stopped_by")
        return data


# --- names ------------------------------------------------------------------------------------
def validate_server_name(name: str) -> str:
    if not _SERVER_NAME.fullmatch(name or ""):
        raise DrillGuardError(msg("invalid server name {name}: Azure needs 3-63 lowercase letters, digits and "
                                  "hyphens, not starting or ending with a hyphen", name=repr(name)),
                              msg("Choose another RESTORE_DRILL_PREFIX or target name."))
    return name


def target_names(prefix: str, now: datetime) -> list[str]:
    """`<prefix>-YYYYMMDD`, then `<prefix>-YYYYMMDD-HHMM` when the day's name is taken."""
    stamp = now.astimezone(timezone.utc)
    return [f"{prefix}-{stamp:%Y%m%d}", f"{prefix}-{stamp:%Y%m%d-%H%M}"]


def drill_tags(drill_id: str, source: str, expires_at: datetime) -> dict[str, str]:
    return {TAG_CREATED_BY: CREATED_BY, TAG_DRILL_ID: drill_id, TAG_SOURCE: source,
            TAG_EXPIRES: iso_z(expires_at)}


def is_drill_server(tags: dict[str, str] | None, drill_id: str | None = None) -> bool:
    tags = tags or {}
    if tags.get(TAG_PURPOSE) == PURPOSE_INCIDENT:
        return False
    if tags.get(TAG_CREATED_BY) != CREATED_BY or not tags.get(TAG_DRILL_ID):
        return False
    return drill_id is None or tags.get(TAG_DRILL_ID) == drill_id


def guard_drill_group(resource_group: str, drill_group: str | None, source_id: str = "") -> None:
    """Refuse a create/delete outside the drill resource group, or inside the source server's group."""
    remedy = msg("Drills create and delete servers only in RESTORE_DRILL_RESOURCE_GROUP (not PG_RESOURCE_GROUP).")
    if not drill_group or resource_group.lower() != drill_group.lower():
        raise DrillGuardError(msg("refused: resource group {group} is not the drill resource group ({drill_group})",
                                  group=resource_group,
                                  drill_group=drill_group or msg("RESTORE_DRILL_RESOURCE_GROUP not set")), remedy)
    match = re.search(r"/resourceGroups/([^/]+)/", source_id or "", re.I)
    if match and match.group(1).lower() == resource_group.lower():
        raise DrillGuardError(msg("refused: resource group {group} holds the source server", group=resource_group),
                              remedy)


# --- ARM --------------------------------------------------------------------------------------
def get_server(client: Any, resource_group: str, name: str) -> Any | None:
    """The server, or None on 404; other errors become CheckError."""
    from azure.core.exceptions import AzureError, ResourceNotFoundError
    from checks.connect.azure import arm_error

    try:
        return client.servers.get(resource_group, name)
    except ResourceNotFoundError:
        return None
    except AzureError as exc:
        raise arm_error(exc, msg("server {server}", server=name),
                        msg("resource group {group}", group=resource_group)) from None


def begin_restore(client: Any, resource_group: str, target: str, source: Any, point: datetime,
                  tags: dict[str, str], *, drill_group: str | None, confirm: Callable[[], None] | None = None
                  ) -> LroStep:
    """PUT the point-in-time restore (guards first, then `confirm`: the caller still holds the drill slot)
    and poll it once."""
    from azure.core.exceptions import AzureError
    from azure.mgmt.postgresqlflexibleservers.models import Server, ServerProperties
    from checks.connect.azure import arm_error
    from checks.drill.source import cmk_restore_fields

    guard_drill_group(resource_group, drill_group, str(source.id or ""))
    validate_server_name(target)
    if target.lower() == str(source.name).lower():
        raise DrillGuardError(msg("refused: the restore target {target} is the production server itself",
                                  target=target),
                              msg("A drill always restores to a NEW server; fix RESTORE_DRILL_PREFIX or the target."))
    if get_server(client, resource_group, target) is not None:
        raise DrillGuardError(msg("refused: server {target} already exists in {group}; a restore never overwrites "
                                  "a server", target=target, group=resource_group),
                              msg("Delete the old drill server or choose another target name."))
    cmk = cmk_restore_fields(source)  # a CMK source: its identity and key (checks/drill/source.py)
    parameters = Server(location=source.location, tags=tags, identity=cmk.get("identity"), properties=ServerProperties(
        create_mode="PointInTimeRestore", source_server_resource_id=source.id, point_in_time_utc=point,
        data_encryption=cmk.get("data_encryption")))
    if confirm is not None:
        confirm()  # right before the PUT: raises (slot.SlotLost) when another start took the slot
    try:
        poller = client.servers.begin_create_or_update(resource_group, target, parameters,
                                                       polling=_one_step_polling())
    except AzureError as exc:
        raise arm_error(exc, msg("server {server}", server=target), msg("resource group {group}", group=resource_group),
                        role=DRILL_ROLE) from None
    return _step(poller)


def poll_restore(client: Any, resource_group: str, target: str, token: str) -> LroStep:
    from azure.core.exceptions import AzureError
    from checks.connect.azure import arm_error
    try:
        poller = client.servers.begin_create_or_update(resource_group, target, None, continuation_token=token,
                                                       polling=_one_step_polling())
        return _step(poller)
    except (AzureError, ValueError) as exc:  # ValueError: the SDK cannot read the saved continuation token
        raise arm_error(exc, msg("restore of {server}", server=target),
                        msg("resource group {group}", group=resource_group)) from None


def begin_guarded_delete(client: Any, resource_group: str, name: str, source_name: str,
                         drill_id: str | None = None, *, drill_group: str | None,
                         confirm: Callable[[], None] | None = None) -> LroStep | None:
    """Delete a drill server: None when it does not exist; DrillGuardError when it is not a drill's;
    `confirm` runs right before the DELETE (the caller still owns the server: checks/drill/slot.py)."""
    from azure.core.exceptions import AzureError
    from checks.connect.azure import arm_error

    guard_drill_group(resource_group, drill_group)
    if name.lower() == (source_name or "").lower():
        raise DrillGuardError(msg("refused to delete {name}: it is the production server", name=name),
                              msg("Drill cleanup only ever deletes restored drill servers."))
    server = get_server(client, resource_group, name)
    if server is None:
        return None
    if not is_drill_server(server.tags, drill_id):
        which = msg("drill {drill_id}'s", drill_id=drill_id) if drill_id else msg("a restore drill's")
        raise DrillGuardError(msg("refused to delete {name}: it does not carry {which} tags ({tags})", name=name,
                                  which=which, tags=f"{TAG_CREATED_BY}={CREATED_BY}, {TAG_DRILL_ID}"),
                              msg("Only servers created by the drill are deleted; remove {name} by hand if intended.",
                                  name=name),
                              {"tags": dict(server.tags or {})})
    if confirm is not None:
        confirm()
    try:
        poller = client.servers.begin_delete(resource_group, name, polling=_one_step_polling())
    except AzureError as exc:
        raise arm_error(exc, msg("server {server}", server=name), msg("resource group {group}", group=resource_group),
                        role=DRILL_ROLE) from None
    return _step(poller)


def poll_delete(client: Any, resource_group: str, name: str, token: str) -> LroStep:
    from azure.core.exceptions import AzureError
    from checks.connect.azure import arm_error
    try:
        return _step(client.servers.begin_delete(resource_group, name, continuation_token=token,
                                                 polling=_one_step_polling()))
    except (AzureError, ValueError) as exc:  # ValueError: the SDK cannot read the saved continuation token
        raise arm_error(exc, msg("deletion of {server}", server=name),
                        msg("resource group {group}", group=resource_group)) from None


def expired_drill_servers(client: Any, resource_group: str, source_name: str | Collection[str],
                          now: datetime) -> list[Any]:
    """Servers of the resource group that carry the drill tags and whose expires-at has passed, never
    one named like a source server (`source_name`: one name, or every fleet target's)."""
    sources = {source_name.lower()} if isinstance(source_name, str) else {n.lower() for n in source_name}
    from azure.core.exceptions import AzureError
    from checks.connect.azure import arm_error
    try:
        servers = list(client.servers.list_by_resource_group(resource_group))
    except AzureError as exc:
        raise arm_error(exc, msg("servers of {group}", group=resource_group),
                        msg("resource group {group}", group=resource_group)) from None
    out = []
    for server in servers:
        tags = server.tags or {}
        if not is_drill_server(tags) or str(server.name).lower() in sources:
            continue
        try:
            expires = parse_iso(tags.get(TAG_EXPIRES))
        except ValueError:
            expires = None
        if expires is not None and expires <= now:
            out.append(server)
    return out


def restore_window(source: Any, now: datetime, margin: timedelta) -> tuple[datetime, datetime]:
    """(earliest, latest) restore point of the source: earliestRestoreDate .. now - margin."""
    backup = getattr(source.properties, "backup", None) if source.properties else None
    earliest = getattr(backup, "earliest_restore_date", None) if backup else None
    latest = now - margin
    if earliest is None:
        earliest = latest - timedelta(days=int(getattr(backup, "backup_retention_days", 7) or 7)) + margin
    earliest = earliest if earliest.tzinfo else earliest.replace(tzinfo=timezone.utc)
    return earliest, latest


def choose_restore_point(spec: str, earliest: datetime, latest: datetime,
                         rng: random.Random | None = None) -> tuple[datetime, str]:
    """(point, mode) for RESTORE_POINT = latest | random | ISO time, inside [earliest, latest]."""
    if latest <= earliest:
        raise CheckError(msg("no restore window: earliest restore point {earliest} is not before {latest}",
                             earliest=iso_z(earliest), latest=iso_z(latest)),
                         msg("Check the source server's backups (postgres.* checks) before drilling."))
    if spec == "latest":
        return latest, "latest"
    if spec == "random":
        rng = rng or random.SystemRandom()
        span = (latest - earliest).total_seconds()
        return (earliest + timedelta(seconds=int(span * rng.random()))).replace(microsecond=0), "random"
    try:
        point = input_time(spec)  # the shared input validation: a zone, years 2000-2099
    except TimeInputError:
        raise DrillGuardError(msg("restore point {spec} is not latest, random or an ISO time with a zone "
                                  "between {earliest} and {latest}", spec=repr(spec), earliest=iso_z(INPUT_EARLIEST),
                                  latest=iso_z(INPUT_LATEST))) from None
    if not earliest <= point <= latest:
        raise DrillGuardError(msg("restore point {point} is outside the restore window {earliest} .. {latest}",
                                  point=iso_z(point), earliest=iso_z(earliest), latest=iso_z(latest)),
                              msg("Pick a time inside the backup retention window."))
    return point, "given"
