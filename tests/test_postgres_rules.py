"""The postgres.* pure rules, without any transport: facts in, Outcome out."""
from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

from checks.connect.azure import arm_error, credentials_tried
from checks.engine.config import Settings
from checks.engine.model import Status
from checks.families.postgres import (LISTING_CAP, BackupFacts, BackupItem, ServerFacts, backup_listing,
                             evaluate_backup_recent, evaluate_retention)

NOW = datetime(2026, 11, 1, 6, 0, tzinfo=timezone.utc)
DEFAULTS = Settings.from_env({})


def backup(name, hours_ago, kind="Full", source="Automatic"):
    return BackupItem(name=name, backup_type=kind, source=source,
                      completed_at=None if hours_ago is None else NOW - timedelta(hours=hours_ago))


def server(**changes) -> ServerFacts:
    base = ServerFacts(name="medicapp-db", state="Ready", sku_tier="Burstable", sku_name="Standard_B1ms",
                       retention_days=14, geo_redundant_backup="Disabled",
                       earliest_restore=NOW - timedelta(days=14, hours=1), created_at=NOW - timedelta(days=400),
                       location="westeurope", version="16", checked_at=NOW)
    return dataclasses.replace(base, **changes)


# --- backup_recent ---------------------------------------------------------------------------

def test_newest_completed_backup_decides_not_list_order():
    facts = BackupFacts("medicapp-db", (backup("old", 50), backup("new", 3), backup("mid", 27)), NOW)
    outcome = evaluate_backup_recent(facts, DEFAULTS)
    assert outcome.status is Status.PASS
    assert outcome.details["last_backup_name"] == "new"
    assert outcome.details["last_backup_at"] == "2026-11-01T03:00:00+00:00"
    assert outcome.details["age_hours"] == 3.0
    assert [line.split()[-2] for line in outcome.details["listing"]] == ["new", "mid", "old"]


def test_boundary_exactly_at_the_limit_passes_one_second_more_fails():
    at_limit = BackupFacts("s", (backup("b", 26),), NOW)
    assert evaluate_backup_recent(at_limit, DEFAULTS).status is Status.PASS
    over = BackupFacts("s", (BackupItem("b", "Full", "Automatic", NOW - timedelta(hours=26, seconds=1)),), NOW)
    assert evaluate_backup_recent(over, DEFAULTS).status is Status.FAIL


def test_in_progress_backups_are_listed_first_but_do_not_count():
    facts = BackupFacts("s", (backup("done", 40), backup("running", None)), NOW)
    outcome = evaluate_backup_recent(facts, DEFAULTS)
    assert outcome.status is Status.FAIL  # the only completed one is 40 h old
    assert outcome.details["last_backup_name"] == "done"
    assert outcome.details["listing"][0].startswith("- ") and outcome.details["in_progress"] == 1
    only_running = evaluate_backup_recent(BackupFacts("s", (backup("running", None),), NOW), DEFAULTS)
    assert only_running.status is Status.FAIL
    assert only_running.summary == "no completed backup listed for server s (1 in progress)"


def test_listing_is_capped_and_says_how_many_are_not_shown():
    many = tuple(backup(f"b{i:02d}", i) for i in range(LISTING_CAP + 5))
    lines = backup_listing(many)
    assert len(lines) == LISTING_CAP  # data only: how many more is the not_listed detail, each face words it
    assert lines[0].split()[-2] == "b00"
    outcome = evaluate_backup_recent(BackupFacts("s", many, NOW), DEFAULTS)
    assert outcome.details["backup_count"] == LISTING_CAP + 5
    assert len(outcome.details["listing"]) == LISTING_CAP and outcome.details["not_listed"] == 5
    assert "in_progress" not in outcome.details


def test_future_backup_warns_even_if_an_older_one_is_recent():
    facts = BackupFacts("s", (backup("ok", 2), backup("future", -3)), NOW)
    outcome = evaluate_backup_recent(facts, DEFAULTS)
    assert outcome.status is Status.WARN
    assert "3 h AHEAD of the verifier's clock" in outcome.summary
    assert outcome.details["ahead_of_clock_hours"] == 3.0


