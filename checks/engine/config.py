"""Settings: one object read from environment variables, validated once.

The variable names are the same as the `Values` in local.settings.sample.json and the Function
App's application settings (infra/main.bicep). An invalid value raises ConfigError with ONE
message naming every bad variable and the form it expects. A capability that is simply not
configured is not an error: its checks are skipped with the reason (see `Settings.require`).
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from checks.engine import connparse, valueparse
from checks.engine.validators import (CONTAINER as _CONTAINER, DRILL_PREFIX as _DRILL_PREFIX, DUE_DAYS as _DUE_DAYS,
                                      DUE_DEFAULT as _DUE_DEFAULT, essential_entry as _essential_entry,
                                      GUID as _GUID, HTTPS_URL as _HTTPS_URL, IDENT as _IDENT, language as _language,
                                      NCRONTAB as _NCRONTAB, PG_SERVER as _PG_SERVER,
                                      PREFIX_TEMPLATE as _PREFIX_TEMPLATE, QUALIFIED as _QUALIFIED,
                                      QUEUE_NAME as _QUEUE_NAME, regions as _regions,
                                      RESOURCE_GROUP as _RESOURCE_GROUP, RESTORE_POINT as _RESTORE_POINT,
                                      RPO_PROBE as _RPO_PROBE, STORAGE_ACCOUNT as _STORAGE_ACCOUNT,
                                      TABLE_NAME as _TABLE_NAME, TAG_NAME as _TAG_NAME, target_name as _target_name,
                                      targets as _targets)
from checks.engine.model import NotConfigured
# EEA regions (HDS: health data stays in the EEA): the one table is checks/engine/regions.py
from checks.engine.regions import EEA_REGIONS  # re-exported: ALLOWED_BACKUP_REGIONS' default

# --- value parsers: each returns the parsed value or raises ValueError(expected form, a message) ---
_int, _float, _bool, _choice, _pattern, _csv = (valueparse.integer, valueparse.number, valueparse.boolean,
                                                valueparse.choice, valueparse.pattern, valueparse.csv)
_abs_path = valueparse.abs_path


class ConfigError(ValueError):
    """Raised once with every invalid variable; `problems` maps variable -> expected form."""

    def __init__(self, problems: dict[str, str]):
        self.problems = dict(problems)
        lines = [f"  {name}: {why}" for name, why in sorted(self.problems.items())]
        super().__init__("invalid configuration:\n" + "\n".join(lines))


@dataclass(frozen=True)
class Var:
    """One environment variable: its name, parser, default and what it is for."""
    name: str
    parse: Callable[[str], Any] = str
    default: Any = None
    doc: str = ""


# Every variable the verifier reads. Order = order in local.settings.sample.json and docs/configuration.md.
VARIABLES: tuple[tuple[str, Var], ...] = (
    # journal and scheduling
    ("journal_table", Var("JOURNAL_TABLE", _TABLE_NAME, "BackupJournal", "Table Storage table of the journal")),
    ("journal_connection_string", Var("AzureWebJobsStorage", connparse.storage_connection_string, None,
                                      "journal storage by connection string (UseDevelopmentStorage=true locally)")),
    ("journal_account_url", Var("JOURNAL_ACCOUNT_URL", _HTTPS_URL, None,
                                "journal storage by account URL + managed identity (wins over the connection string)")),
    ("journal_resource_group", Var("JOURNAL_RESOURCE_GROUP", _RESOURCE_GROUP, None,
                                   "resource group of the journal's storage account; no restore or drill server "
                                   "ever goes there")),
    ("journal_seal_container", Var("JOURNAL_SEAL_CONTAINER", _CONTAINER, "journal-seals",
                                   "blob container of the journal's monthly seals (immutable in Azure: WORM policy)")),
    ("verify_schedule", Var("VERIFY_SCHEDULE", _NCRONTAB, "0 0 6 1 * *", "NCRONTAB of the monthly run")),
    ("heartbeat_schedule", Var("HEARTBEAT_SCHEDULE", _NCRONTAB, "0 30 6 * * *",
                               "NCRONTAB of the daily heartbeat that feeds the dead-man alert")),
    ("check_timeout_seconds", Var("CHECK_TIMEOUT_SECONDS", _float(1, 600), 60.0, "timeout of one check")),
    ("run_lease_seconds", Var("RUN_LEASE_SECONDS", _int(15, 60), 60, "lease that keeps one run at a time")),
    ("verifier_spool_dir", Var("VERIFIER_SPOOL_DIR", _abs_path, None,
                               "where runs wait when the journal is down (default: one folder per journal "
                               "account and table under the user's state directory)")),
    ("log_level", Var("LOG_LEVEL", _choice("debug", "info", "warning", "error"), "info", "logging level")),
    ("target_name", Var("TARGET_NAME", _target_name, "production",
                        "name of the target these settings describe (a fleet of one); see TARGETS")),
    ("targets", Var("TARGETS", _targets, (), "JSON list of targets (name, postgres, storage, settings); "
                                             "unset: these settings are the only target")),
    ("fleet_queue", Var("FLEET_QUEUE", _QUEUE_NAME, "verifier-fleet",
                        "queue of the fleet's monthly runs (one message per target); <name>-poison gets the failed ones")),
    ("fleet_queue_service_uri", Var("FleetQueue__queueServiceUri", _HTTPS_URL, None,
                                    "queue service URL of the fleet queue (managed identity; the trigger's connection)")),
    ("fleet_queue_connection_string", Var("FleetQueue", connparse.storage_connection_string, None,
                                          "fleet queue by connection string (local; default: AzureWebJobsStorage)")),
    ("discover_tag", Var("DISCOVER_TAG", _TAG_NAME, None,
                         "find the targets through Azure Resource Graph: servers and storage accounts with this "
                         "tag, grouped by their medicapp-env tag (TARGETS wins when both are set)")),
    ("discover_subscriptions", Var("DISCOVER_SUBSCRIPTIONS", _csv(_GUID), (),
                                   "subscriptions DISCOVER_TAG searches (default: AZURE_SUBSCRIPTION_ID)")),
    ("language", Var("LANGUAGE", _language, "en", "language of reports, CLI and HTTP output (en or fr)")),
    ("http_auth_mode", Var("HTTP_AUTH_MODE", _choice("entra", "function-key"), "entra",
                           "who may call the HTTP routes: entra (App Service Authentication + app roles) or "
                           "function-key (opt-out: a key, no roles, sign-off names typed and unverified)")),
    # database (the application's view)
    ("database_url", Var("DATABASE_URL", connparse.database_url, None, "libpq URL; else the PG* variables (PGHOST, PGUSER, ...)")),
    ("pg_auth", Var("PG_AUTH", _choice("password", "entra"), "password", "password or Microsoft Entra token")),
    ("db_connect_timeout_seconds", Var("DB_CONNECT_TIMEOUT_SECONDS", _int(1, 120), 10, "libpq connect_timeout")),
    ("db_statement_timeout_ms", Var("DB_STATEMENT_TIMEOUT_MS", _int(100, 600000), 30000, "statement_timeout")),
    ("alembic_version_table", Var("ALEMBIC_VERSION_TABLE", _IDENT, "alembic_version", "Alembic's table")),
    ("alembic_schema", Var("ALEMBIC_SCHEMA", _IDENT, "public", "schema of Alembic's table")),
    ("expected_alembic_revision", Var("EXPECTED_ALEMBIC_REVISION", _pattern(r"[0-9A-Za-z_]{1,64}", "an Alembic revision id"), None,
                                      "revision production must be at")),
    ("essential_tables", Var("ESSENTIAL_TABLES", _csv(_essential_entry), (), "tables to count, e.g. public.patients>=1")),
    ("exact_count_max_rows", Var("EXACT_COUNT_MAX_ROWS", _int(0), 1_000_000, "above this estimate, use the planner's count")),
    ("count_drop_threshold_percent", Var("COUNT_DROP_THRESHOLD_PERCENT", _float(0, 100), 5.0,
                                         "a drop larger than this vs the previous run fails")),
    ("signed_document_table", Var("SIGNED_DOCUMENT_TABLE", _QUALIFIED, None, "table of documents")),
    ("signed_document_signed_column", Var("SIGNED_DOCUMENT_SIGNED_COLUMN", _IDENT, "signed", "boolean signed flag")),
    ("signed_document_path_column", Var("SIGNED_DOCUMENT_PATH_COLUMN", _IDENT, "blob_path", "blob path column")),
    ("signed_document_checksum_column", Var("SIGNED_DOCUMENT_CHECKSUM_COLUMN", _IDENT, None, "sha256 hex column")),
    ("signed_document_order_column", Var("SIGNED_DOCUMENT_ORDER_COLUMN", _IDENT, "created_at", "newest first by")),
    ("signed_document_container", Var("SIGNED_DOCUMENT_CONTAINER", _CONTAINER, None, "container of the files")),
    # Azure PostgreSQL Flexible Server (management plane)
    ("azure_subscription_id", Var("AZURE_SUBSCRIPTION_ID", _GUID, None, "subscription of the targets")),
    ("pg_resource_group", Var("PG_RESOURCE_GROUP", _RESOURCE_GROUP, None, "resource group of the server")),
    ("pg_server_name", Var("PG_SERVER_NAME", _PG_SERVER, None, "production flexible server")),
    ("backup_max_age_hours", Var("BACKUP_MAX_AGE_HOURS", _int(1, 24 * 40), 26, "newest backup must be younger")),
    ("min_backup_retention_days", Var("MIN_BACKUP_RETENTION_DAYS", _int(7, 35), 7, "minimum retention (7-35)")),
    ("require_geo_redundant_backup", Var("REQUIRE_GEO_REDUNDANT_BACKUP", _bool, False, "geo-redundant backup required")),
    ("restore_window_tolerance_hours", Var("RESTORE_WINDOW_TOLERANCE_HOURS", _int(0, 240), 24,
                                           "slack when comparing the earliest restore point with the window")),
    ("allowed_backup_regions", Var("ALLOWED_BACKUP_REGIONS", _regions, EEA_REGIONS,
                                   "regions every copy may live in (server, geo-backup pair, blob replica, drill, LTR)")),
    ("ltr_required", Var("LTR_REQUIRED", _bool, False, "long-term retention backups required")),
    ("ltr_max_age_days", Var("LTR_MAX_AGE_DAYS", _int(1, 3650), 35,
                             "newest succeeded long-term retention backup must be younger")),
    # Blob Storage
    ("storage_resource_group", Var("STORAGE_RESOURCE_GROUP", _RESOURCE_GROUP, None, "resource group of the account")),
    ("storage_account_name", Var("STORAGE_ACCOUNT_NAME", _STORAGE_ACCOUNT, None, "checked storage account")),
    ("blob_account_url", Var("BLOB_ACCOUNT_URL", _HTTPS_URL, None, "data plane URL (managed identity)")),
    ("blob_connection_string", Var("BLOB_CONNECTION_STRING", connparse.storage_connection_string, None, "data plane by connection string (local)")),
    ("blob_containers", Var("BLOB_CONTAINERS", _csv(_CONTAINER), (), "containers to check")),
    ("blob_recent_prefix", Var("BLOB_RECENT_PREFIX", valueparse.blob_prefix, None, "only blobs under this prefix count as recent")),
    ("blob_retention_min_days", Var("BLOB_RETENTION_MIN_DAYS", _int(1, 365), 30, "soft delete retention lower bound")),
    ("blob_retention_max_days", Var("BLOB_RETENTION_MAX_DAYS", _int(1, 365), 90, "soft delete retention upper bound")),
    ("recent_file_max_age_days", Var("RECENT_FILE_MAX_AGE_DAYS", _int(1, 365), 7, "newest blob must be younger")),
    ("blob_list_cap", Var("BLOB_LIST_CAP", _int(1, 1_000_000), 5000, "blobs listed at most per container")),
    ("blob_activity_source", Var("BLOB_ACTIVITY_SOURCE", _choice("auto", "change_feed", "listing"), "auto",
                                 "recent/deleted files from the change feed or a listing (auto: feed when on)")),
    ("blob_recent_prefix_template", Var("BLOB_RECENT_PREFIX_TEMPLATE", _PREFIX_TEMPLATE, None,
                                        "listing prefix by date, e.g. uploads/{yyyy}/{mm}/ (this and last month)")),
    ("blob_deleted_sample", Var("BLOB_DELETED_SAMPLE", _int(1, 20), 3,
                                "deleted blobs from the change feed checked per container")),
    ("blob_canary_container", Var("BLOB_CANARY_CONTAINER", _CONTAINER, None, "container for the canary round trip")),
    ("require_blob_point_in_time_restore", Var("REQUIRE_BLOB_POINT_IN_TIME_RESTORE", _bool, False,
                                               "blob point-in-time restore off fails (else warns)")),
    ("require_immutable_storage", Var("REQUIRE_IMMUTABLE_STORAGE", _bool, False,
                                      "no immutable (WORM) storage fails (else reported only)")),
    # restore drill
    ("restore_drill_enabled", Var("RESTORE_DRILL_ENABLED", _bool, False, "opt in to the restore drill")),
    ("restore_drill_resource_group", Var("RESTORE_DRILL_RESOURCE_GROUP", _RESOURCE_GROUP, None,
                                         "the only resource group where drills create and delete servers")),
    ("restore_drill_every_months", Var("RESTORE_DRILL_EVERY_MONTHS", _int(1, 120), 3,
                                       "a target is due for a drill when its last successful one is this many "
                                       "calendar months old (per target in TARGETS settings)")),
    ("restore_drill_max_concurrent", Var("RESTORE_DRILL_MAX_CONCURRENT", _int(1, 20), 2,
                                         "drills running at once across the fleet (one per target); the due "
                                         "targets left wait for the next drill timer tick")),
    ("restore_point", Var("RESTORE_POINT", _RESTORE_POINT, "latest", "latest, random or an ISO time")),
    ("restore_drill_prefix", Var("RESTORE_DRILL_PREFIX", _DRILL_PREFIX, "medicapp-db-restore", "name prefix of drill servers")),
    ("restore_drill_keep", Var("RESTORE_DRILL_KEEP", _bool, False, "keep the restored server until its expiry tag")),
    ("restore_drill_keep_hours", Var("RESTORE_DRILL_KEEP_HOURS", _int(1, 24 * 30), 24, "expiry of a kept drill server")),
    ("restore_drill_max_hours", Var("RESTORE_DRILL_MAX_HOURS", _int(1, 72), 6, "a drill older than this fails")),
    ("drill_max_age_months", Var("DRILL_MAX_AGE_MONTHS", _int(1, 120), 12,
                                 "a target with no successful restore drill for this many months raises the drill-age alert")),
    ("restore_drill_schedule", Var("RESTORE_DRILL_SCHEDULE", _NCRONTAB, "0 */10 * * * *", "NCRONTAB of the drill advancer")),
    ("deviation_due_days", Var("DEVIATION_DUE_DAYS", _DUE_DAYS, _DUE_DEFAULT,
                               "days to close a deviation, by severity of its check")),
    ("rpo_probe", Var("RPO_PROBE", _RPO_PROBE, None, "schema.table.timestamp_column measuring the drill's RPO")),
    ("rto_target_minutes", Var("RTO_TARGET_MINUTES", _int(1, 7 * 24 * 60), None,
                               "a drill whose RTO (restore request to server ready) is longer fails")),
    ("rpo_target_seconds", Var("RPO_TARGET_SECONDS", _int(0, 7 * 24 * 3600), None,
                               "a drill whose measured RPO (RPO_PROBE) is longer fails")),
)

_FIELDS = {attr: var for attr, var in VARIABLES}
DATABASE = "database"  # Settings.require(DATABASE): DATABASE_URL or PGHOST/PGDATABASE


@dataclass(frozen=True)
class Settings:
    """Validated configuration. Build with `Settings.from_env(os.environ)`."""
    values: Mapping[str, Any] = field(default_factory=dict)
    # raw libpq PG* variables, kept aside (never logged) for the connection
    libpq_env: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __getattr__(self, attr: str) -> Any:
        values = object.__getattribute__(self, "values")
        if attr in _FIELDS:
            return values.get(attr, _FIELDS[attr].default)
        raise AttributeError(attr)

    def __repr__(self) -> str:  # never print secrets by accident
        return f"Settings({len(self.values)} values set)"

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for attr, var in VARIABLES:
            raw = env.get(var.name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[attr] = var.parse(raw)
            except ValueError as exc:
                problems[var.name] = valueparse.reason_of(exc)
        _cross_checks(values, problems)
        libpq = {k: v for k, v in env.items() if k.startswith("PG") and k.isupper() and k not in
                 {"PG_AUTH", "PG_RESOURCE_GROUP", "PG_SERVER_NAME"}}
        problems.update(connparse.libpq_problems(libpq))
        if problems:
            raise ConfigError(problems)
        return cls(values=values, libpq_env=libpq)

    def override(self, **changes: Any) -> "Settings":
        """A copy with some values replaced (CLI flags such as --azure-server); None = keep."""
        merged = dict(self.values)
        problems: dict[str, str] = {}
        for attr, value in changes.items():
            if value is None:
                continue
            var = _FIELDS[attr]
            try:
                merged[attr] = var.parse(value) if isinstance(value, str) else value
            except ValueError as exc:
                problems[var.name] = valueparse.reason_of(exc)
        if problems:
            raise ConfigError(problems)
        return dataclasses.replace(self, values=merged)

    def is_set(self, attr: str) -> bool:
        value = getattr(self, attr)
        return value not in (None, "", ())

    def require(self, *needs: str | tuple[str, ...]) -> None:
        """Raise NotConfigured naming EVERY missing variable at once: the check becomes `skipped`.

        A need is an attribute, a tuple of alternatives (any one will do), or DATABASE (the
        database connection: DATABASE_URL or the libpq PG* variables).
        """
        missing = [self._missing_label(need) for need in needs if not self._satisfied(need)]
        if missing:
            from checks.engine.i18n import join_messages, msg
            if len(missing) == 1:  # one variable and several agree differently in French (non défini / définis)
                raise NotConfigured(msg("{name} not set", name=missing[0]))
            names = msg("{names} and {last}", names=join_messages(missing[:-1], ", "), last=missing[-1])
            raise NotConfigured(msg("{names} not set", names=names))

    def _satisfied(self, need: str | tuple[str, ...]) -> bool:
        if need == DATABASE:
            return self.database_configured
        return any(self.is_set(a) for a in ((need,) if isinstance(need, str) else need))

    @staticmethod
    def _missing_label(need: str | tuple[str, ...]) -> str:
        from checks.engine.i18n import msg
        if need == DATABASE:
            return msg("DATABASE_URL (or PGHOST/PGDATABASE)")
        first, *others = (need,) if isinstance(need, str) else need
        return msg("{name} (or {others})", name=_FIELDS[first].name,  # "A (or B)", "A (or B or C)"
                   others=" or ".join(_FIELDS[o].name for o in others)) if others else _FIELDS[first].name

    @property
    def spool_dir(self) -> Path:
        """This deployment's outage spool: VERIFIER_SPOOL_DIR, else derived from the journal's account and table."""
        if self.verifier_spool_dir:
            return Path(self.verifier_spool_dir)
        return connparse.default_spool_dir(os.environ, self.journal_account_url, self.journal_connection_string,
                                           self.journal_table)

    @property
    def database_configured(self) -> bool:
        return bool(self.database_url or self.libpq_env.get("PGHOST") or self.libpq_env.get("PGDATABASE"))


def _cross_checks(values: dict[str, Any], problems: dict[str, str]) -> None:
    lo = values.get("blob_retention_min_days", _FIELDS["blob_retention_min_days"].default)
    hi = values.get("blob_retention_max_days", _FIELDS["blob_retention_max_days"].default)
    if lo > hi:
        problems["BLOB_RETENTION_MAX_DAYS"] = valueparse.form("expected >= BLOB_RETENTION_MIN_DAYS ({lo}), got {hi}",
                                                              lo=lo, hi=hi)
    drill_group = values.get("restore_drill_resource_group")
    for attr in ("pg_resource_group", "storage_resource_group", "journal_resource_group"):
        production_group = values.get(attr)  # compared as Azure compares group names: ignoring case
        if drill_group and production_group and drill_group.lower() == production_group.lower():
            # why: the drill's write/delete rights live in this group; production's must stay out of reach
            problems["RESTORE_DRILL_RESOURCE_GROUP"] = valueparse.form(
                "expected a resource group other than {variable} ({group}): drill servers never live next to "
                "production", variable=_FIELDS[attr].name, group=production_group)
            break
    _drill_groups_apart(values, problems)
    every = values.get("restore_drill_every_months", _FIELDS["restore_drill_every_months"].default)
    alarm = values.get("drill_max_age_months", _FIELDS["drill_max_age_months"].default)
    if every > alarm:  # why: the drill-age alert would fire every cycle before the target is even due
        problems["RESTORE_DRILL_EVERY_MONTHS"] = valueparse.form(
            "expected at most DRILL_MAX_AGE_MONTHS ({alarm}), got {every}: the drill-age alert would fire before "
            "the target is due; raise DRILL_MAX_AGE_MONTHS too", alarm=alarm, every=every)
    if values.get("rpo_target_seconds") is not None and not values.get("rpo_probe"):
        problems["RPO_TARGET_SECONDS"] = valueparse.form(
            "expected RPO_PROBE to be set too: the drill measures its RPO through it")
    if values.get("blob_recent_prefix") and values.get("blob_recent_prefix_template"):
        problems["BLOB_RECENT_PREFIX_TEMPLATE"] = valueparse.form(
            "expected BLOB_RECENT_PREFIX or BLOB_RECENT_PREFIX_TEMPLATE, not both")
    from checks.engine.fleet import target_problems  # lazy: fleet reads this module's table
    problems.update(target_problems(values, problems, _cross_checks))  # the same checks on each target's values


def _drill_groups_apart(values: dict[str, Any], problems: dict[str, str]) -> None:
    """No drill group (the deployment's, a target's own in TARGETS settings) is ANY target's production group."""
    attrs = ("pg_resource_group", "storage_resource_group", "journal_resource_group")
    targets = values.get("targets") or ()
    if not targets or "TARGETS" in problems:
        return
    base = {k: v for k, v in values.items() if k != "targets"}
    every = [("", base)] + [(t.name, base | dict(t.changes)) for t in targets]
    production = {str(v[a]).lower(): (name, a) for name, v in every for a in attrs if v.get(a)}
    for name, own in every:
        group = own.get("restore_drill_resource_group")
        if group and group.lower() in production and production[group.lower()][0] != name:
            holder, attr = production[group.lower()]
            problems["TARGETS"] = valueparse.form(
                "expected every restore drill group apart from every target's production groups: {group} "
                "(drill group of {drill}) is {variable} of {holder}", group=group, drill=name or "TARGET_NAME",
                variable=_FIELDS[attr].name, holder=holder or "TARGET_NAME")
            return


