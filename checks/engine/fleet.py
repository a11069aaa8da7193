"""Several targets, one verifier: the `TARGETS` list and each target's own settings.

A target is one MedicApp environment: a PostgreSQL flexible server (and its database) plus a
storage account (and its containers). `TARGETS` lists them as JSON:

    [{"name": "prod",
      "postgres": {"subscription": "GUID", "resource_group": "rg-prod", "server": "medicapp-db",
                   "database": "medicapp", "host": "optional, default SERVER.postgres.database.azure.com"},
      "storage": {"resource_group": "rg-prod", "account": "medicappdocs", "containers": ["documents"],
                  "account_url": "optional, default https://ACCOUNT.blob.core.windows.net"},
      "settings": {"BACKUP_MAX_AGE_HOURS": "30"}}]

Each part is optional: what a target leaves out comes from the deployment's own settings. Without
`TARGETS` the deployment's settings are a fleet of one, named TARGET_NAME, and behave exactly as a
single-target deployment always did. Per-target `settings` may change thresholds, never where the
journal is or how the verifier signs in (DENIED_OVERRIDES).
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from checks.engine.i18n import N_, join_messages, msg

NAME_FORM = N_("1-40 lowercase letters, digits or hyphens, starting with a letter or digit")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
_KEYS = {  # TARGETS key -> Settings attribute
    ("postgres", "subscription"): "azure_subscription_id",
    ("postgres", "resource_group"): "pg_resource_group",
    ("postgres", "server"): "pg_server_name",
    ("storage", "resource_group"): "storage_resource_group",
    ("storage", "account"): "storage_account_name",
    ("storage", "account_url"): "blob_account_url",
    ("storage", "containers"): "blob_containers",
}
_CONNECTION_KEYS = {("postgres", "database"), ("postgres", "host")}
# Deployment-wide: where evidence goes, how the verifier signs in, when it runs, which targets exist.
DENIED_OVERRIDES = frozenset({
    "journal_account_url", "journal_connection_string", "journal_table", "journal_resource_group",
    "verifier_spool_dir", "log_level",
    "language", "database_url", "pg_auth", "blob_connection_string", "targets", "target_name",
    "verify_schedule", "restore_drill_schedule", "heartbeat_schedule", "restore_drill_max_concurrent",
    "restore_drill_prefix", "fleet_queue", "fleet_queue_service_uri", "fleet_queue_connection_string",
    "discover_tag", "discover_subscriptions"})

# a fleet message the queue gave up on: the poison handler journals a run holding only this error result
# (checks/dispatch/handler.py); the report counts it as a failed delivery, never as evidence
DELIVERY_CHECK = "fleet.delivery"


_TOP_KEYS = "name, postgres, storage, settings"  # a target's keys, as written in TARGETS


class TargetsError(ValueError):
    """TARGETS is not a valid list of targets (the message says which one and what is expected)."""


@dataclass(frozen=True)
class FleetTarget:
    """One target of the fleet: its name and what it changes in the deployment's settings."""
    name: str
    changes: Mapping[str, Any] = field(default_factory=dict)  # Settings attribute -> parsed value
    database: str | None = None   # database name on the target's server
    db_host: str | None = None    # host of the target's server (default: derived from its name)
    # parts it does not have ("postgres", "storage"; discovery): the deployment's own are not checked instead
    without: tuple[str, ...] = ()

    def settings_for(self, base: Any) -> Any:
        """The deployment's Settings with this target's resources, connection and thresholds."""
        settings = base.override(**self.changes) if self.changes else base
        if self.without:
            settings = _without_parts(settings, self.without)
        values = dict(settings.values) | {"target_name": self.name}
        if "storage_account_name" in self.changes and "blob_account_url" not in self.changes:
            values["blob_account_url"] = f"https://{self.changes['storage_account_name']}.blob.core.windows.net"
        if "blob_account_url" in values and ("storage_account_name" in self.changes or "blob_account_url" in self.changes):
            values.pop("blob_connection_string", None)  # the target's own account, not the deployment's
        host = self.db_host or (f"{self.changes['pg_server_name']}.postgres.database.azure.com"
                                if "pg_server_name" in self.changes else None)
        url, libpq = _connection_for(settings, host, self.database)
        if url is not None:
            values["database_url"] = url
        return dataclasses.replace(settings, values=values, libpq_env=libpq)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "changes": {k: list(v) if isinstance(v, tuple) else v
                                               for k, v in self.changes.items()},
                "database": self.database, "db_host": self.db_host, "without": list(self.without)}


