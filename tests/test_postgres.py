"""Contract tests of the postgres.* checks: the real PostgreSQLManagementClient over CannedTransport
serving Azure's official examples (tests/fixtures/arm/) and variants derived here."""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from azure_fakes import (Canned, CannedTransport, StaticCredential, arm_error_body, arm_fixture, derive,
                         sdk_kwargs)

from checks.cli import print_run
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import CheckError, NotConfigured, Status
from checks.families.postgres import get_server
from checks.engine.registry import all_checks
from checks.engine.runner import execute
from checks.service import RunRequest, verify

SUB = "ffffffff-ffff-ffff-ffff-ffffffffffff"
RG = "exampleresourcegroup"
SERVER = "exampleserver"
ARM = "https://management.azure.com"
SERVER_URL = (f"{ARM}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/"
              f"flexibleServers/{SERVER}?api-version=2026-10-01")
BACKUPS_URL = (f"{ARM}/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/"
               f"flexibleServers/{SERVER}/backups?api-version=2026-10-01")
SERVER_RE = r"/flexibleServers/[^/?]+\?api-version="
BACKUPS_RE = r"/flexibleServers/[^/?]+/backups\?api-version="

SERVER_BODY = arm_fixture("postgresql_ServersGet.json")
BACKUPS_BODY = arm_fixture("postgresql_BackupsAutomaticAndOnDemandListByServer.json")

# The examples: newest backup completed 2025-06-01T18:30:22.123456Z; earliest restore point
# 2025-06-01T18:35:22.123456Z, retention 7 days, geo-redundant, Ready, GeneralPurpose.
BACKUP_NOW = datetime(2025, 6, 2, 0, 30, 22, 123456, tzinfo=timezone.utc)  # 6 h after the newest backup
RETENTION_NOW = datetime(2025, 6, 8, 18, 35, 22, 123456, tzinfo=timezone.utc)  # exactly 7 days after earliest

LISTING = [
    "2025-06-01T18:30:22+00:00  Customer On-Demand  ondemandbackup-20250601T183022  (Customer Initiated)",
    "2025-06-01T14:30:22+00:00  Full                backup_638830782181266873  (Automatic)",
]


class RecordingTransport(CannedTransport):
    """Records the SDK's retry sleeps instead of sleeping."""

    def __init__(self):
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, duration):
        self.sleeps.append(duration)


def settings(**extra: str) -> Settings:
    env = {"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": RG, "PG_SERVER_NAME": SERVER}
    env.update(extra)
    return Settings.from_env({k: v for k, v in env.items() if v is not None})


def make_ctx(transport, now, env=None, kwargs=None):
    return RunContext(settings=settings(**(env or {})), clock=lambda: now, credential=StaticCredential(),
                      azure_kwargs=kwargs if kwargs is not None else sdk_kwargs(transport))


def run_check(check_id, transport, now, env=None, kwargs=None):
    ctx = make_ctx(transport, now, env, kwargs)
    try:
        return execute(all_checks()[check_id], ctx), ctx
    finally:
        ctx.close()


def backups_with(*completed: str, base=BACKUPS_BODY) -> dict:
    """The example list with its two backups' completedTime replaced (oldest first, as in the example)."""
    body = base
    for i, when in enumerate(completed):
        body = derive(body, "value", [dict(item) for item in body["value"]])
        body["value"][i] = derive(body["value"][i], "properties.completedTime", when)
    return body


# --- postgres.backup_recent ------------------------------------------------------------------

def test_backup_recent_passes_on_the_official_example():
    t = CannedTransport().json("GET", BACKUPS_RE, BACKUPS_BODY)
    outcome, ctx = run_check("postgres.backup_recent", t, BACKUP_NOW)
    assert t.urls() == [BACKUPS_URL]
    assert t.requests[0].headers["Authorization"] == "Bearer test-token"
    assert ctx.credential.scopes == [("https://management.azure.com/.default",)]
    assert outcome.status is Status.PASS
    assert outcome.summary == ("newest backup ondemandbackup-20250601T183022 (Customer On-Demand) completed "
                               "2025-06-01T18:30:22+00:00, 6 h ago (limit 26 h); 2 backups listed")
    assert outcome.details == {
        "server": SERVER, "backup_count": 2, "max_age_hours": 26, "checked_at": "2025-06-02T00:30:22+00:00",
        "last_backup_name": "ondemandbackup-20250601T183022", "last_backup_type": "Customer On-Demand",
        "last_backup_source": "Customer Initiated", "last_backup_at": "2025-06-01T18:30:22+00:00",
        "age_hours": 6.0, "listing": LISTING}


