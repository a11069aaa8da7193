"""blob.recent_file and blob.deleted_visible by the change feed (Azurite has none): the real
BlobServiceClient and StorageManagementClient over CannedTransport, the feed's `$blobchangefeed`
container served by tests/changefeed_fakes.py (segments.json, hourly manifests, Avro chunks
written by tests/avro_writer.py and read by the SDK's own Avro reader).
"""
from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from avro_writer import container_file
from azure_fakes import Canned, CannedTransport, StaticCredential, arm_error_body, arm_fixture, derive, sdk_kwargs
from blob_xml import ACCOUNT_URL, XML, Item, http_date, list_blobs
from changefeed_fakes import SCHEMA, FakeFeed, record
from checks.connect.changefeed import ChangeFeed, day_prefixes, parse_subject, read_chunk, segment_start
from checks.engine.config import ConfigError, Settings
from checks.engine.context import RunContext
from checks.engine.model import Status
from checks.engine.registry import all_checks
from checks.engine.runner import execute
from checks.families.blob_activity import MAX_HEADS, expand_prefix_template

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=timezone.utc)
SUB = "00000000-0000-0000-0000-000000000000"
H = timedelta(hours=1)
D = timedelta(days=1)
# the official example has change feed on (7 days); soft delete derived to 30 days
SERVICES = derive(arm_fixture("storage_BlobServicesGet.json"), "properties.deleteRetentionPolicy",
                  {"enabled": True, "days": 30})
LONG_FEED = derive(SERVICES, "properties.changeFeed", {"enabled": True})  # no retention = kept for ever


def feed(days: float = 10, **kw) -> FakeFeed:
    return FakeFeed(first_hour=NOW - timedelta(days=days), last_consumable=NOW.replace(minute=0) - H, **kw)


def head_ok(modified: datetime) -> Canned:
    return Canned(200, b"", {**XML, "Last-Modified": http_date(modified), "ETag": '"0x8DD0"',
                             "x-ms-blob-type": "BlockBlob", "Content-Length": "42"})


def head_gone() -> Canned:
    return Canned(404, b"", {**XML, "x-ms-error-code": "BlobNotFound"})


def make(fake: FakeFeed, services: dict | None = SERVICES, containers: str = "docs", services_status: int = 200,
         **env: str):
    t = CannedTransport()
    if services is not None:
        t.json("GET", r"/blobServices/default\?", services, services_status)
    fake.route(t)
    values = {"AZURE_SUBSCRIPTION_ID": SUB, "STORAGE_RESOURCE_GROUP": "rg-medicapp",
              "STORAGE_ACCOUNT_NAME": "medicappdocs", "BLOB_ACCOUNT_URL": ACCOUNT_URL, "BLOB_CONTAINERS": containers}
    values.update(env)
    ctx = RunContext(settings=Settings.from_env(values), clock=lambda: NOW, credential=StaticCredential(),
                     azure_kwargs=sdk_kwargs(t))
    return t, ctx


def run(check_id: str, ctx: RunContext):
    return execute(all_checks()[check_id], ctx)


def heads(t: CannedTransport) -> list[str]:
    return [unquote(urlparse(r.url).path) for r in t.requests if r.method == "HEAD"]


def container_lists(t: CannedTransport, container: str) -> list[dict]:
    return [parse_qs(urlparse(r.url).query) for r in t.requests
            if urlparse(r.url).path == f"/{container}" and "comp=list" in r.url]


# --- the reader ------------------------------------------------------------------------------------

def test_test_avro_writer_is_read_back_by_the_sdk_reader():
    from azure.storage.blob._shared.avro.avro_io import DatumReader
    from azure.storage.blob._shared.avro.datafile import DataFileReader
    records = [record("docs", f"p/{i}.pdf", "BlobCreated", NOW - i * H, i) for i in range(5)]
    data = container_file(SCHEMA, records, block_size=2)  # three blocks
    assert list(DataFileReader(io.BytesIO(data), DatumReader())) == records


def test_read_chunk_keeps_blob_events_with_their_container_and_time():
    rows = [record("docs", "patients/7/doc-1.pdf", "BlobCreated", NOW),
            {**record("docs", "x", "Control", NOW), "subject": "/blobServices/default/containers/$blobchangefeed"},
            record("other", "a/b/c.pdf", "BlobDeleted", NOW - H)]
    events = read_chunk(container_file(SCHEMA, rows))
    assert [(e.container, e.name, e.kind, e.at) for e in events] == [
        ("docs", "patients/7/doc-1.pdf", "BlobCreated", NOW), ("other", "a/b/c.pdf", "BlobDeleted", NOW - H)]


