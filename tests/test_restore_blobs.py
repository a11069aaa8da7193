"""Blob incident restore through the public command (`python -m checks restore blobs ...`).

Listing and input guards on Azurite (real data plane); undelete, versions and their promotion on the
real BlobServiceClient over CannedTransport (Azurite has neither soft delete nor versions): a small
stateful container that answers List Blobs with Deleted / VersionId / IsCurrentVersion / Content-MD5,
Undelete Blob, Copy Blob from `?versionid=` and Get Blob, and records every request.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlparse

import pytest

from azure_fakes import Canned, CannedTransport, StaticCredential, sdk_kwargs
from blob_xml import ACCOUNT_URL, XML, Item, http_date, list_blobs
from checks import cli, restore
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.journal.store import Journal
from checks.restore.record import PARTITION, load

NOW = datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc)
SINCE = "2026-11-25T14:00:00Z"


def md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def run(env: dict, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main(["restore", "blobs", *argv], out=out, env=env), out.getvalue()


def incidents(env: dict) -> list[dict]:
    return Journal.from_settings(Settings.from_env(env)).partition(PARTITION)


# --- Azurite: listing and the input guards ----------------------------------------------------------------------
@pytest.fixture
def azurite_env(base_env, azurite):
    from azure.storage.blob import BlobServiceClient
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client("documents-r18")
    if not container.exists():
        container.create_container()
        container.upload_blob("2026/11/a.pdf", b"a", overwrite=True)
        container.upload_blob("2026/11/b.pdf", b"b", overwrite=True)
    return dict(base_env, BLOB_CONNECTION_STRING=azurite.connection_string)


def test_azurite_listing_plan_nothing_deleted_is_valid_and_writes_nothing(azurite_env):
    code, text = run(azurite_env, "--container", "documents-r18", "--prefix", "2026/11/")
    assert code == 0, text
    assert "Plan (VALID): restore blobs in devstoreaccount1/documents-r18 under '2026/11/'" in text
    assert "0 blobs to restore, 0 bytes; 2 listed" in text
    code, text = run(azurite_env, "--container", "documents-r18", "--apply", "--yes", "--by", "On-call")
    assert code == 0 and incidents(azurite_env) == []  # nothing to restore: no incident


@pytest.mark.parametrize("argv,reason", [
    (["--container", "no-such-container"], "--container: container no-such-container not found in storage account"),
    (["--container", "Bad_Name"], "--container: expected container names"),
    (["--container", "documents-r18", "--deleted-since", "2026-11-25T14:00:00"], "--deleted-since '2026-11-25T14:00:00' "
                                                                                "has no time zone"),
])
def test_azurite_bad_input_exit_2_nothing_written(azurite_env, argv, reason):
    for apply in ([], ["--apply", "--yes", "--by", "On-call"]):
        code, text = run(azurite_env, *argv, *apply)
        assert code == 2 and "Plan (INVALID)" in text and reason in text, text
    assert incidents(azurite_env) == []


def test_apply_refused_without_terminal_unless_yes(azurite_env, capsys):
    assert run(azurite_env, "--container", "documents-r18", "--apply", "--by", "On-call")[0] == 2
    assert "refusing --apply without a terminal" in capsys.readouterr().err


# --- transport fakes: undelete, versions -----------------------------------------------------------------------
class FakeContainer:
    """The `docs` container with soft delete (and optionally versioning) on, as the service answers."""

    def __init__(self, items: list[Item], contents: dict[str, bytes]):
        self.items, self.contents = items, contents  # contents: name or name@version -> bytes
        self.restored: dict[str, bytes] = {}
        self.t = CannedTransport()
        self.t.add("GET", r"/docs\?restype=container&comp=list", self.list)
        self.t.add("PUT", r"/docs/[^?]+\?comp=undelete$", self.undelete)
        self.t.add("PUT", r"/docs/[^?]+$", self.copy)
        self.t.add("GET", r"/docs/[^?]+$", self.get)

    @staticmethod
    def name(request) -> str:
        return unquote(urlparse(request.url).path).removeprefix("/docs/")

    def list(self, request) -> Canned:
        q = parse_qs(urlparse(request.url).query)
        assert q["include"] == ["deleted,versions"]
        prefix = q.get("prefix", [""])[0]
        return list_blobs("docs", [i for i in self.items if i.name.startswith(prefix)])

    def undelete(self, request) -> Canned:
        self.restored[self.name(request)] = self.contents[self.name(request)]
        return Canned(200, b"", dict(XML))

    def copy(self, request) -> Canned:
        source = urlparse(request.headers["x-ms-copy-source"])
        assert source.path == urlparse(request.url).path  # a version of the SAME blob, promoted over its base
        version = parse_qs(source.query)["versionid"][0]
        self.restored[self.name(request)] = self.contents[f"{self.name(request)}@{version}"]
        return Canned(202, b"", {**XML, "ETag": '"0x8DD1"', "Last-Modified": http_date(NOW),
                                 "x-ms-copy-id": "c0py", "x-ms-copy-status": "success"})

    def get(self, request) -> Canned:
        body = self.restored[self.name(request)]
        return Canned(206, body, {**XML, "Content-Range": f"bytes 0-{len(body) - 1}/{len(body)}",
                                  "x-ms-blob-type": "BlockBlob", "ETag": '"0x8DD1"', "Last-Modified": http_date(NOW)})

    def calls(self) -> list[str]:
        return [f"{r.method} {self.name(r) if 'comp=list' not in r.url else 'list'}"
                + (" undelete" if "comp=undelete" in r.url else " copy" if r.headers.get("x-ms-copy-source") else "")
                for r in self.t.requests]


@pytest.fixture
def fake_env(base_env, monkeypatch):
    def make(fake: FakeContainer) -> dict:
        monkeypatch.setattr(restore, "make_context", lambda settings: RunContext(
            settings=settings, clock=lambda: NOW, credential=StaticCredential(), azure_kwargs=sdk_kwargs(fake.t)))
        return dict(base_env, BLOB_ACCOUNT_URL=ACCOUNT_URL)
    return make


def test_soft_deleted_blobs_are_undeleted_and_hash_verified(fake_env):
    a, b = b"signed consent form A", b"old B"
    fake = FakeContainer([
        Item("2026/a.pdf", NOW - timedelta(days=3), deleted=True, deleted_time=NOW - timedelta(hours=2),
             content_md5=md5(a), size=len(a)),
        Item("2026/b.pdf", NOW - timedelta(days=9), deleted=True, deleted_time=NOW - timedelta(days=2),
             content_md5=md5(b)),  # deleted before --deleted-since: left alone
        Item("2026/c.pdf", NOW - timedelta(days=1)),  # current: nothing to do
    ], {"2026/a.pdf": a, "2026/b.pdf": b})
    env = fake_env(fake)
    code, text = run(env, "--container", "docs", "--prefix", "2026/", "--deleted-since", SINCE)
    assert code == 0 and f"1 blob to restore, {len(a)} bytes; 3 listed" in text
    assert "undelete 2026/a.pdf  (soft-deleted at 2026-11-26T12:00:00Z)" in text and "b.pdf" not in text
    assert fake.calls() == ["GET list"]  # the plan only lists

    code, text = run(env, "--container", "docs", "--prefix", "2026/", "--deleted-since", SINCE,
                     "--apply", "--yes", "--by", "Dr. On-Call")
    assert code == 0, text
    assert fake.calls()[1:] == ["GET list", "PUT 2026/a.pdf undelete", "GET 2026/a.pdf"]
    assert "2026/a.pdf: restored, verified (MD5 matches)" in text
    (entity,) = incidents(env)
    record = load(Journal.from_settings(Settings.from_env(env)), entity["RowKey"])
    assert record.kind == "blobs" and record.by == "Dr. On-Call" and record.outcome == "pass"
    assert record.target_server == "medicappdocs/docs" and record.restore_point == SINCE
    assert record.verification["restored"] == 1 and record.verification["hash_verified"] == 1
    assert not [r for r in fake.t.requests if r.method == "DELETE"]  # never deletes


def test_versions_deleted_blob_and_overwritten_blob_are_promoted_and_a_bad_copy_is_caught(fake_env):
    v1, v2, y1, y2 = b"x v1", b"x v2", b"y before", b"y overwritten"
    vid = ["2026-11-20T10:00:00.0000001Z", "2026-11-24T10:00:00.0000002Z", "2026-11-22T09:00:00.0000003Z"]
    fake = FakeContainer([
        # x: deleted on a versioned account: only previous versions remain → newest promoted
        Item("x.pdf", NOW - timedelta(days=6), version_id=vid[0], content_md5=md5(v1)),
        Item("x.pdf", NOW - timedelta(days=2), version_id=vid[1], content_md5=md5(v2)),
        # y: overwritten after --deleted-since: the version from before it is promoted
        Item("y.pdf", NOW - timedelta(days=4), version_id=vid[2], content_md5=md5(y1)),
        Item("y.pdf", NOW - timedelta(hours=1), version_id="2026-11-26T13:00:00.0000004Z", is_current_version=True,
             content_md5=md5(y2)),
        # z: current, not changed since: untouched
        Item("z.pdf", NOW - timedelta(days=5), version_id="2026-11-21T00:00:00.0000005Z", is_current_version=True),
    ], {f"x.pdf@{vid[0]}": v1, f"x.pdf@{vid[1]}": v2, f"y.pdf@{vid[2]}": y1})
    env = fake_env(fake)
    code, text = run(env, "--container", "docs", "--deleted-since", SINCE, "--json")
    plan = json.loads(text)
    assert code == 0 and plan["count"] == 2
    assert [(c["name"], c["action"], c["version_id"]) for c in plan["candidates"]] == [
        ("x.pdf", "promote", vid[1]), ("y.pdf", "promote", vid[2])]

    fake.contents[f"y.pdf@{vid[2]}"] = b"y tampered"  # what comes back is not what was listed
    code, text = run(env, "--container", "docs", "--deleted-since", SINCE, "--apply", "--yes", "--by", "On-call")
    assert code == 1, text
    copies = [r.headers["x-ms-copy-source"] for r in fake.t.requests if r.headers.get("x-ms-copy-source")]
    assert copies == [f"{ACCOUNT_URL}/docs/x.pdf?versionid={vid[1].replace(':', '%3A')}",
                      f"{ACCOUNT_URL}/docs/y.pdf?versionid={vid[2].replace(':', '%3A')}"]
    assert "x.pdf: restored, verified (MD5 matches)" in text
    assert f"y.pdf: restored, DIFFERS (MD5 {md5(b'y tampered')}, expected {md5(y1)})" in text
    assert "(blobs): DONE (fail)" in text and "2 of 2 blobs restored (1 hash-verified, 1 differing)" in text
    assert not [r for r in fake.t.requests if r.method == "DELETE"]


def test_http_restore_plan_for_blobs(azurite_env, env_patch):
    import azure.functions as func
    from checks import http_api

    env_patch(azurite_env)

    def post(body) -> tuple[int, dict]:
        resp = http_api.restore_plan(func.HttpRequest(method="POST", url="/api/restore/plan", body=json.dumps(body).encode(),
                                                      headers={"content-type": "application/json"}))
        return resp.status_code, json.loads(resp.get_body())

    status, plan = post({"kind": "blobs", "container": "documents-r18", "prefix": "2026/"})
    assert status == 200 and plan["valid"] and plan["listed"] == 2 and plan["count"] == 0
    status, plan = post({"kind": "blobs", "container": "no-such-container", "deleted_since": "yesterday"})
    assert status == 422 and len(plan["reasons"]) == 1 and "--deleted-since 'yesterday'" in plan["reasons"][0]
    status, plan = post({"kind": "blobs", "container": "no-such-container"})
    assert status == 422 and "not found" in plan["reasons"][0]
    assert post({"kind": "blobs"})[0] == 400 and post({"kind": "tapes", "container": "x"})[0] == 400
    assert incidents(azurite_env) == []


def test_http_restore_plan_speaks_the_callers_language(azurite_env, env_patch):
    import azure.functions as func
    from checks import http_api

    env_patch(azurite_env)

    def post(body) -> tuple[int, dict]:
        resp = http_api.restore_plan(func.HttpRequest(method="POST", url="/api/restore/plan?lang=fr",
                                                      params={"lang": "fr"}, body=json.dumps(body).encode(),
                                                      headers={"content-type": "application/json"}))
        return resp.status_code, json.loads(resp.get_body())

    status, plan = post({"kind": "blobs", "container": "documents-r18", "deleted_since": "yesterday"})
    assert status == 422 and plan["reasons"] == [
        "--deleted-since 'yesterday' n'est pas une heure ISO avec fuseau, p. ex. 2026-11-26T03:00:00Z"]
    status, answer = post({"kind": "blobs"})
    assert status == 400 and answer["error"] == "le champ 'container' est obligatoire pour le type blobs : le nom du conteneur"


# --- blob point-in-time restore of a prefix's range (ARM, official BlobRangesRestore example) -------------------
from azure_fakes import arm_example, arm_fixture, derive, sent_json  # noqa: E402

SUB = "11111111-2222-3333-4444-555555555555"
RANGES = arm_example("storage_BlobRangesRestore.json")["responses"]


class RangeArm:
    """blobServices/default with a restore policy, the restoreBlobRanges POST and its Location polling."""

    def __init__(self, policy: dict | None, in_progress: int = 1):
        self.done = in_progress == 0
        self.t = CannedTransport()
        body = arm_fixture("storage_BlobServicesGet.json")
        if policy is not None:
            body = derive(body, "properties.restorePolicy", policy)
        self.t.json("GET", r"/storageAccounts/medicappdocs/blobServices/default\?", body)
        self.t.add("POST", r"/storageAccounts/medicappdocs/restoreBlobRanges\?",
                   Canned(202, RANGES["202"]["body"], dict(RANGES["202"]["headers"])))
        self.t.add("GET", r"/operationResults/00000000-0000-0000-0000-000000000000", self.status)

    def status(self, request) -> Canned:
        if self.done:
            return Canned(200, RANGES["200"]["body"])
        return Canned(202, RANGES["202"]["body"], {"location": RANGES["202"]["headers"]["location"],
                                                   "Retry-After": "0"})


@pytest.fixture
def range_env(base_env, monkeypatch):
    def make(arm: RangeArm, polling_interval: float = 0) -> dict:
        monkeypatch.setattr(restore, "make_context", lambda settings: RunContext(
            settings=settings, clock=lambda: NOW, credential=StaticCredential(),
            azure_kwargs=dict(sdk_kwargs(arm.t), polling_interval=polling_interval)))
        return dict(base_env, AZURE_SUBSCRIPTION_ID=SUB, STORAGE_RESOURCE_GROUP="rg-medicapp",
                    STORAGE_ACCOUNT_NAME="medicappdocs")
    return make


def test_range_restore_plan_shows_range_window_and_limits_then_restores(range_env):
    arm = RangeArm({"enabled": True, "days": 6}, in_progress=0)
    env = range_env(arm)
    argv = ["--container", "docs", "--prefix", "2026/11/", "--point", "2026-11-26T06:00:00Z"]
    code, text = run(env, *argv)
    assert code == 0, text
    assert "range           docs/2026/11/ (included) .. docs/2026/110 (excluded)" in text
    assert "window 2026-11-20T14:00:00Z .. 2026-11-26T14:00:00Z" in text
    assert "blobs created after the point in the range are removed (by Azure's restore)" in text
    assert [r.method for r in arm.t.requests] == ["GET"]

    code, text = run(env, *argv, "--apply", "--yes", "--by", "On-call")
    assert code == 0, text
    sent = sent_json(arm.t, "POST")
    assert sent == {"timeToRestore": "2026-11-26T06:00:00Z",
                    "blobRanges": [{"startRange": "docs/2026/11/", "endRange": "docs/2026/110"}]}
    assert "(blob-ranges): DONE (pass)" in text and "medicappdocs/docs/2026/11/ restored to 2026-11-26T06:00:00Z" in text
    (entity,) = incidents(env)
    assert entity["RestoreKind"] == "blob-ranges" and entity["By"] == "On-call" and entity["Outcome"] == "pass"


@pytest.mark.parametrize("policy,argv,reason", [
    (None, ["--prefix", "a/", "--point", "2026-11-26T06:00:00Z"], "blob point-in-time restore is off"),
    ({"enabled": True, "days": 2}, ["--prefix", "a/", "--point", "2026-11-20T06:00:00Z"], "outside the restore window"),
    ({"enabled": True, "days": 6}, ["--point", "2026-11-26T06:00:00Z"], "--prefix is required with --point"),
    ({"enabled": True, "days": 6}, ["--prefix", "a/", "--point", "2026-11-26T06:00"], "has no time zone"),
])
def test_range_restore_guards_exit_2_nothing_written(range_env, policy, argv, reason):
    arm = RangeArm(policy)
    env = range_env(arm)
    code, text = run(env, "--container", "docs", *argv, "--apply", "--yes", "--by", "On-call")
    assert code == 2 and reason in text, text
    assert "POST" not in [r.method for r in arm.t.requests] and incidents(env) == []


class CtrlC(io.StringIO):
    """Ctrl-C while the progress line is being shown (once)."""
    fired = False

    def write(self, text: str) -> int:
        if "elapsed" in text and not self.fired:
            self.fired = True
            raise KeyboardInterrupt
        return super().write(text)


def test_range_restore_interrupted_then_resumed_with_status(range_env):
    arm = RangeArm({"enabled": True, "days": 6}, in_progress=1)
    env = range_env(arm, polling_interval=0.05)
    out = CtrlC()
    code = cli.main(["restore", "blobs", "--container", "docs", "--prefix", "2026/11/", "--point",
                     "2026-11-26T06:00:00Z", "--apply", "--yes", "--by", "On-call"], out=out, env=env)
    (entity,) = incidents(env)
    assert code == 130 and f"python -m checks restore status {entity['RowKey']}" in out.getvalue()
    assert entity["State"] == "provisioning"
    arm.done = True  # Azure finished meanwhile
    out = io.StringIO()
    assert cli.main(["restore", "status", entity["RowKey"]], out=out, env=env) == 0, out.getvalue()
    assert "(blob-ranges): DONE (pass)" in out.getvalue()
    assert incidents(env)[0]["State"] == "done"


def test_a_large_blob_incident_record_stays_within_a_journal_entity(fake_env):
    long = "2026/" + "n" * 200
    items = [Item(f"{long}-{i:03d}.pdf", NOW - timedelta(days=3), deleted=True, deleted_time=NOW - timedelta(hours=1))
             for i in range(150)]
    fake = FakeContainer(items, {i.name: b"x" for i in items})
    env = fake_env(fake)
    code, text = run(env, "--container", "docs", "--apply", "--yes", "--by", "On-call")
    assert code == 0, text
    (entity,) = incidents(env)  # a 64 KiB property limit: the write would have failed otherwise
    assert len(entity["Data"]) <= 30_000
    record = load(Journal.from_settings(Settings.from_env(env)), entity["RowKey"])
    assert record.verification["restored"] == 150 and record.plan["count"] == 150
    assert len(record.verification["results"]) == 10 and record.verification["results_truncated_from"] == 100
    assert "unknown (no Content-MD5 listed)" in record.verification["results"][0]["hash"]