# --- retention -------------------------------------------------------------------------------

def test_healthy_server_passes_with_the_report_keys():
    outcome = evaluate_retention(server(), DEFAULTS)
    assert outcome.status is Status.PASS
    assert outcome.details["retention_days"] == 14
    assert outcome.details["earliest_restore"] == "2026-10-18T05:00:00+00:00"
    assert outcome.details["sku_tier"] == "Burstable"
    assert outcome.details["geo_redundant_backup"] == "Disabled"


def test_retention_bounds():
    s35 = Settings.from_env({"MIN_BACKUP_RETENTION_DAYS": "35"})
    assert evaluate_retention(server(retention_days=35, earliest_restore=NOW - timedelta(days=35)), s35).status \
        is Status.PASS
    outcome = evaluate_retention(server(retention_days=34, earliest_restore=NOW - timedelta(days=34)), s35)
    assert outcome.status is Status.FAIL
    assert outcome.summary == "backup retention 34 days is below the required 35"


def test_missing_retention_fails_and_missing_earliest_restore_warns():
    outcome = evaluate_retention(server(retention_days=None), DEFAULTS)
    assert outcome.status is Status.FAIL
    assert outcome.summary == "the server reports no backup retention"
    outcome = evaluate_retention(server(earliest_restore=None), DEFAULTS)
    assert outcome.status is Status.WARN
    assert outcome.summary == "the server reports no earliest restore date"


def test_geo_required_and_not_reported_fails():
    geo = Settings.from_env({"REQUIRE_GEO_REDUNDANT_BACKUP": "true"})
    outcome = evaluate_retention(server(geo_redundant_backup=None), geo)
    assert outcome.status is Status.FAIL
    assert outcome.summary == "geo-redundant backup is not reported but REQUIRE_GEO_REDUNDANT_BACKUP=true"
    assert evaluate_retention(server(geo_redundant_backup="Enabled"), geo).status is Status.PASS


def test_young_server_warns_by_how_much_and_when_created():
    young = server(created_at=NOW - timedelta(days=2), earliest_restore=NOW - timedelta(days=2))
    outcome = evaluate_retention(young, DEFAULTS)
    assert outcome.status is Status.WARN
    assert outcome.summary == ("earliest restore point 2026-10-30T06:00:00+00:00 covers only 2 of the 14 days "
                               "of retention: 288 h short (tolerance 24 h); server created 2026-10-30T06:00:00+00:00")
    assert outcome.details["restore_window_shortfall_hours"] == 288.0
    assert outcome.details["window_start"] == "2026-10-18T06:00:00+00:00"


def test_unknown_state_warns():
    outcome = evaluate_retention(server(state=None), DEFAULTS)
    assert outcome.status is Status.WARN
    assert outcome.summary == "server state is unknown (not Ready)"


# --- shared error mapping ---------------------------------------------------------------------

def test_credential_errors_list_names_only_never_the_messages():
    from azure.core.exceptions import ClientAuthenticationError

    message = ("DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
               "Attempted credentials:\n"
               "\tEnvironmentCredential: ClientSecretCredential client_secret=Sup3rSecretValue rejected\n"
               "\tManagedIdentityCredential: ManagedIdentityCredential authentication unavailable.\n"
               "\tAzureCliCredential: Azure CLI not found on path\n"
               "To mitigate this issue, please refer to the troubleshooting guidelines here at https://aka.ms/x.")
    assert credentials_tried(message) == ["EnvironmentCredential", "ManagedIdentityCredential", "AzureCliCredential"]
    err = arm_error(ClientAuthenticationError(message=message), "server s", "resource group rg (subscription x)")
    assert "Sup3rSecretValue" not in err.reason
    assert err.reason.endswith("Tried: EnvironmentCredential, ManagedIdentityCredential, AzureCliCredential.")
    assert err.details == {"credentials_tried": ["EnvironmentCredential", "ManagedIdentityCredential",
                                                 "AzureCliCredential"]}
    assert credentials_tried("some other failure") == []
