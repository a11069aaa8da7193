"""Blob change feed reader: the documented `$blobchangefeed` layout, read with the Avro reader
that azure-storage-blob ships (no preview package; why: docs/blob-checks.md, "Blob activity").

Layout (learn.microsoft.com, "Change feed support in Azure Blob Storage", Specifications):
  meta/segments.json                           {"lastConsumable": "<ISO time>", ...}
  idx/segments/YYYY/MM/DD/hhmm/meta.json       one manifest per hour: {"chunkFilePaths":
                                               ["$blobchangefeed/log/00/YYYY/MM/DD/hhmm/", ...]}
  log/<shard>/YYYY/MM/DD/hhmm/NNNNN.avro       the events of that hour and shard (Avro, codec null)

Cost follows the window, not the size of any container: one listing of manifests per day reached,
then per hour read: the manifest, one listing per shard, one GET per chunk. Hours are read
newest first, a few at a time concurrently (the SDK client is thread-safe), and the caller stops as
soon as it has what it needs. One ChangeFeed per run (RunContext) caches what it read, so
`blob.recent_file` and `blob.deleted_visible` never read the same hour twice.
"""
from __future__ import annotations

import io
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

from checks.engine.context import RunContext

CONTAINER = "$blobchangefeed"
SEGMENTS_META = "meta/segments.json"
SEGMENT_ROOT = "idx/segments/"
PREFETCH = 8  # hours read concurrently: ~one round trip per 8 hours instead of 8
SUBJECT_PREFIX = "/blobServices/default/containers/"
CREATED, DELETED = "BlobCreated", "BlobDeleted"


class ChangeFeedNotStarted(Exception):
    """The account has no `meta/segments.json` yet (change feed just enabled, nothing written)."""


@dataclass(frozen=True)
class ChangeEvent:
    container: str
    name: str
    kind: str  # BlobCreated, BlobDeleted, BlobPropertiesUpdated, ...
    at: datetime


@dataclass(frozen=True)
class Segment:
    path: str  # idx/segments/YYYY/MM/DD/hhmm/meta.json
    start: datetime  # the hour it covers starts here