def test_backup_recent_fails_on_an_empty_list():
    t = CannedTransport().json("GET", BACKUPS_RE, {"value": []})
    outcome, _ = run_check("postgres.backup_recent", t, BACKUP_NOW)
    assert outcome.status is Status.FAIL
    assert outcome.summary == "no completed backup listed for server exampleserver"
    assert outcome.details["backup_count"] == 0
    assert outcome.details["last_backup_at"] is None
    assert outcome.details["listing"] == []
    assert "on-demand backup" in outcome.remediation


def test_backup_recent_fails_when_the_newest_backup_is_three_days_old():
    body = backups_with("2025-05-29T22:00:00+00:00", "2025-05-30T00:30:22+00:00")
    t = CannedTransport().json("GET", BACKUPS_RE, body)
    outcome, _ = run_check("postgres.backup_recent", t, BACKUP_NOW)
    assert outcome.status is Status.FAIL
    assert outcome.summary == ("newest backup ondemandbackup-20250601T183022 (Customer On-Demand) completed "
                               "2025-05-30T00:30:22+00:00, 72 h ago: older than 26 h; 2 backups listed")
    assert outcome.details["age_hours"] == 72.0
    assert outcome.details["last_backup_at"] == "2025-05-30T00:30:22+00:00"
    assert outcome.details["listing"][0].startswith("2025-05-30T00:30:22+00:00  Customer On-Demand")


def test_backup_recent_respects_backup_max_age_hours():
    t = CannedTransport().json("GET", BACKUPS_RE, BACKUPS_BODY)
    outcome, _ = run_check("postgres.backup_recent", t, BACKUP_NOW, env={"BACKUP_MAX_AGE_HOURS": "5"})
    assert outcome.status is Status.FAIL
    assert "6 h ago: older than 5 h" in outcome.summary


def test_backup_recent_warns_on_a_backup_time_in_the_future():
    future = (BACKUP_NOW + timedelta(hours=2)).isoformat()
    t = CannedTransport().json("GET", BACKUPS_RE, backups_with("2025-06-01T14:30:22+00:00", future))
    outcome, _ = run_check("postgres.backup_recent", t, BACKUP_NOW)
    assert outcome.status is Status.WARN
    assert outcome.summary == ("newest backup ondemandbackup-20250601T183022 (Customer On-Demand) completed "
                               "2025-06-02T02:30:22+00:00, 2 h AHEAD of the verifier's clock "
                               "(2025-06-02T00:30:22+00:00): clock skew, its age cannot be judged; "
                               "2 backups listed")
    assert outcome.details["ahead_of_clock_hours"] == 2.0
    assert outcome.details["last_backup_at"] == "2025-06-02T02:30:22+00:00"
    assert "NTP" in outcome.remediation


def test_backup_recent_tolerates_seconds_of_clock_skew():
    slightly_ahead = (BACKUP_NOW + timedelta(minutes=2)).isoformat()
    t = CannedTransport().json("GET", BACKUPS_RE, backups_with("2025-06-01T14:30:22+00:00", slightly_ahead))
    outcome, _ = run_check("postgres.backup_recent", t, BACKUP_NOW)
    assert outcome.status is Status.PASS
    assert ", 0 h ago (limit 26 h)" in outcome.summary


# --- postgres.retention ----------------------------------------------------------------------

def test_retention_passes_on_the_official_example():
    t = CannedTransport().json("GET", SERVER_RE, SERVER_BODY)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW)
    assert t.urls() == [SERVER_URL]
    assert outcome.status is Status.PASS
    assert outcome.summary == ("retention 7 days (required ≥ 7), geo-redundant backup Enabled, earliest restore "
                               "point 2025-06-01T18:35:22+00:00 covers the window; server Ready")
    assert outcome.details == {
        "server": SERVER, "state": "Ready", "sku_tier": "GeneralPurpose", "sku_name": "Standard_D4ds_v5",
        "retention_days": 7, "min_retention_days": 7, "geo_redundant_backup": "Enabled",
        "geo_redundant_required": False, "earliest_restore": "2025-06-01T18:35:22+00:00",
        "created_at": "2025-06-01T18:30:22+00:00", "checked_at": "2025-06-08T18:35:22+00:00",
        "window_start": "2025-06-01T18:35:22+00:00"}