def parse_value(attr: str, raw: str) -> Any:
    """Parse one value as its variable would be (ValueError naming the expected form)."""
    return _FIELDS[attr].parse(raw)


def variable_name(attr: str) -> str:
    return _FIELDS[attr].name


def attribute_of(variable: str) -> str | None:
    """The Settings attribute read from an environment variable (None: not one of ours)."""
    return next((attr for attr, var in VARIABLES if var.name == variable), None)


def read_settings_file(path: str | Path) -> dict[str, str]:
    """The `Values` of a local.settings.json (the Functions host's format), as environment variables.

    Raises ConfigError naming the file when it cannot be read or is not in that format.
    """
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError({str(path): valueparse.form("cannot read the settings file: {reason}",
                                                      reason=str(exc.strerror or exc))}) from None
    except ValueError as exc:
        raise ConfigError({str(path): valueparse.form("not valid JSON: {reason}", reason=str(exc))}) from None
    values = document.get("Values") if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise ConfigError({str(path): valueparse.form('expected a JSON object with "Values": {json}',
                                                      json='{"NAME": "value", ...}')})
    wrong = sorted(k for k, v in values.items() if not isinstance(v, (str, int, float, bool)))
    if wrong:
        raise ConfigError({str(path): valueparse.form("expected string values, got objects or lists for {names}",
                                                      names=", ".join(wrong))})
    return {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in values.items()}
