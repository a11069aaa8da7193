"""blob.recent_file + blob.deleted_visible: change feed vs listing, 1,000 vs 200,000 blobs.

The same account activity in both cases (50 events in the last 7 days: 40 uploads, 10 deletions,
all in the checked container, plus the change feed's empty hours back to 35 days ago); only the
container's size differs. Every request waits SIMULATED_MS (default 20 ms, like a round trip to
Azure Storage) in a transport that sleeps, then gets a canned answer built by the test tooling
(tests/changefeed_fakes.py: `$blobchangefeed` with Avro chunks; List Blobs pages of 5,000 names).
The real SDK clients and the real checks run; nothing else is simulated.

Goal: change feed time ratio 200k/1k <= 1.5 (its cost follows activity, not size). The listing is
shown for contrast: capped at BLOB_LIST_CAP (5,000, the default: it cannot prove anything on the
big container) and, with --uncapped, uncapped (it can, by listing all 40 pages; slow: the SDK
deserializes every name, so it is opt-in).
"""
from __future__ import annotations

import bisect
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # canned transport and change feed fakes (test tooling, never shipped)

from checks.engine.config import Settings  # noqa: E402
from checks.engine.context import RunContext  # noqa: E402
from checks.engine.registry import all_checks  # noqa: E402
from checks.engine.runner import execute  # noqa: E402

SIMULATED_MS = 20
CONTAINER = "documents"
SIZES = (1_000, 200_000)
SUB = "00000000-0000-0000-0000-000000000000"
NOW = datetime.now(timezone.utc)


def activity(seed: int = 22) -> list[tuple[str, str, str, datetime]]:
    """50 events in the last 7 days: 40 uploads and 10 deletions of patients' documents."""
    rnd = random.Random(seed)
    events = []
    for i in range(50):
        at = NOW - timedelta(minutes=rnd.randint(90, 7 * 24 * 60))
        kind = "BlobDeleted" if i % 5 == 4 else "BlobCreated"
        events.append((CONTAINER, f"patients/{rnd.randint(0, 999_999):06d}/upload-{i}.pdf", kind, at))
    return events


class Account:
    """A storage account: one container of `size` old blobs + the recent uploads, and its change feed."""

    def __init__(self, size: int, events):
        from changefeed_fakes import FakeFeed
        old = NOW - timedelta(days=400)
        self.last_modified = {f"patients/{i:06d}/doc-1.pdf": old for i in range(size)}
        self.deleted = {}
        for _, name, kind, at in events:
            if kind == "BlobCreated":
                self.last_modified[name] = at
            else:
                self.deleted[name] = at
        self.names = sorted(self.last_modified)
        self.names_and_deleted = sorted(set(self.names) | set(self.deleted))  # an include=deleted listing
        self.feed = FakeFeed(first_hour=NOW - timedelta(days=35), last_consumable=NOW.replace(minute=0) - timedelta(hours=1))
        for event in events:
            self.feed.add(*event)
        self.feed.blobs()  # build the feed's files once, outside the timing

    def list_page(self, request):
        from blob_xml import Item, list_blobs
        query = parse_qs(urlparse(request.url).query)
        prefix = query.get("prefix", [""])[0]
        size = int(query.get("maxresults", ["5000"])[0])
        if prefix in self.deleted:  # the deleted-blob lookup by name
            at = self.deleted[prefix]
            return list_blobs(CONTAINER, [Item(prefix, at, deleted=True, deleted_time=at, remaining_retention_days=29)])
        names = self.names_and_deleted if "deleted" in query.get("include", [""])[0] else self.names
        start = int(query.get("marker", ["0"])[0] or 0) or bisect.bisect_left(names, prefix)
        page = [n for n in names[start:start + size] if n.startswith(prefix)]
        more = start + size < len(names) and len(page) == size
        items = [Item(n, self.last_modified[n]) if n in self.last_modified else
                 Item(n, self.deleted[n], deleted=True, deleted_time=self.deleted[n], remaining_retention_days=29)
                 for n in page]
        return list_blobs(CONTAINER, items, str(start + size) if more else "")

    def head(self, request):
        from azure_fakes import Canned
        from blob_xml import XML, http_date
        name = unquote(urlparse(request.url).path).split("/", 2)[2]
        if name not in self.last_modified:
            return Canned(404, b"", {**XML, "x-ms-error-code": "BlobNotFound"})
        return Canned(200, b"", {**XML, "Last-Modified": http_date(self.last_modified[name]), "ETag": '"0x1"',
                                 "x-ms-blob-type": "BlockBlob", "Content-Length": "42"})

    def transport(self, latency_s: float):
        from azure_fakes import CannedTransport, arm_fixture, derive

        class Slow(CannedTransport):
            def send(self, request, **kwargs):
                time.sleep(latency_s)  # the simulated round trip
                return super().send(request, **kwargs)

        services = derive(derive(arm_fixture("storage_BlobServicesGet.json"), "properties.changeFeed",
                                 {"enabled": True}), "properties.deleteRetentionPolicy", {"enabled": True, "days": 30})
        t = Slow().json("GET", r"/blobServices/default\?", services)
        self.feed.route(t)
        t.add("GET", rf"/{CONTAINER}\?restype=container&comp=list", self.list_page)
        t.add("HEAD", rf"/{CONTAINER}/", self.head)
        return t