def test_layout_helpers():
    assert segment_start("idx/segments/2026/11/26/0800/meta.json") == datetime(2026, 11, 26, 8, tzinfo=timezone.utc)
    assert segment_start("idx/segments/2026/11/26/0800/other.json") is None
    assert parse_subject("/blobServices/default/containers/docs/blobs/a/blobs/b.pdf") == ("docs", "a/blobs/b.pdf")
    assert parse_subject("/blobServices/default/containers/docs") is None
    assert day_prefixes(datetime(2026, 12, 30, 23, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc)) == [
        "idx/segments/2027/01/01/", "idx/segments/2026/12/31/", "idx/segments/2026/12/30/"]


def test_scan_reads_only_the_window_newest_first_and_only_consumable_hours():
    f = feed(days=40).add("docs", "old.pdf", "BlobCreated", NOW - 20 * D).add("docs", "in.pdf", "BlobCreated", NOW - 5 * H)
    f.add("docs", "not-yet.pdf", "BlobCreated", NOW - timedelta(minutes=20))  # hour after lastConsumable
    t = f.route(CannedTransport())
    from azure.storage.blob import BlobServiceClient
    service = BlobServiceClient(ACCOUNT_URL, credential=StaticCredential(), **sdk_kwargs(t))
    cf = ChangeFeed(service.get_container_client("$blobchangefeed"))
    hours = list(cf.scan(NOW - 2 * D, NOW))
    starts = [s.start for s, _ in hours]
    assert starts == sorted(starts, reverse=True) and starts[0] == NOW.replace(minute=0) - H
    assert starts[-1] == (NOW - 2 * D).replace(minute=0) and len(hours) == 48
    assert [e.name for _, ev in hours for e in ev] == ["in.pdf"]
    read = f.feed_requests(t)
    assert read[:2] == ["meta/segments.json", "list:idx/segments/2026/11/26/"]
    assert [r for r in read if r.startswith("list:idx/")] == [f"list:idx/segments/2026/11/{d}/" for d in (26, 25, 24)]
    manifests = [r for r in read if r.startswith("idx/")]
    assert len(manifests) == 48 and "idx/segments/2026/11/06/0900/meta.json" not in manifests


# --- blob.recent_file -----------------------------------------------------------------------------

def test_recent_file_from_change_feed_names_the_newest_present_blob_without_listing_the_container():
    f = feed()
    f.add("docs", "patients/1/doc-1.pdf", "BlobCreated", NOW - 3 * D)
    f.add("docs", "patients/9/doc-4.pdf", "BlobCreated", NOW - 30 * H)
    f.add("docs", "patients/2/doc-2.pdf", "BlobCreated", NOW - 2 * H)   # newest, deleted since
    f.add("docs", "patients/2/doc-2.pdf", "BlobDeleted", NOW - 2 * H + timedelta(minutes=4))
    f.add("other", "x.pdf", "BlobCreated", NOW - 90 * timedelta(minutes=1))  # another container
    f.add("docs", "_verifier-canary/20261126T080000Z-ab", "BlobCreated", NOW - 80 * timedelta(minutes=1))
    t, ctx = make(f)
    t.add("HEAD", r"/docs/patients/2/doc-2\.pdf$", head_gone())
    t.add("HEAD", r"/docs/patients/9/doc-4\.pdf$", head_ok(NOW - 30 * H))
    # a container far beyond the listing cap: it must never be listed
    t.add("GET", r"/docs\?restype=container&comp=list", list_blobs("docs", [Item("a", NOW - 90 * D)] * 3, "NEXT"))
    out = run("blob.recent_file", ctx)
    assert out.status is Status.PASS, out.summary
    assert out.summary == ("recent file within 7 days: docs: patients/9/doc-4.pdf (1.25 days old) (newer, deleted "
                           "since: patients/2/doc-2.pdf) [change feed]")
    info = out.details["containers"]["docs"]
    assert info["newest"] == "patients/9/doc-4.pdf" and info["gone"] == ["patients/2/doc-2.pdf"]
    assert info["created"] == "2026-11-25T03:30:00+00:00" and info["age_days"] == 1.25
    assert out.details["strategy"] == "change_feed"
    assert out.details["strategy_reason"] == "change feed on (retention 7 days)"
    assert heads(t) == ["/docs/patients/2/doc-2.pdf", "/docs/patients/9/doc-4.pdf"]
    assert container_lists(t, "docs") == []
    assert out.details["hours_read"] <= 40  # stopped early: not the whole 7 days (168 hours)


