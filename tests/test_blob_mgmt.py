"""Management plane of the blob family: the real StorageManagementClient over CannedTransport,
serving Azure's official examples (tests/fixtures/arm/) and variants derived here."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import pytest

from azure_fakes import CannedTransport, StaticCredential, arm_error_body, arm_fixture, derive, sdk_kwargs
from checks.families import blob
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import Status
from checks.engine.registry import all_checks
from checks.engine.runner import execute

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-medicapp"
ACCOUNT = "medicappdocs"
ACCOUNT_PATH = (f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/"
                f"storageAccounts/{ACCOUNT}")
BLOB_SERVICES = ACCOUNT_PATH + "/blobServices/default"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)

# the official example keeps 300 days and has no container soft delete; the "good" account is derived
GOOD_SERVICES = derive(derive(arm_fixture("storage_BlobServicesGet.json"),
                              "properties.deleteRetentionPolicy", {"enabled": True, "days": 30}),
                       "properties.containerDeleteRetentionPolicy", {"enabled": True, "days": 30})


def make_ctx(transport: CannedTransport, **env: str) -> RunContext:
    values = {"AZURE_SUBSCRIPTION_ID": SUB, "STORAGE_RESOURCE_GROUP": RG, "STORAGE_ACCOUNT_NAME": ACCOUNT}
    values.update(env)
    return RunContext(settings=Settings.from_env(values), clock=lambda: NOW, credential=StaticCredential(),
                      azure_kwargs=sdk_kwargs(transport))


def services(body: dict, status: int = 200) -> CannedTransport:
    return CannedTransport().json("GET", r"/blobServices/default\?", body, status)


def run(check_id: str, ctx: RunContext):
    return execute(all_checks()[check_id], ctx)


def assert_arm_get(transport: CannedTransport, path: str) -> None:
    assert len(transport.requests) >= 1
    for request in transport.requests:
        url = urlparse(request.url)
        assert request.method == "GET"
        assert url.scheme == "https" and url.netloc == "management.azure.com"
        assert url.path == path
        assert parse_qs(url.query) == {"api-version": ["2026-09-01"]}
        assert request.headers["Authorization"] == "Bearer test-token"


# --- blob.soft_delete -----------------------------------------------------------------------------

def test_soft_delete_passes_within_band_with_container_soft_delete():
    t = services(GOOD_SERVICES)
    out = run("blob.soft_delete", make_ctx(t))
    assert out.status is Status.PASS, out.summary
    assert "30 days (within 30-90)" in out.summary and "container soft delete on (30 days)" in out.summary
    # the monthly report reads exactly these keys
    assert out.details["retention_days"] == 30 and out.details["enabled"] is True
    assert out.details["container_soft_delete_enabled"] is True
    assert_arm_get(t, BLOB_SERVICES)


def test_soft_delete_official_example_300_days_is_above_band_and_container_soft_delete_missing():
    # storage_BlobServicesGet.json as published: 300 days, no containerDeleteRetentionPolicy
    out = run("blob.soft_delete", make_ctx(services(arm_fixture("storage_BlobServicesGet.json"))))
    assert out.status is Status.WARN
    assert "300 days" in out.summary and "above the policy's 30-90 days" in out.summary
    assert "container soft delete OFF" in out.summary
    assert out.details["retention_days"] == 300 and out.details["container_soft_delete_enabled"] is False


def test_soft_delete_off_fails_and_reports_no_retention():
    body = derive(GOOD_SERVICES, "properties.deleteRetentionPolicy", {"enabled": False, "days": 7})
    out = run("blob.soft_delete", make_ctx(services(body)))
    assert out.status is Status.FAIL
    assert "blob soft delete is OFF" in out.summary and "medicappdocs" in out.summary
    assert out.details["enabled"] is False and out.details["retention_days"] is None
    assert "30-90 days" in out.remediation


def test_soft_delete_missing_policy_fails():
    body = derive(GOOD_SERVICES, "properties.deleteRetentionPolicy", None)
    out = run("blob.soft_delete", make_ctx(services(body)))
    assert out.status is Status.FAIL and out.details["enabled"] is False


def test_soft_delete_7_days_is_below_minimum():
    body = derive(GOOD_SERVICES, "properties.deleteRetentionPolicy", {"enabled": True, "days": 7})
    out = run("blob.soft_delete", make_ctx(services(body)))
    assert out.status is Status.FAIL
    assert "7 days" in out.summary and "below the required 30-90 days" in out.summary
    assert out.details["retention_days"] == 7 and out.details["enabled"] is True


def test_soft_delete_365_days_is_above_maximum():
    body = derive(GOOD_SERVICES, "properties.deleteRetentionPolicy", {"enabled": True, "days": 365})
    out = run("blob.soft_delete", make_ctx(services(body)))
    assert out.status is Status.WARN
    assert "365 days" in out.summary and "above" in out.summary
    assert "at most 90 days" in out.remediation


@pytest.mark.parametrize("days,status", [(29, Status.FAIL), (30, Status.PASS), (90, Status.PASS), (91, Status.WARN)])
def test_soft_delete_band_edges_are_inclusive(days, status):
    """The policy band is [30, 90] days: exactly 90 passes, 91 warns (and 30 passes, 29 fails)."""
    body = derive(GOOD_SERVICES, "properties.deleteRetentionPolicy", {"enabled": True, "days": days})
    out = run("blob.soft_delete", make_ctx(services(body)))
    assert out.status is status, out.summary
    assert out.details["retention_days"] == days


def test_soft_delete_band_follows_settings():
    body = derive(GOOD_SERVICES, "properties.deleteRetentionPolicy", {"enabled": True, "days": 365})
    out = run("blob.soft_delete", make_ctx(services(body), BLOB_RETENTION_MAX_DAYS="365"))
    assert out.status is Status.PASS and out.details["max_days"] == 365


def test_container_soft_delete_off_warns():
    body = derive(GOOD_SERVICES, "properties.containerDeleteRetentionPolicy", {"enabled": False})
    out = run("blob.soft_delete", make_ctx(services(body)))
    assert out.status is Status.WARN
    assert "container soft delete is OFF" in out.summary
    assert "Enable container soft delete" in out.remediation


def test_soft_delete_and_versioning_share_one_arm_call_per_run():
    t = services(GOOD_SERVICES)
    ctx = make_ctx(t)
    assert run("blob.soft_delete", ctx).status is Status.PASS
    assert run("blob.versioning", ctx).status is Status.PASS
    assert len(t.requests) == 1


def test_account_not_found_names_account_and_resource_group():
    t = services(arm_error_body("ResourceNotFound", "The Resource 'Microsoft.Storage/storageAccounts/"
                                                    "medicappdocs' was not found."), status=404)
    out = run("blob.soft_delete", make_ctx(t))
    assert out.status is Status.ERROR
    assert out.summary.startswith("storage account medicappdocs not found in resource group rg-medicapp")
    assert out.details["http_status"] == 404


def test_management_403_names_reader_role():
    t = services(arm_error_body("AuthorizationFailed", "does not have authorization"), status=403)
    out = run("blob.versioning", make_ctx(t))
    assert out.status is Status.ERROR and "access denied (403)" in out.summary
    assert "Reader" in out.remediation and "storage account medicappdocs" in out.remediation


@pytest.mark.parametrize("missing", ["AZURE_SUBSCRIPTION_ID", "STORAGE_RESOURCE_GROUP", "STORAGE_ACCOUNT_NAME"])
def test_not_configured_is_skipped_without_any_request(missing):
    t = services(GOOD_SERVICES)
    env = {"AZURE_SUBSCRIPTION_ID": SUB, "STORAGE_RESOURCE_GROUP": RG, "STORAGE_ACCOUNT_NAME": ACCOUNT}
    env.pop(missing)
    ctx = RunContext(settings=Settings.from_env(env), credential=StaticCredential(), azure_kwargs=sdk_kwargs(t))
    for check_id in ("blob.soft_delete", "blob.versioning", "storage.account_security"):
        out = run(check_id, ctx)
        assert out.status is Status.SKIPPED and out.summary == f"{missing} not set"
    assert t.requests == []


def test_every_missing_management_variable_is_named_at_once():
    ctx = RunContext(settings=Settings.from_env({}), credential=StaticCredential())
    for check_id in ("blob.soft_delete", "blob.versioning", "storage.account_security"):
        assert run(check_id, ctx).summary == \
            "AZURE_SUBSCRIPTION_ID, STORAGE_RESOURCE_GROUP and STORAGE_ACCOUNT_NAME not set"


# --- blob.versioning ------------------------------------------------------------------------------

def test_versioning_on_reports_change_feed_and_point_in_time_restore():
    body = derive(GOOD_SERVICES, "properties.restorePolicy", {"enabled": True, "days": 6})
    out = run("blob.versioning", make_ctx(services(body)))
    assert out.status is Status.PASS
    assert out.summary == "blob versioning on (change feed on, point-in-time restore on (6 days))"
    assert out.details == {"account": ACCOUNT, "versioning": True, "change_feed": True,
                           "change_feed_retention_days": 7, "point_in_time_restore": True,
                           "point_in_time_restore_days": 6}


def test_versioning_off_fails():
    body = derive(GOOD_SERVICES, "properties.isVersioningEnabled", False)
    out = run("blob.versioning", make_ctx(services(body)))
    assert out.status is Status.FAIL
    assert "versioning is OFF" in out.summary and "point-in-time restore off" in out.summary
    assert out.details["versioning"] is False and out.details["point_in_time_restore"] is False


# --- storage.account_security ---------------------------------------------------------------------

def account(body: dict) -> CannedTransport:
    return CannedTransport().json("GET", rf"/storageAccounts/{ACCOUNT}\?", body)


SECURE = derive(arm_fixture("storage_StorageAccountUpdate.json"), "properties.supportsHttpsTrafficOnly", True)


def test_account_security_passes_when_locked_down():
    t = account(SECURE)
    out = run("storage.account_security", make_ctx(t))
    assert out.status is Status.PASS, out.summary
    assert out.details == {"account": ACCOUNT, "allow_blob_public_access": False,
                           "minimum_tls_version": "TLS1_2", "https_only": True}
    assert_arm_get(t, ACCOUNT_PATH)


def test_account_security_official_update_example_allows_http():
    out = run("storage.account_security", make_ctx(account(arm_fixture("storage_StorageAccountUpdate.json"))))
    assert out.status is Status.WARN
    assert out.details["problems"] == ["HTTP allowed (secure transfer not required)"]
    assert "Secure transfer required" in out.remediation


def test_account_security_public_access_and_old_tls_warn_never_fail():
    body = derive(derive(SECURE, "properties.allowBlobPublicAccess", True), "properties.minimumTlsVersion", "TLS1_0")
    out = run("storage.account_security", make_ctx(account(body)))
    assert out.status is Status.WARN
    assert out.details["problems"] == ["public blob access allowed", "minimum TLS version TLS1_0"]
    assert "anonymous access" in out.remediation and "TLS version to 1.2" in out.remediation


def test_account_security_get_properties_example_lacks_settings():
    # storage_StorageAccountGetProperties.json reports neither allowBlobPublicAccess nor minimumTlsVersion
    out = run("storage.account_security",
              make_ctx(account(arm_fixture("storage_StorageAccountGetProperties.json"))))
    assert out.status is Status.WARN
    assert out.details["allow_blob_public_access"] is None and out.details["minimum_tls_version"] is None
    assert out.details["problems"] == ["public blob access not reported (may be allowed)",
                                       "minimum TLS version not reported",
                                       "HTTP allowed (secure transfer not required)"]


def test_catalogue_metadata():
    catalogue = all_checks()
    assert catalogue["storage.account_security"].severity.value == "medium"
    assert catalogue["blob.soft_delete"].read_only and catalogue["blob.versioning"].read_only
    assert not catalogue["blob.canary"].read_only
    for cid in ("blob.soft_delete", "blob.versioning", "storage.account_security", "blob.recent_file",
                "blob.deleted_visible", "blob.canary"):
        assert catalogue[cid].remediation and catalogue[cid].risk
    for rule in (blob.evaluate_soft_delete, blob.evaluate_versioning, blob.evaluate_account_security,
                 blob.evaluate_recent_file, blob.evaluate_deleted_visible):
        assert "Passes when" in rule.__doc__