def measure(account: Account, latency_s: float, **env: str) -> dict:
    from azure_fakes import StaticCredential
    values = {"AZURE_SUBSCRIPTION_ID": SUB, "STORAGE_RESOURCE_GROUP": "rg", "STORAGE_ACCOUNT_NAME": "medicappdocs",
              "BLOB_ACCOUNT_URL": "https://medicappdocs.blob.core.windows.net", "BLOB_CONTAINERS": CONTAINER, **env}
    transport = account.transport(latency_s)
    ctx = RunContext(settings=Settings.from_env(values), credential=StaticCredential(),
                     azure_kwargs={"transport": transport, "retry_total": 0})
    checks = all_checks()
    t0 = time.perf_counter()
    results = {cid: execute(checks[cid], ctx) for cid in ("blob.recent_file", "blob.deleted_visible")}
    elapsed = time.perf_counter() - t0
    ctx.close()
    return {"seconds": round(elapsed, 2), "requests": len(transport.requests),
            "status": {cid.split(".")[1]: r.status.value for cid, r in results.items()},
            "strategy": results["blob.recent_file"].details.get("strategy")}


def main() -> dict:
    latency = float(os.environ.get("SIMULATED_MS", SIMULATED_MS)) / 1000
    events = activity()
    uncapped = "--uncapped" in sys.argv
    rows: dict[str, dict[int, dict]] = {"change feed": {}, "listing, cap 5000": {}}
    if uncapped:
        rows["listing, uncapped"] = {}
    for size in SIZES:
        account = Account(size, events)
        measure(account, 0)  # warm-up: imports, first client build
        rows["change feed"][size] = measure(account, latency)
        rows["listing, cap 5000"][size] = measure(account, latency, BLOB_ACTIVITY_SOURCE="listing")
        if uncapped:
            rows["listing, uncapped"][size] = measure(account, latency, BLOB_ACTIVITY_SOURCE="listing",
                                                      BLOB_LIST_CAP="1000000")
    print(f"recent_file + deleted_visible, {len(events)} events in 7 days, {latency * 1000:.0f} ms per request")
    print(f"{'strategy':<20}" + "".join(f"{n:>9,} blobs: s / requests / status" for n in SIZES) + "   ratio")
    for name, per in rows.items():
        cells = "".join(f"{per[n]['seconds']:>14} / {per[n]['requests']:>4} / "
                        f"{per[n]['status']['recent_file'] + ',' + per[n]['status']['deleted_visible']:<10}" for n in SIZES)
        ratio = per[SIZES[1]]["seconds"] / per[SIZES[0]]["seconds"]
        per["ratio"] = round(ratio, 2)
        print(f"{name:<20}{cells}{ratio:>8.2f}")
    ratio = rows["change feed"]["ratio"]
    print(f"change feed 200k/1k time ratio {ratio:.2f} (goal <= 1.5): {'OK' if ratio <= 1.5 else 'NOT MET'}")
    if ratio > 1.5:
        raise SystemExit(1)
    return rows


if __name__ == "__main__":
    main()