_PART_ATTRS = {"postgres": ("pg_server_name", "pg_resource_group", "database_url"),
               "storage": ("storage_account_name", "storage_resource_group", "blob_account_url",
                           "blob_connection_string", "blob_containers", "blob_canary_container",
                           "signed_document_container")}


def _without_parts(settings: Any, parts: tuple[str, ...]) -> Any:
    """The settings with a missing part unset: its checks are skipped as not configured."""
    values = {k: v for k, v in settings.values.items() if not any(k in _PART_ATTRS[p] for p in parts)}
    libpq = {} if "postgres" in parts else settings.libpq_env
    return dataclasses.replace(settings, values=values, libpq_env=libpq)


def _connection_for(settings: Any, host: str | None, database: str | None) -> tuple[str | None, dict[str, str]]:
    """DATABASE_URL or the PG* variables, pointed at the target's host and database."""
    libpq = dict(settings.libpq_env)
    if not host and not database:
        return None, libpq
    if settings.database_url:
        from psycopg.conninfo import conninfo_to_dict, make_conninfo  # lazy: cold start
        params = conninfo_to_dict(settings.database_url)
        if host and host != params.get("host"):
            params.pop("password", None)  # the deployment's password goes to its own server only (PG_AUTH=entra)
        params.update({k: v for k, v in (("host", host), ("dbname", database)) if v})
        return make_conninfo(**params), libpq
    if host and host != libpq.get("PGHOST"):
        libpq.pop("PGPASSWORD", None)
    libpq.update({k: v for k, v in (("PGHOST", host), ("PGDATABASE", database)) if v})
    return None, libpq


def parse_targets(raw: str) -> tuple[FleetTarget, ...]:
    """TARGETS (a JSON list) -> targets; TargetsError naming the target, key and expected form."""
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise TargetsError(msg("expected a JSON list of targets, e.g. {example}; not JSON ({reason})",
                               example='[{"name": "prod", ...}]', reason=str(exc))) from None
    except RecursionError:  # json's own limit: an absurdly nested document must not escape as a traceback
        raise TargetsError(msg("expected a JSON list of targets; got a document nested too deeply")) from None
    if not isinstance(document, list) or not document:
        raise TargetsError(msg("expected a non-empty JSON list of targets, e.g. {example}",
                               example='[{"name": "prod", "postgres": {...}}]'))
    targets, seen = [], set()
    for index, entry in enumerate(document, 1):
        target = _parse_one(index, entry)
        if target.name in seen:
            raise TargetsError(msg("target {index}: the name {name} is used twice; names must be unique",
                                   index=index, name=repr(target.name)))
        seen.add(target.name)
        targets.append(target)
    return tuple(targets)


def _parse_one(index: int, entry: Any) -> FleetTarget:
    if not isinstance(entry, dict):
        raise TargetsError(msg("target {index}: expected an object with {keys}", index=index, keys=_TOP_KEYS))
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise TargetsError(msg("target {index}: name: expected {form}, got {value}", index=index,
                               form=msg(NAME_FORM), value=repr(name)))
    where = msg("target {index} ({name})", index=index, name=name)
    unknown = sorted(set(entry) - {"name", "postgres", "storage", "settings"})
    if unknown:
        raise TargetsError(msg("{where}: unknown key {key}; expected {keys}", where=where, key=repr(unknown[0]),
                               keys=_TOP_KEYS))
    raw_changes: dict[str, Any] = {}
    connection: dict[str, str] = {}
    for part in ("postgres", "storage"):
        _read_part(where, part, entry.get(part), raw_changes, connection)
    _read_settings(where, entry.get("settings"), raw_changes)
    return FleetTarget(name=name, changes=_parsed(where, raw_changes), database=connection.get("database"),
                       db_host=connection.get("host"))


