"""Data plane of the blob family (read-only checks): blob.recent_file and blob.deleted_visible.

Listing and recent-file cases run against Azurite (real service emulator). Soft-deleted and
versioned blobs cannot exist in Azurite, so those cases (and 403s) use the real ContainerClient
over CannedTransport with List Blobs XML.
"""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlparse

import pytest

from azure_fakes import CannedTransport, StaticCredential, sdk_kwargs
from blob_xml import ACCOUNT_URL, SERVICE_VERSION, Item, list_blobs, storage_error
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import Status
from checks.engine.registry import all_checks
from checks.engine.runner import execute

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def run(check_id: str, ctx: RunContext):
    return execute(all_checks()[check_id], ctx)


# --- Azurite ------------------------------------------------------------------------------------

@pytest.fixture
def service(azurite):
    from azure.storage.blob import BlobServiceClient
    client = BlobServiceClient.from_connection_string(azurite.connection_string)
    yield client
    client.close()


def new_container(service, blobs: list[str] = (), pause_before_last: bool = False) -> str:
    name = "c" + uuid.uuid4().hex[:12]
    container = service.create_container(name)
    for i, blob in enumerate(blobs):
        if pause_before_last and i == len(blobs) - 1:
            time.sleep(1.1)  # Last-Modified has one-second resolution
        container.upload_blob(blob, b"document " + blob.encode())
    return name


def azurite_ctx(azurite, containers: str, clock_offset: timedelta = timedelta(0), **env: str) -> RunContext:
    values = {"BLOB_CONNECTION_STRING": azurite.connection_string, "BLOB_CONTAINERS": containers}
    values.update(env)
    return RunContext(settings=Settings.from_env(values),
                      clock=lambda: datetime.now(timezone.utc) + clock_offset)


def test_recent_file_passes_and_names_the_newest_blob(azurite, service):
    name = new_container(service, ["2026/10/a.pdf", "2026/11/b.pdf", "2026/09/newest.pdf"], pause_before_last=True)
    out = run("blob.recent_file", azurite_ctx(azurite, name))
    assert out.status is Status.PASS, out.summary
    info = out.details["containers"][name]
    assert info["newest"] == "2026/09/newest.pdf" and info["listed"] == 3 and info["cap_hit"] is False
    assert info["age_days"] < 0.01 and info["last_modified"].startswith(str(datetime.now(timezone.utc).year))
    assert f"{name}: 2026/09/newest.pdf" in out.summary
    assert out.details["account"] == "devstoreaccount1" and out.details["max_age_days"] == 7


def test_recent_file_too_old_fails(azurite, service):
    name = new_container(service, ["a.pdf"])
    out = run("blob.recent_file", azurite_ctx(azurite, name, timedelta(days=8)))
    assert out.status is Status.FAIL
    assert f"{name}: newest blob a.pdf is 8.0 days old" in out.summary
    assert "no file younger than 7 days" in out.summary


def test_recent_file_max_age_is_configurable(azurite, service):
    name = new_container(service, ["a.pdf"])
    out = run("blob.recent_file", azurite_ctx(azurite, name, timedelta(days=8), RECENT_FILE_MAX_AGE_DAYS="10"))
    assert out.status is Status.PASS


def test_recent_file_every_container_must_have_one(azurite, service):
    full = new_container(service, ["a.pdf"])
    empty = new_container(service)
    out = run("blob.recent_file", azurite_ctx(azurite, f"{full},{empty}"))
    assert out.status is Status.FAIL
    assert f"{empty}: no blob" in out.summary and f"{full}: a.pdf" in out.summary
    assert out.details["containers"][empty] == {"newest": None, "last_modified": None, "age_days": None,
                                                "listed": 0, "cap_hit": False}


def test_recent_file_prefix(azurite, service):
    name = new_container(service, ["scans/2026/11/x.pdf", "other/y.pdf"])
    out = run("blob.recent_file", azurite_ctx(azurite, name, BLOB_RECENT_PREFIX="scans/"))
    assert out.status is Status.PASS
    assert out.details["containers"][name]["newest"] == "scans/2026/11/x.pdf"
    assert out.details["containers"][name]["listed"] == 1 and out.details["prefix"] == "scans/"
    out = run("blob.recent_file", azurite_ctx(azurite, name, BLOB_RECENT_PREFIX="invoices/"))
    assert out.status is Status.FAIL and f"{name}: no blob under invoices/" in out.summary


