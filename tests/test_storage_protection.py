"""Storage protections beyond soft delete (checks/families/storage_protection.py, storage_lifecycle.py):
the real StorageManagementClient over CannedTransport serving official ARM examples
(tests/fixtures/arm/, SOURCES.md) and variants derived here (on, off, boundary, 403/404)."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs, urlparse

import pytest

from azure_fakes import CannedTransport, StaticCredential, arm_error_body, arm_fixture, derive, sdk_kwargs
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import Status
from checks.engine.registry import all_checks
from checks.engine.runner import execute
from checks.families import storage_lifecycle, storage_protection

SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-medicapp"
ACCOUNT = "medicappdocs"
ACCOUNT_PATH = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)

SERVICES_RE = r"/blobServices/default\?"
ACCOUNT_RE = rf"/storageAccounts/{ACCOUNT}\?"
POLICY_RE = r"/managementPolicies/default\?"

# BlobServicesPut.json as published: soft delete 300 days, versioning on, change feed on (7 days),
# no container soft delete, no restore policy
PUT = arm_fixture("storage_BlobServicesPut.json")
MIN_RESTORE = "2026-11-20T08:00:00Z"
WITH_RESTORE = derive(PUT, "properties.restorePolicy", {"enabled": True, "days": 6, "minRestoreTime": MIN_RESTORE})
WITH_CONTAINER_SD = derive(PUT, "properties.containerDeleteRetentionPolicy", {"enabled": True, "days": 30})
NO_KEY = derive(arm_fixture("storage_StorageAccountUpdate.json"), "properties.allowSharedKeyAccess", False)


def make_ctx(transport: CannedTransport, **env: str) -> RunContext:
    values = {"AZURE_SUBSCRIPTION_ID": SUB, "STORAGE_RESOURCE_GROUP": RG, "STORAGE_ACCOUNT_NAME": ACCOUNT}
    values.update(env)
    return RunContext(settings=Settings.from_env(values), clock=lambda: NOW, credential=StaticCredential(),
                      azure_kwargs=sdk_kwargs(transport))


def run(check_id: str, transport: CannedTransport, **env: str):
    return execute(all_checks()[check_id], make_ctx(transport, **env))


def serve(services: dict | None = None, account: dict | None = None, policy: dict | None = None,
          policy_status: int = 200) -> CannedTransport:
    t = CannedTransport()
    if services is not None:
        t.json("GET", SERVICES_RE, services)
    if account is not None:
        t.json("GET", ACCOUNT_RE, account)
    if policy is not None:
        t.json("GET", POLICY_RE, policy, policy_status)
    return t


def assert_arm_gets(transport: CannedTransport, *paths: str) -> None:
    seen = []
    for request in transport.requests:
        url = urlparse(request.url)
        assert request.method == "GET" and url.netloc == "management.azure.com"
        assert parse_qs(url.query) == {"api-version": ["2026-09-01"]}
        assert request.headers["Authorization"] == "Bearer test-token"
        seen.append(url.path)
    assert sorted(seen) == sorted(paths)


# --- blob.container_soft_delete ------------------------------------------------------------------------

def test_container_soft_delete_missing_in_official_example_fails():
    t = serve(PUT)
    out = run("blob.container_soft_delete", t)
    assert out.status is Status.FAIL and "container soft delete is OFF" in out.summary
    assert out.details["enabled"] is False and out.details["retention_days"] is None
    assert_arm_gets(t, ACCOUNT_PATH + "/blobServices/default")


@pytest.mark.parametrize("days,status", [(29, Status.FAIL), (30, Status.PASS), (90, Status.PASS), (91, Status.WARN)])
def test_container_soft_delete_band_boundaries(days, status):
    body = derive(PUT, "properties.containerDeleteRetentionPolicy", {"enabled": True, "days": days})
    out = run("blob.container_soft_delete", serve(body))
    assert out.status is status, out.summary
    assert out.details["retention_days"] == days and out.details["enabled"] is True


def test_container_soft_delete_disabled_with_days_fails():
    body = derive(PUT, "properties.containerDeleteRetentionPolicy", {"enabled": False, "days": 30})
    out = run("blob.container_soft_delete", serve(body))
    assert out.status is Status.FAIL and out.details["retention_days"] is None


@pytest.mark.parametrize("status,code,expect", [(403, "AuthorizationFailed", "access denied (403)"),
                                                (404, "ResourceNotFound", "not found in resource group rg-medicapp")])
def test_blob_service_read_errors_become_actionable_results(status, code, expect):
    t = CannedTransport().json("GET", SERVICES_RE, arm_error_body(code, "nope"), status)
    for check_id in ("blob.container_soft_delete", "blob.point_in_time_restore", "blob.change_feed"):
        out = run(check_id, t)
        assert out.status is Status.ERROR and expect in out.summary, out.summary
        assert out.details["http_status"] == status
        if status == 403:
            assert "Grant the function's identity Reader on storage account medicappdocs" in out.remediation


# --- blob.point_in_time_restore ------------------------------------------------------------------------

def test_point_in_time_restore_off_warns_or_fails_when_required():
    out = run("blob.point_in_time_restore", serve(PUT))
    assert out.status is Status.WARN and "point-in-time restore is OFF" in out.summary
    out = run("blob.point_in_time_restore", serve(PUT), REQUIRE_BLOB_POINT_IN_TIME_RESTORE="true")
    assert out.status is Status.FAIL and "REQUIRE_BLOB_POINT_IN_TIME_RESTORE=true" in out.summary


def test_point_in_time_restore_on_passes_and_reports_min_restore_time():
    out = run("blob.point_in_time_restore", serve(WITH_RESTORE))
    assert out.status is Status.PASS, out.summary
    assert out.details["min_restore_time"] == "2026-11-20T08:00:00+00:00"
    assert out.details["restore_days"] == 6 and out.details["soft_delete_days"] == 300
    assert "earliest restore point 2026-11-20T08:00:00+00:00" in out.summary


@pytest.mark.parametrize("restore_days,status", [(299, Status.PASS), (300, Status.FAIL)])
def test_point_in_time_restore_days_must_be_fewer_than_soft_delete_days(restore_days, status):
    body = derive(PUT, "properties.restorePolicy", {"enabled": True, "days": restore_days})
    out = run("blob.point_in_time_restore", serve(body))
    assert out.status is status, out.summary
    if status is Status.FAIL:
        assert "restore days (300) must be fewer than the soft delete days (300)" in out.summary


@pytest.mark.parametrize("path,value,problem", [("properties.isVersioningEnabled", False, "blob versioning is off"),
                                                ("properties.changeFeed", {"enabled": False}, "change feed is off"),
                                                ("properties.deleteRetentionPolicy", {"enabled": False},
                                                 "blob soft delete is off")])
def test_point_in_time_restore_without_its_prerequisites_fails(path, value, problem):
    out = run("blob.point_in_time_restore", serve(derive(WITH_RESTORE, path, value)))
    assert out.status is Status.FAIL and out.details["problems"] == [problem]


# --- blob.change_feed ----------------------------------------------------------------------------------

def test_change_feed_official_example_7_days_passes_without_restore():
    out = run("blob.change_feed", serve(PUT))
    assert out.status is Status.PASS and out.details["retention_days"] == 7


@pytest.mark.parametrize("restore_days,status", [(7, Status.PASS), (8, Status.FAIL)])
def test_change_feed_must_cover_the_restore_days(restore_days, status):
    body = derive(PUT, "properties.restorePolicy", {"enabled": True, "days": restore_days})
    out = run("blob.change_feed", serve(body))
    assert out.status is status, out.summary


def test_change_feed_without_retention_is_unlimited():
    body = derive(WITH_RESTORE, "properties.changeFeed", {"enabled": True})
    out = run("blob.change_feed", serve(body))
    assert out.status is Status.PASS and out.details["unlimited"] is True


def test_change_feed_off_warns_alone_fails_when_restore_needs_it():
    off = derive(PUT, "properties.changeFeed", {"enabled": False})
    assert run("blob.change_feed", serve(off)).status is Status.WARN
    out = run("blob.change_feed", serve(derive(WITH_RESTORE, "properties.changeFeed", {"enabled": False})))
    assert out.status is Status.FAIL and "point-in-time restore needs it" in out.summary


# --- storage.key_access --------------------------------------------------------------------------------

def test_key_access_official_permanent_delete_example_fails():
    t = serve(arm_fixture("storage_BlobServicesPutAllowPermanentDelete.json"),
              arm_fixture("storage_StorageAccountUpdate.json"))
    out = run("storage.key_access", t)
    assert out.status is Status.FAIL and "permanent delete is ALLOWED" in out.summary
    assert out.details == {"account": ACCOUNT, "allow_shared_key_access": True, "allow_permanent_delete": True}
    assert_arm_gets(t, ACCOUNT_PATH, ACCOUNT_PATH + "/blobServices/default")


def test_key_access_shared_key_allowed_warns_and_not_set_warns():
    out = run("storage.key_access", serve(PUT, arm_fixture("storage_StorageAccountUpdate.json")))
    assert out.status is Status.WARN and "Shared Key access is allowed" in out.summary
    # StorageAccountGetProperties.json does not report allowSharedKeyAccess: null means allowed
    out = run("storage.key_access", serve(PUT, arm_fixture("storage_StorageAccountGetProperties.json")))
    assert out.status is Status.WARN and "not set (Azure allows it)" in out.summary
    assert out.details["allow_shared_key_access"] is None


def test_key_access_passes_with_shared_key_off_and_no_permanent_delete():
    body = derive(PUT, "properties.deleteRetentionPolicy.allowPermanentDelete", False)
    out = run("storage.key_access", serve(body, NO_KEY))
    assert out.status is Status.PASS, out.summary


def test_key_access_account_403_is_an_error_naming_reader():
    t = serve(PUT).json("GET", ACCOUNT_RE, arm_error_body("AuthorizationFailed", "no"), 403)
    out = run("storage.key_access", t)
    assert out.status is Status.ERROR and "Reader" in out.remediation


# --- storage.immutability ------------------------------------------------------------------------------

CONTAINER = "container1634"
CONTAINER_RE = rf"/blobServices/default/containers/{CONTAINER}\?"
WORM_CONTAINER = arm_fixture("storage_BlobContainersGetWithAllowProtectedAppendWritesAll.json")
PLAIN_CONTAINER = derive(derive(WORM_CONTAINER, "properties.hasImmutabilityPolicy", False),
                         "properties.hasLegalHold", False)


def test_immutability_official_account_worm_passes():
    t = serve(account=arm_fixture("storage_StorageAccountCreateWithImmutabilityPolicy.json"))
    out = run("storage.immutability", t)
    assert out.status is Status.PASS and "version-level WORM" in out.summary
    assert out.details["account_policy_state"] == "Unlocked" and out.details["account_policy_days"] == 15
    assert_arm_gets(t, ACCOUNT_PATH)


def test_immutability_official_container_policy_and_legal_hold_pass():
    t = serve(account=NO_KEY).json("GET", CONTAINER_RE, WORM_CONTAINER)
    out = run("storage.immutability", t, BLOB_CONTAINERS=CONTAINER)
    assert out.status is Status.PASS, out.summary
    assert out.details["containers"][CONTAINER] == {"immutability_policy": True, "policy_state": "Locked",
                                                    "policy_days": 100, "legal_hold": True, "version_worm": False}
    assert_arm_gets(t, ACCOUNT_PATH, ACCOUNT_PATH + f"/blobServices/default/containers/{CONTAINER}")


def test_immutability_absent_is_information_unless_required():
    t = serve(account=NO_KEY).json("GET", CONTAINER_RE, PLAIN_CONTAINER)
    out = run("storage.immutability", t, BLOB_CONTAINERS=CONTAINER)
    assert out.status is Status.PASS and out.summary.startswith("info: no immutable (WORM) storage")
    assert out.details["immutable"] is False
    out = run("storage.immutability", t, BLOB_CONTAINERS=CONTAINER, REQUIRE_IMMUTABLE_STORAGE="true")
    assert out.status is Status.FAIL and CONTAINER in out.summary


def test_immutability_unknown_container_is_a_404_error():
    t = serve(account=NO_KEY).json("GET", CONTAINER_RE, arm_error_body("ContainerNotFound", "no"), 404)
    out = run("storage.immutability", t, BLOB_CONTAINERS=CONTAINER)
    assert out.status is Status.ERROR and out.details["http_status"] == 404


# --- blob.lifecycle ------------------------------------------------------------------------------------

GET_POLICY = arm_fixture("storage_StorageAccountGetManagementPolicy.json")  # snapshots deleted after 30 days
VERSION_POLICY = arm_fixture("storage_StorageAccountSetManagementPolicyWithSnapshotAndVersion.json")


@pytest.mark.parametrize("window,status", [("30", Status.PASS), ("31", Status.FAIL)])
def test_lifecycle_official_policy_at_the_window_boundary(window, status):
    t = serve(policy=GET_POLICY)
    out = run("blob.lifecycle", t, BLOB_CONTAINERS="olcmtestcontainer", BLOB_RETENTION_MIN_DAYS=window)
    assert out.status is status, out.summary
    if status is Status.FAIL:
        assert out.details["too_early"] == ["rule olcmtest deletes snapshots after 30 days"]
    assert_arm_gets(t, ACCOUNT_PATH + "/managementPolicies/default")


def test_lifecycle_rule_outside_the_checked_containers_does_not_count():
    out = run("blob.lifecycle", serve(policy=GET_POLICY), BLOB_CONTAINERS="documents", BLOB_RETENTION_MIN_DAYS="60")
    assert out.status is Status.PASS and out.details["delete_actions"] == []


def test_lifecycle_version_delete_inside_the_window_fails():
    body = derive(VERSION_POLICY, "properties.policy.rules", [
        derive(VERSION_POLICY["properties"]["policy"]["rules"][0], "definition.actions.version.delete",
               {"daysAfterCreationGreaterThan": 7})])
    out = run("blob.lifecycle", serve(policy=body), BLOB_CONTAINERS="olcmtestcontainer1")
    assert out.status is Status.FAIL and "rule olcmtest1 deletes versions after 7 days" in out.summary
    assert run("blob.lifecycle", serve(policy=VERSION_POLICY), BLOB_CONTAINERS="olcmtestcontainer1").status is Status.PASS


def test_lifecycle_disabled_rule_is_ignored_but_listed():
    rule = derive(GET_POLICY["properties"]["policy"]["rules"][0], "enabled", False)
    body = derive(GET_POLICY, "properties.policy.rules", [rule])
    out = run("blob.lifecycle", serve(policy=body), BLOB_RETENTION_MIN_DAYS="90")
    assert out.status is Status.PASS and out.details["disabled_rules"] == ["olcmtest"]


def test_lifecycle_404_on_an_existing_account_means_no_policy():
    t = serve(account=NO_KEY, policy=arm_error_body("ManagementPolicyNotFound", "none"), policy_status=404)
    out = run("blob.lifecycle", t)
    assert out.status is Status.PASS and out.details["has_policy"] is False


def test_lifecycle_404_without_the_account_is_an_error():
    t = CannedTransport().json("GET", POLICY_RE, arm_error_body("ResourceNotFound", "none"), 404)
    t.json("GET", ACCOUNT_RE, arm_error_body("ResourceNotFound", "none"), 404)
    out = run("blob.lifecycle", t)
    assert out.status is Status.ERROR and "storage account medicappdocs not found" in out.summary


def test_lifecycle_403_is_an_error_naming_reader():
    t = serve(policy=arm_error_body("AuthorizationFailed", "no"), policy_status=403)
    out = run("blob.lifecycle", t)
    assert out.status is Status.ERROR and "Reader" in out.remediation


@pytest.mark.parametrize("prefix,container,reaches", [("olcm", "olcmtestcontainer", True),
                                                      ("olcmtestcontainer/2026/", "olcmtestcontainer", True),
                                                      ("docs/", "documents", False), ("", "documents", True)])
def test_prefix_match_reaches_container(prefix, container, reaches):
    assert storage_lifecycle.applies_to(prefix, container) is reaches


# --- shared reads and metadata -------------------------------------------------------------------------

def test_all_storage_checks_share_one_read_of_each_resource():
    t = serve(WITH_CONTAINER_SD, NO_KEY, GET_POLICY).json("GET", CONTAINER_RE, WORM_CONTAINER)
    ctx = make_ctx(t, BLOB_CONTAINERS=CONTAINER)
    ids = ["blob.soft_delete", "blob.versioning", "storage.account_security", "blob.container_soft_delete",
           "blob.point_in_time_restore", "blob.change_feed", "storage.key_access", "storage.immutability",
           "blob.lifecycle"]
    results = {cid: execute(all_checks()[cid], ctx) for cid in ids}
    assert all(r.status is not Status.ERROR for r in results.values()), {k: r.summary for k, r in results.items()}
    paths = sorted(urlparse(r.url).path for r in t.requests)
    assert paths == sorted([ACCOUNT_PATH, ACCOUNT_PATH + "/blobServices/default",
                            ACCOUNT_PATH + "/managementPolicies/default",
                            ACCOUNT_PATH + f"/blobServices/default/containers/{CONTAINER}"])


def test_a_failed_shared_read_is_not_repeated():
    t = CannedTransport().json("GET", SERVICES_RE, arm_error_body("AuthorizationFailed", "no"), 403)
    ctx = make_ctx(t)
    for cid in ("blob.soft_delete", "blob.container_soft_delete", "blob.change_feed"):
        assert execute(all_checks()[cid], ctx).status is Status.ERROR
    assert len(t.requests) == 1


def test_not_configured_is_skipped_without_requests():
    t = CannedTransport()
    ctx = RunContext(settings=Settings.from_env({}), credential=StaticCredential(), azure_kwargs=sdk_kwargs(t))
    for cid in ("blob.container_soft_delete", "blob.point_in_time_restore", "blob.change_feed",
                "storage.key_access", "storage.immutability", "blob.lifecycle"):
        out = execute(all_checks()[cid], ctx)
        assert out.status is Status.SKIPPED and "not set" in out.summary
    assert t.requests == []


def test_metadata_and_docstrings():
    catalogue = all_checks()
    for cid in ("blob.container_soft_delete", "blob.point_in_time_restore", "blob.change_feed",
                "storage.key_access", "storage.immutability", "blob.lifecycle"):
        spec = catalogue[cid]
        assert spec.read_only and spec.remediation and spec.risk and spec.title
    for rule in (storage_protection.evaluate_container_soft_delete, storage_protection.evaluate_point_in_time_restore,
                 storage_protection.evaluate_change_feed, storage_protection.evaluate_key_access,
                 storage_protection.evaluate_immutability, storage_lifecycle.evaluate_lifecycle):
        assert "pass" in rule.__doc__.lower() and "fail" in rule.__doc__.lower()


# --- issue 27 item 14: checks that passed by accident --------------------------------------------------

def test_immutability_required_with_no_container_and_no_account_worm_fails_saying_why():
    """An empty BLOB_CONTAINERS proves nothing: 'every checked container' of none is not immutable."""
    out = run("storage.immutability", serve(account=NO_KEY), REQUIRE_IMMUTABLE_STORAGE="true")
    assert out.status is Status.FAIL and out.details["immutable"] is False
    assert "no container was checked (BLOB_CONTAINERS not set)" in out.summary


def test_lifecycle_rule_without_enabled_counts_as_enabled_as_in_azure():
    """`enabled` is optional in ManagementPolicyRule and Azure runs a rule that leaves it out."""
    rule = dict(GET_POLICY["properties"]["policy"]["rules"][0])
    rule.pop("enabled", None)
    body = derive(GET_POLICY, "properties.policy.rules", [rule])
    out = run("blob.lifecycle", serve(policy=body), BLOB_RETENTION_MIN_DAYS="90")
    assert out.status is Status.FAIL and out.details["disabled_rules"] == []
    assert out.details["too_early"] == ["rule olcmtest deletes snapshots after 30 days"]