def parse_time(text: str) -> datetime:
    """Change feed times: ISO 8601 with up to 7 fraction digits and 'Z' (3.11 reads both)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def segment_start(path: str) -> datetime | None:
    """idx/segments/2026/11/26/0800/meta.json → 2026-11-26 08:00 UTC (None if not a manifest)."""
    parts = path.split("/")
    if len(parts) != 7 or parts[-1] != "meta.json":
        return None
    try:
        return datetime(int(parts[2]), int(parts[3]), int(parts[4]), int(parts[5][:2]), int(parts[5][2:4]),
                        tzinfo=timezone.utc)
    except ValueError:
        return None


def parse_subject(subject: str) -> tuple[str, str] | None:
    """'/blobServices/default/containers/docs/blobs/a/b.pdf' → ('docs', 'a/b.pdf')."""
    if not subject.startswith(SUBJECT_PREFIX):
        return None
    container, sep, name = subject[len(SUBJECT_PREFIX):].partition("/blobs/")
    return (container, name) if sep and container and name else None


def read_chunk(data: bytes) -> list[ChangeEvent]:
    """The blob events of one Avro chunk (control events and other subjects are left out)."""
    from azure.storage.blob._shared.avro.avro_io import DatumReader  # lazy: cold start
    from azure.storage.blob._shared.avro.datafile import DataFileReader

    events = []
    for record in DataFileReader(io.BytesIO(data), DatumReader()):
        where = parse_subject(record.get("subject") or "")
        if where is None or not record.get("eventTime"):
            continue
        events.append(ChangeEvent(where[0], where[1], str(record.get("eventType")), parse_time(record["eventTime"])))
    return events


def day_prefixes(start: datetime, end: datetime) -> list[str]:
    """`idx/segments/YYYY/MM/DD/` for every day from start to end, newest first."""
    prefixes, day = [], end.date()
    while day >= start.date():
        prefixes.append(f"{SEGMENT_ROOT}{day:%Y/%m/%d}/")
        day -= timedelta(days=1)
    return prefixes


class ChangeFeed:
    """Reads `$blobchangefeed` of one account through a ContainerClient; caches per run."""

    def __init__(self, container_client: Any, prefetch: int = PREFETCH):
        self.client = container_client
        self.prefetch = prefetch
        self._lock = threading.Lock()
        self._events: dict[str, list[ChangeEvent]] = {}
        self._listed: dict[str, list[Segment]] = {}
        self._consumable: tuple[datetime | None] | None = None
        self.segments_read = 0
        self.segments_gone = 0

    def consumable_until(self) -> datetime | None:
        """`lastConsumable` of meta/segments.json: later hours are still being written."""
        from azure.core.exceptions import ResourceNotFoundError
        if self._consumable is None:
            try:
                raw = self.client.get_blob_client(SEGMENTS_META).download_blob().readall()
            except ResourceNotFoundError as exc:
                from checks.engine.i18n import msg
                raise ChangeFeedNotStarted(msg("{path} not found", path=f"{CONTAINER}/{SEGMENTS_META}")) from exc
            value = json.loads(raw).get("lastConsumable")
            self._consumable = (parse_time(value) if value else None,)
        return self._consumable[0]

    def segments(self, start: datetime, end: datetime) -> Iterator[Segment]:
        """Hours overlapping [start, end] that are consumable, newest first; a day is listed only
        when the caller gets that far (a recent-file check usually needs today only)."""
        until = self.consumable_until()
        first_hour = start.replace(minute=0, second=0, microsecond=0)
        for prefix in day_prefixes(first_hour, end):
            for seg in sorted(self._day(prefix), key=lambda s: s.start, reverse=True):
                if first_hour <= seg.start <= end and (until is None or seg.start <= until):
                    yield seg

    def _day(self, prefix: str) -> list[Segment]:
        with self._lock:
            if prefix in self._listed:
                return self._listed[prefix]
        listed = [Segment(b.name, start) for b in self.client.list_blobs(name_starts_with=prefix)
                  if (start := segment_start(b.name)) is not None]
        with self._lock:
            self._listed[prefix] = listed
        return listed

    def events(self, segment: Segment) -> list[ChangeEvent]:
        """Every blob event of one hour, all shards, oldest first."""
        from azure.core.exceptions import ResourceNotFoundError
        with self._lock:
            if segment.path in self._events:
                return self._events[segment.path]
        try:
            manifest = json.loads(self.client.get_blob_client(segment.path).download_blob().readall())
            events: list[ChangeEvent] = []
            for shard in manifest.get("chunkFilePaths") or []:
                shard_prefix = shard.removeprefix(CONTAINER + "/")
                for chunk in self.client.list_blobs(name_starts_with=shard_prefix):
                    events.extend(read_chunk(self.client.get_blob_client(chunk.name).download_blob().readall()))
        except ResourceNotFoundError:  # aged out by the feed's retention between listing and reading
            events, gone = [], True
        else:
            gone = False
        events.sort(key=lambda e: e.at)
        with self._lock:
            self._events[segment.path] = events
            self.segments_read += 1
            self.segments_gone += gone
        return events

    def scan(self, start: datetime, end: datetime) -> Iterator[tuple[Segment, list[ChangeEvent]]]:
        """(hour, its events inside [start, end]) newest first; stop iterating to stop reading."""
        segments = self.segments(start, end)
        with ThreadPoolExecutor(max_workers=self.prefetch, thread_name_prefix="changefeed") as pool:
            while batch := list(islice(segments, self.prefetch)):
                for seg, events in zip(batch, pool.map(self.events, batch)):
                    yield seg, [e for e in events if start <= e.at <= end]


def change_feed(ctx: RunContext, service: Any) -> ChangeFeed:
    """The run's ChangeFeed over `service` (a BlobServiceClient), built once."""
    account = getattr(service, "account_name", None) or getattr(service, "url", "")
    return ctx.client(f"changefeed:{account}", lambda: ChangeFeed(service.get_container_client(CONTAINER)))


def window(now: datetime, days: float) -> tuple[datetime, datetime]:
    return now - timedelta(days=days), now
