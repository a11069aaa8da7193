"""What a person reads for a result's detail keys (`retention_days` -> "retention days", in French
"jours de rétention"). The journal, JSON and HTTP keep the raw keys for machines; only the pages
and the Markdown report show labels. A key without a label is shown with its underscores as spaces.
"""
from __future__ import annotations

from checks.engine.i18n import CANARY_WORDS, N_, current

DETAIL_LABELS: dict[str, str] = {
    # the checklist boxes' evidence (checks/report/model.py BOXES, the journal box)
    "last_backup_at": N_("last backup at"), "backup_name": N_("backup name"),
    "retention_days": N_("retention days"), "earliest_restore": N_("earliest restore"),
    "enabled": N_("enabled"), "runs": N_("runs"), "first_run_at": N_("first run at"),
    "last_run_at": N_("last run at"),
    # shared by several families
    "account": N_("storage account"), "server": N_("server"), "container": N_("container"),
    "containers": N_("containers"), "required": N_("required"), "checked_at": N_("checked at"),
    "http_status": N_("HTTP status"), "problems": N_("problems"), "target": N_("target"),
    "run_id": N_("run"),
    # blob.soft_delete, blob.versioning, storage.account_security, storage_protection
    "container_soft_delete_enabled": N_("container soft delete enabled"),
    "container_retention_days": N_("container retention days"), "min_days": N_("minimum days"),
    "max_days": N_("maximum days"), "versioning": N_("versioning"), "change_feed": N_("change feed"),
    "change_feed_retention_days": N_("change feed retention days"),
    "point_in_time_restore": N_("point-in-time restore"),
    "point_in_time_restore_days": N_("point-in-time restore days"), "restore_days": N_("restore days"),
    "soft_delete_days": N_("soft delete days"), "min_restore_time": N_("earliest restore point"),
    "allow_blob_public_access": N_("public blob access allowed"), "minimum_tls_version": N_("minimum TLS version"),
    "https_only": N_("HTTPS only"),
    # blob.recent_file, blob.deleted_visible (listing or change feed)
    "prefix": N_("prefix"), "max_age_days": N_("maximum age (days)"), "list_cap": N_("listing cap"),
    "cap_hit": N_("listing capped"), "deleted_seen": N_("deleted blobs seen"), "strategy": N_("strategy"),
    "strategy_reason": N_("why this strategy"), "window_days": N_("window (days)"), "hours_read": N_("hours read"),
    "recreated": N_("deleted then created again"),
    # database.*
    "server_version": N_("server version"), "latency_ms": N_("latency (ms)"), "read_only": N_("read-only"),
    "database": N_("database"), "user": N_("user"), "statement_timeout": N_("statement timeout"),
    "application_name": N_("application name"), "table": N_("table"), "revisions": N_("Alembic revisions"),
    "expected": N_("expected"), "counts": N_("row counts"), "methods": N_("counting methods"),
    "minimums": N_("minimum rows"), "exact_count_max_rows": N_("exact count up to (rows)"),
    "comparison": N_("comparison"), "previous_run_id": N_("previous run"),
    "previous_counts": N_("previous row counts"), "estimated_as_of": N_("estimates as of"), "drops": N_("drops"),
    "missing": N_("missing"), "errors": N_("errors"),
    # database.signed_document
    "blob_path": N_("file path"), "ordered_at": N_("newest by"), "blob_checked": N_("file checked"),
    "not_checked_reason": N_("why not checked"), "blob_error": N_("file error"), "size": N_("size (bytes)"),
    "expected_sha256": N_("stored sha256"), "actual_sha256": N_("file sha256"),
    "stored_checksum": N_("stored checksum"),
    # postgres.*, storage.*, blob.canary, database.essential_counts: the keys their results keep
    "backup_count": N_("backups listed"), "max_age_hours": N_("maximum age (hours)"),
    "age_hours": N_("age (hours)"), "ahead_of_clock_hours": N_("ahead of the clock (hours)"),
    "last_backup_name": N_("last backup name"), "last_backup_type": N_("last backup type"),
    "last_backup_source": N_("last backup source"), "listing": N_("backups, newest first"),
    "in_progress": N_("backups in progress"), "not_listed": N_("older backups not listed"),
    "min_retention_days": N_("minimum retention (days)"), "geo_redundant_backup": N_("geo-redundant backup"),
    "geo_redundant_required": N_("geo-redundant backup required"), "window_start": N_("restore window starts"),
    "restore_window_covered_days": N_("restore window covered (days)"),
    "restore_window_shortfall_hours": N_("restore window shortfall (hours)"), "created_at": N_("created at"),
    "sku_name": N_("compute size (SKU)"), "sku_tier": N_("compute tier"), "state": N_("state"),
    "age_days": N_("age (days)"), "immutable_backup": N_("immutable backup"),
    "encryption_type": N_("encryption type"), "primary_key_status": N_("primary key status"),
    "geo_backup_key_status": N_("geo-backup key status"), "geo_backup_region": N_("geo-backup region"),
    "region": N_("region"), "backup_regions": N_("backup regions"), "allowed_regions": N_("allowed regions"),
    "outside": N_("outside the allowed regions"), "copies": N_("copies of the data"), "vaults": N_("Backup vaults"),
    "operations": N_("long-term retention operations"), "last_ltr_at": N_("last long-term backup at"),
    "last_ltr_backup": N_("last long-term backup"), "last_failure": N_("last failure"),
    "baseline": N_("accepted counts (baseline)"), "baseline_complete": N_("baseline read in full"),
    "no_baseline": N_("tables without accepted counts"),
    "account_version_worm": N_("version-level immutability on the account"),
    "account_policy_state": N_("account immutability policy state"),
    "account_policy_days": N_("account immutability policy (days)"), "immutable": N_("immutable"),
    "allow_shared_key_access": N_("shared key access allowed"),
    "allow_permanent_delete": N_("permanent delete allowed"), "unlimited": N_("unlimited retention"),
    "has_policy": N_("lifecycle policy present"), "delete_actions": N_("delete actions"),
    "disabled_rules": N_("disabled rules"), "too_early": N_("deletes before the retention ends"),
    "steps": N_("steps passed"), "failed_step": N_("failed step"), "restored_by": N_("restored by"),
    "final_delete": N_("canary deleted at the end"), "versions_listed": N_("versions listed"),
    "cleaned_leftovers": N_("leftovers cleaned"), "left_alone": N_("recent canaries left alone"),
}


def detail_label(key: object) -> str:
    """The label of a detail key in the language being rendered (its key with spaces when unknown)."""
    text = str(key)
    label = DETAIL_LABELS.get(text)
    return current().gettext(label) if label else text.replace("_", " ")


# Detail values that are tokens a family stores (the journal keeps the token, a machine's key), with
# the words a person reads for them: key -> {token: word}. Any other value is shown as stored.
DETAIL_VALUES: dict[str, dict[str, str]] = {
    "strategy": {"listing": N_("listing"), "change_feed": N_("change feed")},  # blob_activity.Strategy.name
    "methods": {"exact": N_("exact"), "estimate": N_("estimate")},  # database.TableCount.method
    "failed_step": {word: word for word in CANARY_WORDS},  # blob.canary: ids of i18n.CANARY_WORDS
    "restored_by": {word: word for word in CANARY_WORDS},
}


def detail_value(key: object, value: object) -> object:
    """A detail's value in the language being rendered when it is one of its key's tokens, else as is."""
    word = DETAIL_VALUES.get(str(key), {}).get(value) if isinstance(value, str) else None
    return current().gettext(word) if word else value
