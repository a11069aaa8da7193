"""Test-only: an account's `$blobchangefeed` container as the Blob service serves it, for the real
BlobServiceClient over CannedTransport (Azurite has no change feed).

`FakeFeed` holds events; it builds meta/segments.json, one manifest per hour (every hour from
`first_hour` to `last_consumable`, as the service writes them, even with no event), and one Avro
chunk per hour and shard that has events (tests/avro_writer.py, the change feed's record schema).
`route(transport)` answers GET blob, List Blobs (with prefix) and HEAD for the feed's container.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qs, unquote, urlparse

from avro_writer import container_file
from azure_fakes import Canned, CannedTransport
from blob_xml import XML, Item, list_blobs, storage_error

EVENT_TYPES = ["UnspecifiedEventType", "BlobCreated", "BlobDeleted", "BlobPropertiesUpdated",
               "BlobSnapshotCreated", "Control", "BlobTierChanged", "BlobAsyncOperationInitiated",
               "BlobMetadataUpdated", "RestorePointMarkerCreated"]
# The change feed record (schema version 4 fields the readers use; the rest shortened)
SCHEMA = {
    "type": "record", "name": "BlobChangeEvent", "namespace": "com.microsoft.azure.storage.blob",
    "fields": [
        {"name": "schemaVersion", "type": "int"},
        {"name": "topic", "type": "string"},
        {"name": "subject", "type": "string"},
        {"name": "eventType", "type": {"type": "enum", "name": "BlobChangeEventType", "symbols": EVENT_TYPES}},
        {"name": "eventTime", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "data", "type": {"type": "record", "name": "BlobChangeEventData", "fields": [
            {"name": "api", "type": "string"},
            {"name": "contentLength", "type": "long"},
            {"name": "blobType", "type": "string"},
            {"name": "url", "type": "string"},
            {"name": "snapshot", "type": ["null", "string"]},
            {"name": "storageDiagnostics", "type": {"type": "map", "values": "string"}}]}},
    ]}
TOPIC = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-medicapp/providers/"
         "Microsoft.Storage/storageAccounts/medicappdocs")


def feed_time(moment: datetime) -> str:
    """The service's form: 7 fraction digits and Z."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def record(container: str, name: str, kind: str, at: datetime, n: int = 0) -> dict:
    api = {"BlobCreated": "PutBlob", "BlobDeleted": "DeleteBlob"}.get(kind, "SetBlobProperties")
    return {"schemaVersion": 4, "topic": TOPIC, "subject": f"/blobServices/default/containers/{container}/blobs/{name}",
            "eventType": kind, "eventTime": feed_time(at), "id": f"00000000-0000-0000-0000-{n:012d}",
            "data": {"api": api, "contentLength": 42, "blobType": "BlockBlob",
                     "url": "", "snapshot": None, "storageDiagnostics": {"bid": "0"}}}


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass
class FakeFeed:
    first_hour: datetime
    last_consumable: datetime
    events: list[tuple[str, str, str, datetime]] = field(default_factory=list)  # container, name, kind, at
    shards: int = 2
    deny: bool = False  # 403 on the feed's container (no data role on $blobchangefeed)
    started: bool = True

    _files: dict[str, bytes] | None = field(default=None, repr=False)

    def add(self, container: str, name: str, kind: str, at: datetime) -> "FakeFeed":
        self.events.append((container, name, kind, at))
        self._files = None
        return self

    def hours(self) -> list[datetime]:
        out, hour = [], hour_of(self.first_hour)
        while hour <= self.last_consumable + timedelta(hours=1):  # one more hour being written
            out.append(hour)
            hour += timedelta(hours=1)
        return out

    @staticmethod
    def hour_path(hour: datetime) -> str:
        return hour.strftime("%Y/%m/%d/%H00")

    def chunk(self, shard: int, hour: datetime) -> bytes | None:
        mine = [e for i, e in enumerate(self.events) if hour_of(e[3]) == hour and i % self.shards == shard]
        if not mine:
            return None
        return container_file(SCHEMA, [record(c, n, k, at, i) for i, (c, n, k, at) in enumerate(mine)])

    # --- HTTP ---------------------------------------------------------------------------------
    def blobs(self) -> dict[str, bytes]:
        if self._files is None:
            self._files = self._build() if self.started else {}
        return self._files

    def _build(self) -> dict[str, bytes]:
        files = {"meta/segments.json": json.dumps({
            "version": 0, "lastConsumable": feed_time(self.last_consumable),
            "storageDiagnostics": {"version": 0, "lastModifiedTime": feed_time(self.last_consumable)}}).encode()}
        for hour in self.hours():
            files[f"idx/segments/{self.hour_path(hour)}/meta.json"] = json.dumps({
                "version": 0, "begin": feed_time(hour), "intervalSecs": 3600, "status": "Finalized",
                "config": {"version": 0, "configVersionEtag": "0x8d0", "numShards": self.shards,
                           "recordsFormat": "avro", "formatSchemaVersion": 4, "shardDistFnVersion": 1},
                "chunkFilePaths": [f"$blobchangefeed/log/{s:02d}/{self.hour_path(hour)}/"
                                   for s in range(self.shards)]}).encode()
            for s in range(self.shards):
                data = self.chunk(s, hour)
                if data is not None:
                    files[f"log/{s:02d}/{self.hour_path(hour)}/00000.avro"] = data
        return files

    def handle(self, request) -> Canned:
        if self.deny:
            return storage_error(403, "AuthorizationPermissionMismatch",
                                 "This request is not authorized to perform this operation using this permission.")
        url = urlparse(request.url)
        query = parse_qs(url.query)
        files = self.blobs()
        if query.get("comp") == ["list"]:
            prefix = query.get("prefix", [""])[0]
            names = sorted(n for n in files if n.startswith(prefix))
            return list_blobs("$blobchangefeed", [Item(n, self.last_consumable) for n in names])
        name = unquote(url.path).split("/", 2)[2]
        if name not in files:
            return storage_error(404, "BlobNotFound", "The specified blob does not exist.")
        body = files[name]
        return Canned(206, body, {**XML, "Content-Range": f"bytes 0-{len(body) - 1}/{len(body)}",
                                  "x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream"})

    def route(self, transport: CannedTransport) -> CannedTransport:
        return transport.add("GET", r"/(%24|\$)blobchangefeed(/|\?)", self.handle)

    def feed_requests(self, transport: CannedTransport) -> list[str]:
        """The feed's requests as 'list:<prefix>' or the blob name, in order."""
        out = []
        for r in transport.requests:
            url = urlparse(r.url)
            if not unquote(url.path).startswith("/$blobchangefeed"):
                continue
            q = parse_qs(url.query)
            out.append("list:" + q.get("prefix", [""])[0] if q.get("comp") == ["list"]
                       else unquote(url.path).split("/", 2)[2])
        return out
