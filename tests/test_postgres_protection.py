"""PostgreSQL protections (checks/families/postgres_protection.py): the real
PostgreSQLManagementClient over CannedTransport serving official ARM examples
(tests/fixtures/arm/, SOURCES.md) and variants derived here (on, off, boundary, 403/404)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest

from azure_fakes import CannedTransport, StaticCredential, arm_error_body, arm_example, arm_fixture, derive, sdk_kwargs
from checks.engine.config import EEA_REGIONS, Settings
from checks.engine.context import RunContext
from checks.engine.model import Status
from checks.engine.registry import all_checks
from checks.engine.runner import execute
from checks.families import postgres_protection as pp

SUB = "ffffffff-ffff-ffff-ffff-ffffffffffff"
RG = "exampleresourcegroup"
SERVER = "exampleserver"
SERVER_PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.DBforPostgreSQL/flexibleServers/{SERVER}"
SERVER_RE = r"/flexibleServers/[^/?]+\?api-version="
LTR_RE = r"/flexibleServers/[^/?]+/ltrBackupOperations\?api-version="
NOW = datetime(2025, 6, 2, tzinfo=timezone.utc)

# ServersGet.json: eastus, geo-redundant backup Enabled, immutableBackup Enabled, SystemManaged keys, Ready
SERVER_BODY = arm_fixture("postgresql_ServersGet.json")
# the customer-managed-key block of the official update example, with the statuses ARM reports
CMK = dict(arm_example("postgresql_ServersUpdateWithDataEncryptionEnabled.json")
           ["parameters"]["parameters"]["properties"]["dataEncryption"],
           primaryEncryptionKeyStatus="Valid", geoBackupEncryptionKeyStatus="Valid")
CMK_SERVER = derive(SERVER_BODY, "properties.dataEncryption", CMK)
LTR_BODY = arm_fixture("postgresql_BackupsLongTermRetentionListByServer.json")  # one "Running" operation


def make_ctx(transport: CannedTransport, now: datetime = NOW, **env: str) -> RunContext:
    values = {"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": RG, "PG_SERVER_NAME": SERVER}
    values.update(env)
    return RunContext(settings=Settings.from_env(values), clock=lambda: now, credential=StaticCredential(),
                      azure_kwargs=sdk_kwargs(transport))


def server(body: dict, status: int = 200) -> CannedTransport:
    return CannedTransport().json("GET", SERVER_RE, body, status)


def run(check_id: str, transport: CannedTransport, now: datetime = NOW, **env: str):
    return execute(all_checks()[check_id], make_ctx(transport, now, **env))


def assert_arm_gets(transport: CannedTransport, *paths: str) -> None:
    assert sorted(urlparse(r.url).path for r in transport.requests) == sorted(paths)
    for r in transport.requests:
        assert r.method == "GET" and urlparse(r.url).netloc == "management.azure.com"
        assert parse_qs(urlparse(r.url).query) == {"api-version": ["2026-10-01"]}
        assert r.headers["Authorization"] == "Bearer test-token"


# --- postgres.immutable_backup -------------------------------------------------------------------------

def test_immutable_backup_official_example_passes():
    t = server(SERVER_BODY)
    out = run("postgres.immutable_backup", t)
    assert out.status is Status.PASS and out.details["immutable_backup"] == "Enabled"
    assert_arm_gets(t, SERVER_PATH)


@pytest.mark.parametrize("value,shown", [("Disabled", "Disabled"), (None, "not reported")])
def test_immutable_backup_off_or_missing_warns(value, shown):
    out = run("postgres.immutable_backup", server(derive(SERVER_BODY, "properties.backup.immutableBackup", value)))
    assert out.status is Status.WARN and f"immutable backups are {shown}" in out.summary


# --- postgres.encryption -------------------------------------------------------------------------------

def test_encryption_service_managed_official_example_passes():
    out = run("postgres.encryption", server(SERVER_BODY))
    assert out.status is Status.PASS and out.details["encryption_type"] == "SystemManaged"


def test_encryption_customer_managed_valid_keys_pass():
    out = run("postgres.encryption", server(CMK_SERVER))
    assert out.status is Status.PASS, out.summary
    assert out.details["primary_key_status"] == "Valid" and out.details["geo_backup_key_status"] == "Valid"


@pytest.mark.parametrize("field,label", [("primaryEncryptionKeyStatus", "primary key Invalid"),
                                         ("geoBackupEncryptionKeyStatus", "geo-backup key Invalid")])
def test_encryption_invalid_key_fails(field, label):
    out = run("postgres.encryption", server(derive(CMK_SERVER, f"properties.dataEncryption.{field}", "Invalid")))
    assert out.status is Status.FAIL and label in out.summary
    assert "Key Vault" in out.remediation


def test_encryption_inaccessible_server_fails_even_with_service_managed_keys():
    out = run("postgres.encryption", server(derive(SERVER_BODY, "properties.state", "Inaccessible")))
    assert out.status is Status.FAIL and "Inaccessible" in out.summary


def test_encryption_unreported_key_status_warns():
    body = derive(SERVER_BODY, "properties.dataEncryption", dict(CMK, primaryEncryptionKeyStatus=None))
    out = run("postgres.encryption", server(body))
    assert out.status is Status.WARN and "primary key" in out.summary


def test_encryption_geo_key_ignored_without_geo_backup_or_geo_key():
    cmk = {k: v for k, v in CMK.items() if not k.startswith("geoBackup")}
    body = derive(derive(SERVER_BODY, "properties.dataEncryption", cmk), "properties.backup.geoRedundantBackup", "Disabled")
    out = run("postgres.encryption", server(body))
    assert out.status is Status.PASS and out.details["geo_backup_key_status"] is None


# --- postgres.backup_residency -------------------------------------------------------------------------

def test_residency_official_example_eastus_geo_backup_is_outside_the_eea():
    out = run("postgres.backup_residency", server(SERVER_BODY))
    assert out.status is Status.FAIL
    assert out.details["backup_regions"] == ["eastus", "westus"] and out.details["outside"] == ["eastus", "westus"]
    assert "HDS" in out.summary


def test_residency_boundary_pair_must_be_allowed_too():
    out = run("postgres.backup_residency", server(SERVER_BODY), ALLOWED_BACKUP_REGIONS="eastus")
    assert out.status is Status.FAIL and out.details["outside"] == ["westus"]
    out = run("postgres.backup_residency", server(SERVER_BODY), ALLOWED_BACKUP_REGIONS="eastus,westus")
    assert out.status is Status.PASS


@pytest.mark.parametrize("location,geo,status,regions", [
    ("francecentral", "Enabled", Status.PASS, ["francecentral", "francesouth"]),
    ("France Central", "Enabled", Status.PASS, ["francecentral", "francesouth"]),  # display name form
    ("westeurope", "Disabled", Status.PASS, ["westeurope"]),
    ("switzerlandnorth", "Disabled", Status.FAIL, ["switzerlandnorth"]),  # not EEA
    ("brazilsouth", "Enabled", Status.FAIL, ["brazilsouth", "southcentralus"]),  # one-way pair, other geography
    ("polandcentral", "Disabled", Status.PASS, ["polandcentral"]),
    ("polandcentral", "Enabled", Status.WARN, ["polandcentral"]),  # nonpaired: geo region unknown
])
def test_residency_regions(location, geo, status, regions):
    body = derive(derive(SERVER_BODY, "location", location), "properties.backup.geoRedundantBackup", geo)
    out = run("postgres.backup_residency", server(body))
    assert out.status is status, out.summary
    assert out.details["backup_regions"] == regions


def test_region_pair_table_is_symmetric_except_the_cited_one_way_pairs():
    one_way = {a for a, b in pp.REGION_PAIRS.items() if pp.REGION_PAIRS.get(b) != a}
    assert one_way == {"brazilsouth", "brazilsoutheast", "westindia", "westus3"}
    assert set(EEA_REGIONS) >= {"francecentral", "francesouth", "westeurope", "northeurope"}


# --- postgres.long_term_retention ----------------------------------------------------------------------

SUCCEEDED = derive(LTR_BODY, "value", [derive(LTR_BODY["value"][0], "properties.status", "Succeeded")])
LTR_END = datetime(2025, 6, 1, 18, 35, 22, 123000, tzinfo=timezone.utc)


def ltr(body: dict, status: int = 200) -> CannedTransport:
    return CannedTransport().json("GET", LTR_RE, body, status)


def test_ltr_not_required_is_skipped_without_a_request():
    t = ltr(LTR_BODY)
    out = run("postgres.long_term_retention", t)
    assert out.status is Status.SKIPPED and "LTR_REQUIRED is false" in out.summary
    assert t.requests == []


def test_ltr_official_example_only_running_fails():
    t = ltr(LTR_BODY)
    out = run("postgres.long_term_retention", t, LTR_REQUIRED="true")
    assert out.status is Status.FAIL and "no succeeded long-term retention backup" in out.summary
    assert out.details["statuses"] == ["exampleltrbackup: Running"]
    assert_arm_gets(t, SERVER_PATH + "/ltrBackupOperations")


@pytest.mark.parametrize("age,status", [(timedelta(days=35), Status.PASS),
                                        (timedelta(days=35, hours=3), Status.FAIL)])
def test_ltr_age_boundary(age, status):
    out = run("postgres.long_term_retention", ltr(SUCCEEDED), LTR_END + age, LTR_REQUIRED="true")
    assert out.status is status, out.summary
    assert out.details["last_ltr_backup"] == "exampleltrbackup"


def test_ltr_names_the_last_failure():
    failed = derive(derive(LTR_BODY["value"][0], "properties.status", "Failed"),
                    "properties.errorMessage", "vault unreachable")
    body = derive(LTR_BODY, "value", [failed])
    out = run("postgres.long_term_retention", ltr(body), LTR_REQUIRED="true")
    assert out.status is Status.FAIL and out.details["last_failure"] == "exampleltrbackup: Failed vault unreachable"


@pytest.mark.parametrize("status,text", [(403, "access denied (403)"), (404, "server exampleserver not found")])
def test_ltr_errors(status, text):
    out = run("postgres.long_term_retention", ltr(arm_error_body("X", "no"), status), LTR_REQUIRED="true")
    assert out.status is Status.ERROR and text in out.summary


# --- one servers.get per run, errors, metadata ---------------------------------------------------------

def test_server_checks_share_one_read():
    t = server(SERVER_BODY)
    ctx = make_ctx(t, datetime(2025, 6, 8, 18, 35, 22, tzinfo=timezone.utc))
    for cid in ("postgres.retention", "postgres.immutable_backup", "postgres.encryption", "postgres.backup_residency"):
        assert execute(all_checks()[cid], ctx).status is not Status.ERROR
    assert len(t.requests) == 1


@pytest.mark.parametrize("status,text", [(403, "Grant the function's identity Reader on server exampleserver"),
                                         (404, "Check the name, resource group and subscription")])
def test_server_read_errors_are_actionable_and_read_once(status, text):
    t = server(arm_error_body("X", "no"), status)
    ctx = make_ctx(t)
    for cid in ("postgres.immutable_backup", "postgres.encryption", "postgres.backup_residency"):
        out = execute(all_checks()[cid], ctx)
        assert out.status is Status.ERROR and text in out.remediation
    assert len(t.requests) == 1


def test_metadata_and_docstrings():
    for cid in ("postgres.immutable_backup", "postgres.encryption", "postgres.backup_residency",
                "postgres.long_term_retention"):
        spec = all_checks()[cid]
        assert spec.read_only and spec.remediation and spec.risk
    for rule in (pp.evaluate_immutable_backup, pp.evaluate_encryption, pp.evaluate_backup_residency,
                 pp.evaluate_long_term_retention):
        assert "pass" in rule.__doc__.lower() and ("fail" in rule.__doc__.lower() or "warn" in rule.__doc__.lower())