@pytest.mark.parametrize("age,status", [(7 * D - timedelta(minutes=1), Status.PASS),
                                        (7 * D + timedelta(minutes=1), Status.FAIL)])
def test_recent_file_window_boundary(age, status):
    t, ctx = make(feed().add("docs", "scan.pdf", "BlobCreated", NOW - age))
    t.add("HEAD", r"/docs/scan\.pdf$", head_ok(NOW - age))
    out = run("blob.recent_file", ctx)
    assert out.status is status, out.summary
    if status is Status.FAIL:
        assert out.summary == "no file younger than 7 days: docs: no blob created in the last 7 days [change feed]"
        assert heads(t) == []


def test_recent_file_empty_window_fails_per_container():
    t, ctx = make(feed().add("docs", "a.pdf", "BlobCreated", NOW - H), containers="docs,archive")
    t.add("HEAD", r"/docs/a\.pdf$", head_ok(NOW - H))
    out = run("blob.recent_file", ctx)
    assert out.status is Status.FAIL
    assert "archive: no blob created in the last 7 days" in out.summary and "docs: a.pdf" in out.summary
    # every consumable hour of the window: 09:00 seven days ago up to lastConsumable (08:00 today)
    assert out.details["window_days"] == 7 and out.details["hours_read"] == 7 * 24


def test_recent_file_feed_keeping_fewer_days_than_the_window_is_not_proven():
    services = derive(SERVICES, "properties.changeFeed", {"enabled": True, "retentionInDays": 3})
    t, ctx = make(feed(), services)
    out = run("blob.recent_file", ctx)
    assert out.status is Status.WARN
    assert out.summary == "recent file not proven: docs: no present blob found in the 3 days read [change feed]"
    assert "change feed retention" in out.remediation


def test_recent_file_gives_up_after_max_heads_deleted_candidates():
    f = feed()
    for i in range(MAX_HEADS + 5):
        f.add("docs", f"tmp/{i}.pdf", "BlobCreated", NOW - (i + 2) * H)
    t, ctx = make(f)
    t.add("HEAD", r"/docs/tmp/", head_gone())
    out = run("blob.recent_file", ctx)
    assert out.status is Status.WARN and len(heads(t)) == MAX_HEADS


def test_403_on_the_change_feed_names_the_role_and_the_container():
    t, ctx = make(feed(deny=True))
    for check_id in ("blob.recent_file", "blob.deleted_visible"):
        out = run(check_id, ctx)
        assert out.status is Status.ERROR
        assert out.summary == ("access denied (403 AuthorizationPermissionMismatch) reading the change feed in "
                               "container $blobchangefeed of storage account medicappdocs")
        assert out.remediation == ("Grant the function's identity the Storage Blob Data Reader role on the "
                                   "$blobchangefeed container of storage account medicappdocs (or the whole account).")


def test_feed_not_written_yet_falls_back_to_listing_and_says_why():
    t, ctx = make(feed(started=False))
    t.add("GET", r"/docs\?restype=container&comp=list", list_blobs("docs", [Item("a.pdf", NOW - H)]))
    out = run("blob.recent_file", ctx)
    assert out.status is Status.PASS and out.summary.endswith("[listing]")
    assert out.details["strategy_reason"] == ("change feed on but not readable yet ($blobchangefeed/"
                                              "meta/segments.json not found)")


def test_change_feed_off_or_forced_listing_uses_the_listing():
    off = derive(SERVICES, "properties.changeFeed", {"enabled": False})
    t, ctx = make(feed(), off)
    t.add("GET", r"/docs\?restype=container&comp=list", list_blobs("docs", [Item("a.pdf", NOW - H)]))
    out = run("blob.recent_file", ctx)
    assert out.details["strategy"] == "listing" and out.details["strategy_reason"] == "change feed off on the account"
    assert FakeFeed.feed_requests(None, t) == []
    t, ctx = make(feed(), SERVICES, BLOB_ACTIVITY_SOURCE="listing")
    t.add("GET", r"comp=list", list_blobs("docs", [Item("a.pdf", NOW - H)]))
    out = run("blob.recent_file", ctx)
    assert out.details["strategy_reason"] == "BLOB_ACTIVITY_SOURCE=listing"