def test_recent_file_ignores_canaries(azurite, service):
    name = new_container(service, ["_verifier-canary/20261001T060000Z-abcdef"])
    out = run("blob.recent_file", azurite_ctx(azurite, name))
    assert out.status is Status.FAIL and f"{name}: no blob" in out.summary
    assert out.details["containers"][name]["listed"] == 1


def test_recent_file_cap_stops_the_listing_and_says_so(azurite, service):
    name = new_container(service, [f"doc-{i:02d}.pdf" for i in range(12)])
    out = run("blob.recent_file", azurite_ctx(azurite, name, BLOB_LIST_CAP="5"))
    assert out.status is Status.PASS  # a recent one is among the first five
    assert out.details["cap_hit"] is True and out.details["list_cap"] == 5
    assert out.details["containers"][name]["listed"] == 5 and out.details["containers"][name]["cap_hit"] is True
    # nothing recent among the capped listing: not proven either way -> warn, not fail
    out = run("blob.recent_file", azurite_ctx(azurite, name, timedelta(days=30), BLOB_LIST_CAP="5"))
    assert out.status is Status.WARN
    assert "none of the first 5 blobs is recent" in out.summary and "listing capped" in out.summary
    assert "BLOB_RECENT_PREFIX" in out.remediation


def test_recent_file_cap_equal_to_count_is_not_hit(azurite, service):
    name = new_container(service, [f"doc-{i}.pdf" for i in range(4)])
    out = run("blob.recent_file", azurite_ctx(azurite, name, BLOB_LIST_CAP="4"))
    assert out.status is Status.PASS and out.details["cap_hit"] is False
    assert out.details["containers"][name]["listed"] == 4


def test_recent_file_missing_container_is_named(azurite, service):
    out = run("blob.recent_file", azurite_ctx(azurite, "nosuchcontainer"))
    assert out.status is Status.ERROR
    assert out.summary == "container nosuchcontainer not found in storage account devstoreaccount1"
    assert "BLOB_CONTAINERS" in out.remediation and out.details["http_status"] == 404


def test_data_plane_not_configured_is_skipped():
    ctx = RunContext(settings=Settings.from_env({"BLOB_CONTAINERS": "docs"}))
    assert run("blob.recent_file", ctx).summary == "BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING) not set"
    # nothing set: every missing variable is named at once, not one per attempt
    nothing = RunContext(settings=Settings.from_env({}))
    for check_id in ("blob.recent_file", "blob.deleted_visible"):
        assert run(check_id, nothing).summary == \
            "BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING) and BLOB_CONTAINERS not set"
    ctx = RunContext(settings=Settings.from_env({"BLOB_ACCOUNT_URL": ACCOUNT_URL}))
    out = run("blob.deleted_visible", ctx)
    assert out.status is Status.SKIPPED and out.summary == "BLOB_CONTAINERS not set"


# --- CannedTransport (soft delete / versions / 403) ----------------------------------------------

def canned_ctx(transport: CannedTransport, containers: str = "docs", **env: str) -> RunContext:
    values = {"BLOB_ACCOUNT_URL": ACCOUNT_URL, "BLOB_CONTAINERS": containers}
    values.update(env)
    return RunContext(settings=Settings.from_env(values), clock=lambda: NOW, credential=StaticCredential(),
                      azure_kwargs=sdk_kwargs(transport))


def query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(url).query)


def test_deleted_visible_lists_soft_deleted_blob():
    t = CannedTransport().add("GET", r"/docs\?restype=container&comp=list", list_blobs("docs", [
        Item("a.pdf", NOW - timedelta(days=3)),
        Item("old/contract.pdf", NOW - timedelta(days=40), deleted=True, deleted_time=NOW - timedelta(days=2),
             remaining_retention_days=28)]))
    out = run("blob.deleted_visible", canned_ctx(t))
    assert out.status is Status.PASS
    assert out.summary == "1 deleted blob listed as restorable, e.g. docs/old/contract.pdf (28 days left) [listing]"
    # no management plane configured: the change feed state is unknown, so the listing is used
    assert out.details["strategy"] == "listing"
    assert out.details["strategy_reason"] == ("change feed state unknown (AZURE_SUBSCRIPTION_ID, STORAGE_RESOURCE_GROUP "
                                              "and STORAGE_ACCOUNT_NAME not set)")
    assert out.details["containers"]["docs"] == {"listed": 2, "cap_hit": False, "deleted": 1,
                                                 "example": "old/contract.pdf",
                                                 "deleted_time": "2026-11-24T09:00:00+00:00",
                                                 "remaining_retention_days": 28}
    (request,) = t.requests
    assert request.url.startswith(ACCOUNT_URL + "/docs?")
    assert query(request.url) == {"restype": ["container"], "comp": ["list"], "maxresults": ["5000"],
                                  "include": ["deleted,deletedwithversions"]}
    assert request.headers["x-ms-version"] == SERVICE_VERSION
    assert request.headers["Authorization"] == "Bearer test-token"