def test_retention_fails_when_7_days_are_kept_and_35_required():
    t = CannedTransport().json("GET", SERVER_RE, SERVER_BODY)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW, env={"MIN_BACKUP_RETENTION_DAYS": "35"})
    assert outcome.status is Status.FAIL
    assert outcome.summary == "backup retention 7 days is below the required 35"
    assert outcome.details["retention_days"] == 7
    assert outcome.details["min_retention_days"] == 35
    assert outcome.remediation.startswith("Raise the server's backup retention period to at least 35 days")


def test_retention_fails_when_geo_redundancy_is_off_but_required():
    body = derive(SERVER_BODY, "properties.backup.geoRedundantBackup", "Disabled")
    t = CannedTransport().json("GET", SERVER_RE, body)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW, env={"REQUIRE_GEO_REDUNDANT_BACKUP": "true"})
    assert outcome.status is Status.FAIL
    assert outcome.summary == "geo-redundant backup is Disabled but REQUIRE_GEO_REDUNDANT_BACKUP=true"
    assert outcome.details["geo_redundant_backup"] == "Disabled"
    assert outcome.details["geo_redundant_required"] is True


def test_retention_ignores_geo_redundancy_when_not_required():
    body = derive(SERVER_BODY, "properties.backup.geoRedundantBackup", "Disabled")
    t = CannedTransport().json("GET", SERVER_RE, body)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW)
    assert outcome.status is Status.PASS
    assert "geo-redundant backup Disabled" in outcome.summary


def test_retention_warns_when_the_server_is_stopped():
    body = derive(SERVER_BODY, "properties.state", "Stopped")
    t = CannedTransport().json("GET", SERVER_RE, body)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW)
    assert outcome.status is Status.WARN
    assert outcome.summary == "server state is Stopped (not Ready)"
    assert outcome.details["state"] == "Stopped"
    assert outcome.remediation.startswith("Start the server")


def test_retention_warns_when_the_earliest_restore_date_is_too_recent():
    body = derive(SERVER_BODY, "properties.backup.earliestRestoreDate", "2025-06-05T18:35:22.123456Z")
    t = CannedTransport().json("GET", SERVER_RE, body)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW)
    assert outcome.status is Status.WARN
    assert outcome.summary == ("earliest restore point 2025-06-05T18:35:22+00:00 covers only 3 of the 7 days of "
                               "retention: 96 h short (tolerance 24 h); server created 2025-06-01T18:30:22+00:00")
    assert outcome.details["restore_window_shortfall_hours"] == 96.0
    assert outcome.details["restore_window_covered_days"] == 3.0
    assert outcome.details["earliest_restore"] == "2025-06-05T18:35:22+00:00"


def test_retention_accepts_an_earliest_restore_date_within_the_tolerance():
    body = derive(SERVER_BODY, "properties.backup.earliestRestoreDate", "2025-06-02T17:35:22Z")  # 23 h late
    t = CannedTransport().json("GET", SERVER_RE, body)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW)
    assert outcome.status is Status.PASS
    outcome, _ = run_check("postgres.retention", CannedTransport().json("GET", SERVER_RE, body), RETENTION_NOW,
                           env={"RESTORE_WINDOW_TOLERANCE_HOURS": "12"})
    assert outcome.status is Status.WARN
    assert "23 h short (tolerance 12 h)" in outcome.summary


def test_retention_reports_every_problem_worst_first():
    body = derive(derive(SERVER_BODY, "properties.state", "Stopped"),
                  "properties.backup.geoRedundantBackup", "Disabled")
    t = CannedTransport().json("GET", SERVER_RE, body)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW,
                           env={"REQUIRE_GEO_REDUNDANT_BACKUP": "true", "MIN_BACKUP_RETENTION_DAYS": "14"})
    assert outcome.status is Status.FAIL
    assert outcome.summary == ("backup retention 7 days is below the required 14; geo-redundant backup is "
                               "Disabled but REQUIRE_GEO_REDUNDANT_BACKUP=true; server state is Stopped (not Ready)")


# --- errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("check_id,route", [("postgres.retention", SERVER_RE), ("postgres.backup_recent", BACKUPS_RE)])
def test_403_asks_for_reader_on_the_server(check_id, route):
    t = CannedTransport().json("GET", route, arm_error_body(
        "AuthorizationFailed", "The client 'abc' with object id 'abc' does not have authorization to perform "
        "action 'Microsoft.DBforPostgreSQL/flexibleServers/read'"), status=403)
    outcome, _ = run_check(check_id, t, RETENTION_NOW)
    assert outcome.status is Status.ERROR
    assert outcome.summary == "access denied (403) reading server exampleserver"
    assert outcome.remediation == "Grant the function's identity Reader on server exampleserver."
    assert outcome.details == {"http_status": 403}
    assert len(t.requests) == 1