def test_unreadable_service_properties_fall_back_to_listing_and_say_why():
    t, ctx = make(feed(), arm_error_body("AuthorizationFailed", "no access"), services_status=403)
    t.add("GET", r"/docs\?restype=container&comp=list", list_blobs("docs", [Item("a.pdf", NOW - H)]))
    out = run("blob.recent_file", ctx)
    assert out.status is Status.PASS and out.details["strategy"] == "listing"
    assert out.details["strategy_reason"] == "change feed state unknown (access denied (403) reading storage account medicappdocs)"
    assert FakeFeed.feed_requests(None, t) == []


def test_forced_change_feed_needs_no_management_plane():
    t, ctx = make(feed().add("docs", "a.pdf", "BlobCreated", NOW - H), None, BLOB_ACTIVITY_SOURCE="change_feed",
                  AZURE_SUBSCRIPTION_ID="")
    t.add("HEAD", r"/docs/a\.pdf$", head_ok(NOW - H))
    out = run("blob.recent_file", ctx)
    assert out.status is Status.PASS and out.details["strategy_reason"] == "BLOB_ACTIVITY_SOURCE=change_feed"


# --- blob.deleted_visible -------------------------------------------------------------------------

def deleted_listing(name: str, listed: bool, days_left: int = 29) -> Canned:
    items = [Item(name, NOW - 2 * D, deleted=True, deleted_time=NOW - 2 * D, remaining_retention_days=days_left)]
    return list_blobs("docs", (items if listed else []) + [Item(name + ".bak", NOW - 3 * D)])


def test_deleted_visible_proves_real_deletions_are_listed_as_deleted_blobs():
    f = feed(days=31, shards=1)
    f.add("docs", "patients/2/doc-2.pdf", "BlobCreated", NOW - 2 * H)   # created then deleted: the newest
    f.add("docs", "patients/2/doc-2.pdf", "BlobDeleted", NOW - 2 * H + timedelta(minutes=4))
    f.add("docs", "patients/3/old.pdf", "BlobDeleted", NOW - 12 * D)
    f.add("docs", "patients/4/back.pdf", "BlobDeleted", NOW - 5 * D)     # deleted, then uploaded again
    f.add("docs", "patients/4/back.pdf", "BlobCreated", NOW - 4 * D)
    f.add("other", "gone.pdf", "BlobDeleted", NOW - 3 * H)               # not a checked container
    f.add("docs", "patients/5/too-old.pdf", "BlobDeleted", NOW - 29 * D - H)  # beyond retention - 1 day
    t, ctx = make(f, LONG_FEED)
    t.add("GET", r"prefix=patients%2F2%2Fdoc-2\.pdf", deleted_listing("patients/2/doc-2.pdf", True, 30))
    t.add("GET", r"prefix=patients%2F3%2Fold\.pdf", deleted_listing("patients/3/old.pdf", True, 18))
    out = run("blob.deleted_visible", ctx)
    assert out.status is Status.PASS, out.summary
    assert out.summary == ("2 blobs deleted in the last 29 days are listed as restorable, e.g. "
                           "docs/patients/2/doc-2.pdf (deleted 2026-11-26T07:34:00+00:00, 30 days left) [change feed]")
    assert [p["name"] for p in out.details["containers"]["docs"]] == ["patients/2/doc-2.pdf", "patients/3/old.pdf"]
    assert out.details["recreated"] == 1 and out.details["window_days"] == 29
    lists = container_lists(t, "docs")
    assert [q["prefix"] for q in lists] == [["patients/2/doc-2.pdf"], ["patients/3/old.pdf"]]
    assert all(q["include"] == ["deleted,deletedwithversions"] and q["maxresults"] == ["50"] for q in lists)


def test_deleted_blob_missing_from_deleted_blobs_fails_and_names_it():
    t, ctx = make(feed().add("docs", "patients/8/x.pdf", "BlobDeleted", NOW - 3 * D), LONG_FEED)
    t.add("GET", r"prefix=patients%2F8%2Fx\.pdf", deleted_listing("patients/8/x.pdf", False))
    out = run("blob.deleted_visible", ctx)
    assert out.status is Status.FAIL
    assert out.summary == ("1 of 1 blob deleted in the last 29 days is not listed as a deleted blob: "
                           "docs/patients/8/x.pdf (deleted 2026-11-23T09:30:00+00:00) [change feed]")
    assert "soft delete" in out.remediation


def test_deleted_visible_samples_at_most_n_newest_per_container():
    f = feed()
    for i in range(6):
        f.add("docs", f"d{i}.pdf", "BlobDeleted", NOW - (i + 2) * H)
    t, ctx = make(f, BLOB_DELETED_SAMPLE="2")
    t.add("GET", r"/docs\?.*prefix=", lambda r: deleted_listing(parse_qs(urlparse(r.url).query)["prefix"][0], True))
    out = run("blob.deleted_visible", ctx)
    assert out.status is Status.PASS
    assert [p["name"] for p in out.details["containers"]["docs"]] == ["d0.pdf", "d1.pdf"]