def test_deleted_visible_counts_deleted_blob_kept_as_versions():
    t = CannedTransport().add("GET", r"comp=list", list_blobs("docs", [
        Item("scan.pdf", NOW - timedelta(days=5), has_versions_only=True)]))
    out = run("blob.deleted_visible", canned_ctx(t))
    assert out.status is Status.PASS and out.details["deleted_seen"] == 1


def test_deleted_visible_none_warns_and_points_to_canary():
    t = CannedTransport().add("GET", r"comp=list", list_blobs("docs", [Item("a.pdf", NOW)]))
    out = run("blob.deleted_visible", canned_ctx(t))
    assert out.status is Status.WARN
    assert out.summary == "no deleted blob listed in docs [listing]"
    assert "BLOB_CANARY_CONTAINER" in out.remediation


def test_listing_cap_is_the_page_size_and_stops_after_one_page():
    page1 = [Item(f"doc-{i}.pdf", NOW - timedelta(days=20)) for i in range(3)]
    t = CannedTransport().add("GET", r"comp=list", list_blobs("docs", page1, next_marker="MARKER2"))
    out = run("blob.deleted_visible", canned_ctx(t, BLOB_LIST_CAP="3"))
    assert out.status is Status.WARN and "(listing capped at 3 in docs)" in out.summary
    assert out.details["cap_hit"] is True
    assert len(t.requests) == 1 and query(t.requests[0].url)["maxresults"] == ["3"]


def test_listing_follows_pages_up_to_the_cap():
    t = CannedTransport().add("GET", r"comp=list",
                              list_blobs("docs", [Item("a", NOW), Item("b", NOW)], next_marker="M2"),
                              list_blobs("docs", [Item("c", NOW)]))
    out = run("blob.recent_file", canned_ctx(t, BLOB_LIST_CAP="10"))
    assert out.status is Status.PASS and out.details["containers"]["docs"]["listed"] == 3
    assert out.details["cap_hit"] is False
    assert query(t.requests[1].url)["marker"] == ["M2"]


def test_403_on_data_plane_names_reader_role():
    t = CannedTransport().add("GET", r"comp=list", storage_error(
        403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation "
                                                "using this permission."))
    for check_id in ("blob.recent_file", "blob.deleted_visible"):
        out = run(check_id, canned_ctx(t))
        assert out.status is Status.ERROR
        assert out.summary.startswith("access denied (403 AuthorizationPermissionMismatch) listing")
        assert "container docs of storage account medicappdocs" in out.summary
        assert out.remediation == ("Grant the function's identity the Storage Blob Data Reader role on "
                                   "container docs of storage account medicappdocs.")
        assert out.details["error_code"] == "AuthorizationPermissionMismatch"


def test_403_network_rules_says_so():
    t = CannedTransport().add("GET", r"comp=list", storage_error(
        403, "AuthorizationFailure", "This request is not authorized to perform this operation."))
    out = run("blob.recent_file", canned_ctx(t))
    assert out.status is Status.ERROR and "network rules" in out.remediation


def test_container_not_found_canned():
    t = CannedTransport().add("GET", r"comp=list", storage_error(404, "ContainerNotFound",
                                                                 "The specified container does not exist."))
    out = run("blob.deleted_visible", canned_ctx(t, containers="archive"))
    assert out.status is Status.ERROR
    assert out.summary == "container archive not found in storage account medicappdocs"


def test_account_that_does_not_resolve_is_named():
    ctx = RunContext(settings=Settings.from_env({"BLOB_ACCOUNT_URL": "https://nosuchacct.invalid",
                                                 "BLOB_CONTAINERS": "docs"}),
                     credential=StaticCredential(), azure_kwargs={"retry_total": 0})
    out = run("blob.recent_file", ctx)
    assert out.status is Status.ERROR
    # not a *.blob.core.windows.net URL, so the SDK knows no account name: the URL is named instead
    assert out.summary.startswith("cannot reach storage account https://nosuchacct.invalid/ listing blobs")
    assert "BLOB_ACCOUNT_URL" in out.remediation