def test_401_is_access_denied_too():
    t = CannedTransport().json("GET", SERVER_RE, arm_error_body("InvalidAuthenticationToken", "bad token"),
                               status=401)
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW)
    assert outcome.status is Status.ERROR
    assert outcome.summary == "access denied (401) reading server exampleserver"
    assert outcome.remediation == "Grant the function's identity Reader on server exampleserver."


@pytest.mark.parametrize("check_id,route", [("postgres.retention", SERVER_RE), ("postgres.backup_recent", BACKUPS_RE)])
def test_404_names_server_resource_group_and_subscription(check_id, route):
    t = CannedTransport().json("GET", route, arm_error_body(
        "ResourceNotFound", "The Resource 'Microsoft.DBforPostgreSQL/flexibleServers/exampleserver' was not found."),
        status=404)
    outcome, _ = run_check(check_id, t, RETENTION_NOW)
    assert outcome.status is Status.ERROR
    assert outcome.summary == ("server exampleserver not found in resource group exampleresourcegroup "
                               "(subscription ffffffff-ffff-ffff-ffff-ffffffffffff)")
    assert outcome.details == {"http_status": 404}


def test_429_then_200_is_retried_by_the_sdk_honouring_retry_after():
    t = RecordingTransport().add("GET", SERVER_RE,
                                 Canned(429, arm_error_body("TooManyRequests", "throttled"), {"Retry-After": "7"}),
                                 Canned(200, SERVER_BODY))
    kwargs = {"transport": t, "retry_total": 1, "retry_backoff_factor": 0, "polling_interval": 0}
    outcome, _ = run_check("postgres.retention", t, RETENTION_NOW, kwargs=kwargs)
    assert outcome.status is Status.PASS
    assert t.urls() == [SERVER_URL, SERVER_URL]
    assert t.sleeps == [7.0]  # the SDK's wait, recorded instead of slept


@pytest.mark.parametrize("status", [429, 503])
def test_persistent_throttling_or_5xx_becomes_an_error_after_the_sdk_retries(status):
    t = RecordingTransport().json("GET", BACKUPS_RE, arm_error_body("ServerBusy", "try later"), status=status)
    kwargs = {"transport": t, "retry_total": 1, "retry_backoff_factor": 0, "polling_interval": 0}
    outcome, _ = run_check("postgres.backup_recent", t, BACKUP_NOW, kwargs=kwargs)
    assert outcome.status is Status.ERROR
    assert outcome.summary.startswith(f"Azure answered {status} for server exampleserver after the SDK's retries")
    assert outcome.details == {"http_status": status}
    assert len(t.requests) == 2  # first try + one retry
    assert t.sleeps == []  # zero backoff, no Retry-After


def test_no_credential_names_the_sources_tried_without_secrets(monkeypatch):
    from azure.identity import DefaultAzureCredential

    for name in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH",
                 "AZURE_USERNAME", "AZURE_FEDERATED_TOKEN_FILE", "AZURE_TOKEN_CREDENTIALS",
                 "IDENTITY_ENDPOINT", "MSI_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no az, azd, pwsh
    credential = DefaultAzureCredential(exclude_managed_identity_credential=True)  # no IMDS probe in tests
    t = CannedTransport()
    ctx = RunContext(settings=settings(), clock=lambda: RETENTION_NOW, credential=credential,
                     azure_kwargs=sdk_kwargs(t))
    outcome = execute(all_checks()["postgres.retention"], ctx)
    assert outcome.status is Status.ERROR
    assert outcome.summary.startswith("no Azure credential available: DefaultAzureCredential failed")
    tried = outcome.details["credentials_tried"]
    assert "EnvironmentCredential" in tried and "AzureCliCredential" in tried
    assert "ManagedIdentityCredential" not in tried
    assert f"Tried: {', '.join(tried)}." in outcome.summary
    assert "Attempted credentials" not in outcome.summary  # names only, not each credential's message
    assert "managed identity" in outcome.remediation
    assert t.requests == []  # nothing was sent without a token


# --- configuration, overrides, reuse -----------------------------------------------------------