def test_nothing_deleted_in_the_window_passes_with_the_note():
    t, ctx = make(feed().add("docs", "a.pdf", "BlobCreated", NOW - H))
    out = run("blob.deleted_visible", ctx)  # the feed keeps 7 of the 30 days: what it keeps is read
    assert out.status is Status.PASS
    assert out.summary == ("no blob deleted in docs in the last 7 days (change feed); blob.canary proves deletion "
                           "and restore live [change feed]")
    assert container_lists(t, "docs") == []


def test_one_run_reads_the_service_properties_once_and_each_hour_once():
    f = feed().add("docs", "a.pdf", "BlobCreated", NOW - 3 * D).add("docs", "b.pdf", "BlobDeleted", NOW - 2 * D)
    t, ctx = make(f)
    t.add("HEAD", r"/docs/a\.pdf$", head_ok(NOW - 3 * D))
    t.add("GET", r"prefix=b\.pdf", deleted_listing("b.pdf", True))
    for check_id in ("blob.soft_delete", "blob.recent_file", "blob.deleted_visible"):
        assert run(check_id, ctx).status is not Status.ERROR
    assert len([r for r in t.requests if "blobServices" in r.url]) == 1
    manifests = [r for r in f.feed_requests(t) if r.startswith("idx/")]
    assert len(manifests) == len(set(manifests))


# --- listing by a date template -------------------------------------------------------------------

def test_prefix_template_expands_this_and_last_month_and_the_window():
    assert expand_prefix_template("uploads/{yyyy}/{mm}/", NOW, 7) == ["uploads/2026/11/", "uploads/2026/10/"]
    jan = datetime(2027, 1, 3, tzinfo=timezone.utc)
    assert expand_prefix_template("u/{yyyy}-{mm}/", jan, 40) == ["u/2027-01/", "u/2026-12/", "u/2026-11/"]
    assert expand_prefix_template("y{yyyy}/", jan, 7) == ["y2027/", "y2026/"]


def test_listing_with_a_prefix_template_looks_where_new_files_land():
    t, ctx = make(feed(), None, BLOB_RECENT_PREFIX_TEMPLATE="uploads/{yyyy}/{mm}/", AZURE_SUBSCRIPTION_ID="")
    t.add("GET", r"prefix=uploads%2F2026%2F11%2F", list_blobs("docs", [Item("uploads/2026/11/n.pdf", NOW - D)]))
    t.add("GET", r"prefix=uploads%2F2026%2F10%2F", list_blobs("docs", [Item("uploads/2026/10/o.pdf", NOW - 30 * D)]))
    out = run("blob.recent_file", ctx)
    assert out.status is Status.PASS
    assert out.details["prefix"] == "uploads/2026/11/, uploads/2026/10/"
    assert out.details["containers"]["docs"]["newest"] == "uploads/2026/11/n.pdf"
    assert out.details["containers"]["docs"]["listed"] == 2


def test_prefix_settings_are_validated():
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"BLOB_RECENT_PREFIX_TEMPLATE": "uploads/{month}/"})
    assert "BLOB_RECENT_PREFIX_TEMPLATE" in err.value.problems and "{yyyy}" in str(err.value)
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"BLOB_RECENT_PREFIX_TEMPLATE": "u/{yyyy}/", "BLOB_RECENT_PREFIX": "u/"})
    assert err.value.problems["BLOB_RECENT_PREFIX_TEMPLATE"].endswith("not both")
    with pytest.raises(ConfigError) as err:
        Settings.from_env({"BLOB_ACTIVITY_SOURCE": "feed"})
    assert "auto, change_feed, listing" in err.value.problems["BLOB_ACTIVITY_SOURCE"]


# --- the report -----------------------------------------------------------------------------------

def test_the_reports_run_page_shows_the_strategy_and_why():
    from checks.engine.runner import run_checks
    from checks.report.pages import run_page
    t, ctx = make(feed().add("docs", "a.pdf", "BlobCreated", NOW - H))
    t.add("HEAD", r"/docs/a\.pdf$", head_ok(NOW - H))
    run = run_checks([all_checks()["blob.recent_file"]], ctx, "cli")
    html = run_page(run)
    assert "docs: a.pdf (0.04 days old) [change feed]" in html
    assert "strategy_reason" in html and "change feed on (retention 7 days)" in html