def _read_part(where: str, part: str, value: Any, raw_changes: dict[str, Any], connection: dict[str, str]) -> None:
    if value is None:
        return
    allowed = sorted(k for p, k in (*_KEYS, *_CONNECTION_KEYS) if p == part)
    if not isinstance(value, dict):
        raise TargetsError(msg("{where}: {part}: expected an object with {keys}", where=where, part=part,
                               keys=", ".join(allowed)))
    for key, item in value.items():
        if (part, key) in _CONNECTION_KEYS:
            if not isinstance(item, str) or not re.fullmatch(r"[A-Za-z0-9_.:\-\[\]/]{1,253}", item):
                raise TargetsError(msg("{where}: {field}: expected a {key} name, got {value}", where=where,
                                       field=f"{part}.{key}", key=key, value=repr(item)))
            connection[key] = item
        elif (part, key) in _KEYS:
            if key == "containers" and isinstance(item, list):
                item = ",".join(str(c) for c in item)
            if not isinstance(item, str):
                raise TargetsError(msg("{where}: {field}: expected a string, got {kind}", where=where,
                                       field=f"{part}.{key}", kind=type(item).__name__))
            raw_changes[_KEYS[(part, key)]] = item
        else:
            raise TargetsError(msg("{where}: {part}: unknown key {key}; expected {keys}", where=where, part=part,
                                   key=repr(key), keys=", ".join(allowed)))


def _read_settings(where: str, value: Any, raw_changes: dict[str, Any]) -> None:
    from checks.engine.config import attribute_of  # lazy: config imports this module's parser
    if value is None:
        return
    if not isinstance(value, dict):
        raise TargetsError(msg("{where}: settings: expected an object of variables, e.g. {example}", where=where,
                               example='{"BACKUP_MAX_AGE_HOURS": "30"}'))
    for name, item in value.items():
        attr = attribute_of(name)
        if attr is None:
            raise TargetsError(msg("{where}: settings: {name} is not a setting of the verifier", where=where,
                                   name=repr(name)))
        if attr in DENIED_OVERRIDES:
            raise TargetsError(msg("{where}: settings: {name} is deployment-wide and cannot change per target",
                                   where=where, name=name))
        raw_changes[attr] = item if isinstance(item, str) else json.dumps(item)


def _parsed(where: str, raw_changes: Mapping[str, Any]) -> dict[str, Any]:
    from checks.engine.config import parse_value, variable_name  # lazy: see _read_settings
    from checks.engine.valueparse import reason_of
    parsed = {}
    for attr, raw in raw_changes.items():
        try:
            parsed[attr] = parse_value(attr, raw.lower() if raw in ("True", "False") else raw)
        except ValueError as exc:
            raise TargetsError(msg("{where}: {name}: {reason}", where=where, name=variable_name(attr),
                                   reason=reason_of(exc))) from None
    return parsed


def target_problems(values: Mapping[str, Any], deployment: Mapping[str, str],
                    cross_checks: Callable[[dict[str, Any], dict[str, str]], None]) -> dict[str, str]:
    """The deployment's cross-checks (config._cross_checks) on each target's own values: a target's
    server in the drill's resource group, or its thresholds contradicting each other, is refused like
    the deployment's own. {"TARGETS": why} naming the target; problems the deployment has already are
    not repeated per target."""
    found = []
    for target in values.get("targets", ()):
        problems: dict[str, str] = {}
        cross_checks({k: v for k, v in values.items() if k != "targets"} | dict(target.changes), problems)
        found += [msg("target {target}: {name}: {reason}", target=target.name, name=name, reason=why)
                  for name, why in sorted(problems.items()) if deployment.get(name) != why]
    return {"TARGETS": join_messages(found)} if found else {}


def targets_of(settings: Any) -> tuple[FleetTarget, ...]:
    """The configured fleet: TARGETS, else the deployment's own settings as a fleet of one."""
    return tuple(settings.targets) if settings.targets else (FleetTarget(name=settings.target_name),)


def select_targets(fleet: tuple[FleetTarget, ...], names: list[str] | tuple[str, ...]) -> tuple[FleetTarget, ...]:
    """The named targets, in the order asked; KeyError naming the unknown ones and the known names."""
    by_name = {t.name: t for t in fleet}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise KeyError(msg("unknown target {unknown}; known targets: {known}", unknown=", ".join(unknown),
                           known=", ".join(by_name)))  # a Message: the faces quote exc.args[0]
    return tuple(by_name[n] for n in names)