@pytest.mark.parametrize("check_id", ["postgres.retention", "postgres.backup_recent"])
def test_not_configured_is_skipped_naming_the_variables(check_id):
    t = CannedTransport()
    ctx = RunContext(settings=Settings.from_env({}), credential=StaticCredential(), azure_kwargs=sdk_kwargs(t))
    outcome = execute(all_checks()[check_id], ctx)
    assert outcome.status is Status.SKIPPED
    assert outcome.summary == "AZURE_SUBSCRIPTION_ID, PG_RESOURCE_GROUP and PG_SERVER_NAME not set"
    ctx = RunContext(settings=Settings.from_env({"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": RG}),
                     credential=StaticCredential(), azure_kwargs=sdk_kwargs(t))
    assert execute(all_checks()[check_id], ctx).summary == "PG_SERVER_NAME not set"
    assert t.requests == []


def test_cli_overrides_target_another_server_and_the_listing_is_printed():
    t = (CannedTransport().json("GET", BACKUPS_RE, BACKUPS_BODY).json("GET", SERVER_RE, SERVER_BODY))
    ctx = RunContext(settings=settings(), clock=lambda: BACKUP_NOW, credential=StaticCredential(),
                     azure_kwargs=sdk_kwargs(t))
    run = verify(RunRequest(trigger="cli", checks=["postgres.*"], write_journal=False,
                            overrides={"pg_server_name": "medicapp-db", "pg_resource_group": "rg-medicapp"}),
                 settings(), None, ctx)
    assert sorted(t.urls()) == sorted([
        f"{ARM}/subscriptions/{SUB}/resourceGroups/rg-medicapp/providers/Microsoft.DBforPostgreSQL/"
        f"flexibleServers/medicapp-db/backups?api-version=2026-10-01",
        f"{ARM}/subscriptions/{SUB}/resourceGroups/rg-medicapp/providers/Microsoft.DBforPostgreSQL/"
        f"flexibleServers/medicapp-db?api-version=2026-10-01"])
    by_id = {r.check_id: r for r in run.results}
    assert by_id["postgres.backup_recent"].status is Status.PASS
    assert by_id["postgres.backup_recent"].details["server"] == "medicapp-db"
    # the example server is 1 day old at BACKUP_NOW: its 7-day window is not restorable yet
    assert by_id["postgres.retention"].status is Status.WARN
    assert "covers only 0.2 of the 7 days" in by_id["postgres.retention"].summary
    out = io.StringIO()
    print_run(run, out)
    text = out.getvalue()
    for line in LISTING:
        assert line in text
    assert text.index(LISTING[0]) < text.index(LISTING[1])


def test_one_client_per_run_shared_by_both_checks():
    t = (CannedTransport().json("GET", BACKUPS_RE, BACKUPS_BODY).json("GET", SERVER_RE, SERVER_BODY))
    ctx = make_ctx(t, RETENTION_NOW)
    from checks.connect.azure import postgres_client
    execute(all_checks()["postgres.backup_recent"], ctx)
    first = postgres_client(ctx)
    execute(all_checks()["postgres.retention"], ctx)
    assert postgres_client(ctx) is first
    assert ctx.credential.scopes == [("https://management.azure.com/.default",)]  # token fetched once
    ctx.close()


def test_get_server_is_reusable_for_another_server_and_maps_errors():
    t = (CannedTransport()
         .json("GET", r"/flexibleServers/medicapp-db-restore-1\?", SERVER_BODY)
         .json("GET", r"/flexibleServers/gone\?", arm_error_body("ResourceNotFound", "gone"), status=404))
    ctx = make_ctx(t, RETENTION_NOW)
    drills = "rg-medicapp-drills"  # restored servers live in the drill resource group, not production's
    server = get_server(ctx, "medicapp-db-restore-1", drills)
    assert server.properties.backup.backup_retention_days == 7
    assert server.properties.state == "Ready"
    assert t.urls()[0] == (f"{ARM}/subscriptions/{SUB}/resourceGroups/{drills}/providers/Microsoft.DBforPostgreSQL/"
                           f"flexibleServers/medicapp-db-restore-1?api-version=2026-10-01")
    with pytest.raises(CheckError) as err:
        get_server(ctx, "gone", drills)
    assert err.value.reason == ("server gone not found in resource group rg-medicapp-drills "
                                "(subscription ffffffff-ffff-ffff-ffff-ffffffffffff)")
    assert err.value.details == {"http_status": 404}
    with pytest.raises(NotConfigured):
        get_server(RunContext(settings=Settings.from_env({})))
    ctx.close()
