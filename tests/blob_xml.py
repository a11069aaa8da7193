"""Test-only: minimal valid Blob service (data plane) XML responses for CannedTransport.

The real BlobServiceClient/ContainerClient deserialize these (List Blobs `EnumerationResults`,
storage `Error`), so the blob checks' soft delete / versioning / undelete paths can be tested
where Azurite has no implementation.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from xml.sax.saxutils import escape

from azure_fakes import Canned

ACCOUNT_URL = "https://medicappdocs.blob.core.windows.net"
SERVICE_VERSION = "2026-10-06"  # x-ms-version the installed azure-storage-blob sends and gets back
XML = {"Content-Type": "application/xml", "x-ms-version": SERVICE_VERSION}


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


@dataclass
class Item:
    name: str
    last_modified: datetime
    deleted: bool = False
    has_versions_only: bool = False
    version_id: str | None = None
    is_current_version: bool | None = None
    deleted_time: datetime | None = None
    remaining_retention_days: int | None = None
    content_md5: str | None = None  # base64, as the service lists it
    size: int = 42

    def xml(self) -> str:
        parts = [f"<Name>{escape(self.name)}</Name>"]
        if self.deleted:
            parts.append("<Deleted>true</Deleted>")
        if self.version_id:
            parts.append(f"<VersionId>{self.version_id}</VersionId>")
        if self.is_current_version:
            parts.append("<IsCurrentVersion>true</IsCurrentVersion>")
        props = [f"<Last-Modified>{http_date(self.last_modified)}</Last-Modified>", "<Etag>0x8DD0000000000</Etag>",
                 f"<Content-Length>{self.size}</Content-Length>", "<BlobType>BlockBlob</BlobType>"]
        if self.content_md5:
            props.append(f"<Content-MD5>{self.content_md5}</Content-MD5>")
        if self.deleted_time:
            props.append(f"<DeletedTime>{http_date(self.deleted_time)}</DeletedTime>")
        if self.remaining_retention_days is not None:
            props.append(f"<RemainingRetentionDays>{self.remaining_retention_days}</RemainingRetentionDays>")
        parts.append("<Properties>" + "".join(props) + "</Properties>")
        if self.has_versions_only:
            parts.append("<HasVersionsOnly>true</HasVersionsOnly>")
        return "<Blob>" + "".join(parts) + "</Blob>"


def list_blobs(container: str, items: list[Item], next_marker: str = "") -> Canned:
    body = ('<?xml version="1.0" encoding="utf-8"?>'
            f'<EnumerationResults ServiceEndpoint="{ACCOUNT_URL}/" ContainerName="{container}">'
            "<Blobs>" + "".join(i.xml() for i in items) + "</Blobs>"
            + (f"<NextMarker>{next_marker}</NextMarker>" if next_marker else "<NextMarker />")
            + "</EnumerationResults>")
    return Canned(200, body, dict(XML))


def storage_error(status: int, code: str, message: str) -> Canned:
    body = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
            f"<Message>{escape(message)}\nRequestId:00000000-0000-0000-0000-000000000000\n"
            f"Time:2026-11-26T09:00:00.0000000Z</Message></Error>")
    return Canned(status, body, {**XML, "x-ms-error-code": code})
