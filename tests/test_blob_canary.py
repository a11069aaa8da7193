"""blob.canary: the writing round trip, with the real BlobServiceClient over CannedTransport.

Azurite implements neither soft delete, undelete nor versioning, so the service side is a small
stateful responder here: it records what the check uploads and answers List Blobs with XML the
way the service does with soft delete (Deleted) or versioning (VersionId/IsCurrentVersion,
HasVersionsOnly) on.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, unquote, urlparse

from azure_fakes import Canned, CannedTransport, Route, StaticCredential, sdk_kwargs
from blob_xml import ACCOUNT_URL, XML, Item, http_date, list_blobs, storage_error
from checks.engine.config import Settings
from checks.engine.context import RunContext
from checks.engine.model import Status
from checks.engine.registry import all_checks, select
from checks.engine.runner import execute

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
RUN_ID = "20261126T090000Z-aaaaaa"
BLOB = f"_verifier-canary/{RUN_ID}"
BLOB_URL = f"{ACCOUNT_URL}/canary/{BLOB}"
OLD_LEFTOVER = "_verifier-canary/20261001T060000Z-0ld0ld"
RECENT_OTHER = "_verifier-canary/20261126T085000Z-b0b0b0"


class FakeService:
    """The canary container as the service behaves with soft delete (and optionally versioning) on."""

    def __init__(self, versioning: bool, listed_as_deleted: bool = True, list_previous_version: bool = True,
                 tamper: bool = False, leftovers: list[Item] | None = None):
        self.versioning = versioning
        self.listed_as_deleted = listed_as_deleted
        self.list_previous_version = list_previous_version
        self.tamper = tamper
        self.leftovers = leftovers or []
        self.uploads: list[bytes] = []
        self.version_ids: list[str] = []
        self.copy_sources: list[str] = []
        self.content: bytes | None = None
        self.transport = CannedTransport()
        t = self.transport
        t.add("GET", r"/canary\?restype=container&comp=list", self.list)
        t.add("PUT", r"/canary/_verifier-canary/[^?]+\?comp=undelete$", self.undelete)
        t.add("PUT", r"/canary/_verifier-canary/[^?]+$", self.put)
        t.add("DELETE", r"/canary/_verifier-canary/[^?]+$", self.delete)
        t.add("GET", r"/canary/_verifier-canary/[^?]+$", self.get)

    def headers(self, **extra: str) -> dict[str, str]:
        return {**XML, "ETag": '"0x8DD1"', "Last-Modified": http_date(NOW), **extra}

    def list(self, request) -> Canned:
        q = parse_qs(urlparse(request.url).query)
        include = q.get("include", [""])[0]
        prefix = q["prefix"][0]
        if not include:
            assert prefix == "_verifier-canary/"
            return list_blobs("canary", self.leftovers)
        assert prefix == BLOB
        if include == "versions":
            items = [Item(BLOB, NOW, version_id=v, is_current_version=(i == len(self.version_ids) - 1))
                     for i, v in enumerate(self.version_ids)]
            if not self.list_previous_version:
                items = items[-1:]
            return list_blobs("canary", items)
        assert include == "deleted,deletedwithversions"
        if not self.listed_as_deleted:
            return list_blobs("canary", [])
        item = (Item(BLOB, NOW, has_versions_only=True) if self.versioning
                else Item(BLOB, NOW, deleted=True, deleted_time=NOW, remaining_retention_days=30))
        return list_blobs("canary", [item])

    def put(self, request) -> Canned:
        source = request.headers.get("x-ms-copy-source")
        if source:
            self.copy_sources.append(source)
            self.content = self.uploads[-1]
            return Canned(202, b"", self.headers(**{"x-ms-copy-id": "c0py", "x-ms-copy-status": "success"}))
        assert request.headers["x-ms-blob-type"] == "BlockBlob"
        self.uploads.append(request.body)
        self.content = request.body
        extra = {}
        if self.versioning:
            vid = f"2026-11-26T09:00:0{len(self.uploads)}.0000000Z"
            self.version_ids.append(vid)
            extra["x-ms-version-id"] = vid
        return Canned(201, b"", self.headers(**extra))

    def undelete(self, request) -> Canned:
        self.content = self.uploads[-1]
        return Canned(200, b"", dict(XML))

    def delete(self, request) -> Canned:
        return Canned(202, b"", dict(XML))

    def get(self, request) -> Canned:
        body = (self.content or b"") + (b"!" if self.tamper else b"")
        return Canned(206, body, self.headers(**{"Content-Range": f"bytes 0-{len(body) - 1}/{len(body)}",
                                                  "x-ms-blob-type": "BlockBlob"}))

    # what the check did, as (method, blob path or 'list:<include>')
    def calls(self) -> list[str]:
        out = []
        for r in self.transport.requests:
            url = urlparse(r.url)
            q = parse_qs(url.query)
            if q.get("comp") == ["list"]:
                out.append("list:" + q.get("include", [""])[0])
            else:
                path = unquote(url.path).removeprefix("/canary/")
                suffix = "?undelete" if q.get("comp") == ["undelete"] else (
                    " copy" if r.headers.get("x-ms-copy-source") else "")
                out.append(f"{r.method} {path}{suffix}")
        return out


def make_ctx(service: FakeService, **env: str) -> RunContext:
    values = {"BLOB_ACCOUNT_URL": ACCOUNT_URL, "BLOB_CANARY_CONTAINER": "canary"}
    values.update(env)
    return RunContext(settings=Settings.from_env(values), clock=lambda: NOW, credential=StaticCredential(),
                      azure_kwargs=sdk_kwargs(service.transport), run_id=RUN_ID)


def run(ctx: RunContext):
    return execute(all_checks()["blob.canary"], ctx)


def test_round_trip_with_soft_delete_undeletes():
    svc = FakeService(versioning=False)
    out = run(make_ctx(svc))
    assert out.status is Status.PASS, out.summary
    assert out.summary == (f"canary canary/{BLOB}: uploaded, overwritten (versioning off), deleted, listed as "
                           "deleted, restored by undelete, SHA-256 verified, deleted again")
    assert svc.calls() == ["list:", f"PUT {BLOB}", f"PUT {BLOB}", f"DELETE {BLOB}", "list:deleted,deletedwithversions",
                           f"PUT {BLOB}?undelete", f"GET {BLOB}", f"DELETE {BLOB}"]
    first, second = svc.uploads
    assert first != second and first.startswith(b"MedicApp verifier canary")
    assert out.details["sha256"] == hashlib.sha256(second).hexdigest()
    assert out.details["steps"] == ["upload", "overwrite", "delete", "listed as deleted", "restore", "verify",
                                    "delete again"]
    # the first upload must not overwrite anything; every request targets the canary blob only
    put1 = [r for r in svc.transport.requests if r.method == "PUT"][0]
    assert put1.headers["If-None-Match"] == "*"
    for r in svc.transport.requests:
        assert r.url.startswith(ACCOUNT_URL + "/canary")
        assert r.headers["Authorization"] == "Bearer test-token"


def test_round_trip_with_versioning_lists_previous_version_and_restores_by_copy():
    svc = FakeService(versioning=True)
    out = run(make_ctx(svc))
    assert out.status is Status.PASS, out.summary
    assert "overwritten (2 versions listed)" in out.summary and "restored by copy of previous version" in out.summary
    assert svc.calls() == ["list:", f"PUT {BLOB}", f"PUT {BLOB}", "list:versions", f"DELETE {BLOB}",
                           "list:deleted,deletedwithversions", f"PUT {BLOB} copy", f"GET {BLOB}", f"DELETE {BLOB}"]
    # the copy source is the base blob at the second (overwriting) version
    assert svc.copy_sources == [f"{BLOB_URL}?versionid=2026-11-26T09%3A00%3A02.0000000Z"]
    assert out.details["versioning"] is True and out.details["versions_listed"] == 2


def test_versioning_on_but_previous_version_missing_fails_and_removes_canary():
    svc = FakeService(versioning=True, list_previous_version=False)
    out = run(make_ctx(svc))
    assert out.status is Status.FAIL
    assert out.summary.startswith("canary round trip failed at 'overwrite': versioning is on but the overwritten "
                                  "version 2026-11-26T09:00:01.0000000Z is not listed")
    assert out.details["failed_step"] == "overwrite" and "blob versioning" in out.remediation
    assert svc.calls()[-1] == f"DELETE {BLOB}"


def test_deleted_canary_not_listed_fails_without_undelete():
    svc = FakeService(versioning=False, listed_as_deleted=False)
    out = run(make_ctx(svc))
    assert out.status is Status.FAIL
    assert "failed at 'listed as deleted'" in out.summary and "soft delete" in out.remediation
    assert out.details["steps"] == ["upload", "overwrite", "delete"]
    assert not any("undelete" in c for c in svc.calls())


def test_restored_content_mismatch_fails():
    svc = FakeService(versioning=False, tamper=True)
    out = run(make_ctx(svc))
    assert out.status is Status.FAIL and "failed at 'verify': restored content has SHA-256" in out.summary
    assert svc.calls()[-1] == f"DELETE {BLOB}"  # still cleaned up


def test_leftover_from_crashed_run_is_cleaned_recent_one_left_alone():
    svc = FakeService(versioning=False, leftovers=[
        Item(OLD_LEFTOVER, datetime(2026, 10, 1, 6, 0, tzinfo=timezone.utc)),
        Item(RECENT_OTHER, NOW - timedelta(minutes=10))])
    out = run(make_ctx(svc))
    assert out.status is Status.PASS
    assert out.summary.endswith("deleted again; cleaned 1 canary left by an earlier run")
    assert out.details["cleaned_leftovers"] == [OLD_LEFTOVER] and out.details["left_alone"] == [RECENT_OTHER]
    deletes = [c for c in svc.calls() if c.startswith("DELETE")]
    assert deletes == [f"DELETE {OLD_LEFTOVER}", f"DELETE {BLOB}", f"DELETE {BLOB}"]
    cleanup_list = svc.transport.requests[0]
    assert parse_qs(urlparse(cleanup_list.url).query)["maxresults"] == ["100"]


def test_403_names_contributor_on_the_canary_container_only():
    svc = FakeService(versioning=False)
    svc.transport.routes.insert(0, Route(
        "PUT", re.compile(r"/canary/_verifier-canary/"),
        [storage_error(403, "AuthorizationPermissionMismatch",
                       "This request is not authorized to perform this operation using this permission.")]))
    out = run(make_ctx(svc))
    assert out.status is Status.ERROR
    assert out.summary.startswith("access denied (403 AuthorizationPermissionMismatch) in the canary round trip "
                                  "in container canary of storage account medicappdocs")
    assert out.remediation.startswith("Grant the function's identity the Storage Blob Data Contributor role on "
                                      "container canary only")
    assert [c for c in svc.calls() if c.startswith(("PUT", "DELETE"))] == [f"PUT {BLOB}"]  # nothing else written


def test_canary_container_not_found():
    svc = FakeService(versioning=False)
    svc.transport.routes.insert(0, Route(
        "GET", re.compile(r"comp=list"),
        [storage_error(404, "ContainerNotFound", "The specified container does not exist.")]))
    out = run(make_ctx(svc))
    assert out.status is Status.ERROR
    assert out.summary == "container canary not found in storage account medicappdocs"
    assert not [c for c in svc.calls() if c.startswith(("PUT", "DELETE"))]


def test_not_configured_and_dry_run():
    ctx = RunContext(settings=Settings.from_env({"BLOB_ACCOUNT_URL": ACCOUNT_URL}))
    out = run(ctx)
    assert out.status is Status.SKIPPED and out.summary == "BLOB_CANARY_CONTAINER not set"
    nothing = run(RunContext(settings=Settings.from_env({})))
    assert nothing.summary == "BLOB_ACCOUNT_URL (or BLOB_CONNECTION_STRING) and BLOB_CANARY_CONTAINER not set"
    # --dry-run runs only read-only checks: the canary writes, the listing checks do not
    dry = {spec.id for spec in select(["blob.*"], read_only_only=True)}
    assert dry == {"blob.soft_delete", "blob.versioning", "blob.recent_file", "blob.deleted_visible",
                   "blob.container_soft_delete", "blob.point_in_time_restore", "blob.change_feed", "blob.lifecycle"}


def test_guard_refuses_a_blob_outside_the_canary_prefix_before_any_request():
    """An explicit guard (not an assert, which python -O drops): nothing is listed or written."""
    import pytest
    from checks.connect.azure import blob_service
    from checks.families.canary import CanaryGuardError, round_trip

    svc = FakeService(versioning=False)
    container = blob_service(make_ctx(svc)).get_container_client("canary")
    with pytest.raises(CanaryGuardError, match="outside the reserved prefix"):
        round_trip(container, "medicappdocs", "canary", "patients/record-1.pdf", NOW)
    assert svc.transport.requests == []


def test_the_rule_alone_decides_from_what_was_seen():
    from checks.families.canary import STEPS, CanaryFacts, evaluate_canary

    seen = CanaryFacts("a", "canary", BLOB, reached=STEPS, listed_as_deleted=True, restored_by="undelete",
                       sha256="ab" * 32, expected_sha256="ab" * 32, restored_size=10, final_delete=True)
    settings = Settings.from_env({})
    assert evaluate_canary(seen, settings).status is Status.PASS
    tampered = evaluate_canary(replace(seen, sha256="cd" * 32), settings)
    assert tampered.status is Status.FAIL and tampered.details["failed_step"] == "verify"
    assert tampered.details["steps"] == ["upload", "overwrite", "delete", "listed as deleted", "restore"]
    stopped = evaluate_canary(replace(seen, reached=STEPS[:3], sha256=None), settings)
    assert stopped.status is Status.FAIL and "stopped before 'listed as deleted'" in stopped.summary
    assert evaluate_canary(replace(seen, final_delete=False), settings).status is Status.WARN
