"""Run wall time vs the slowest single check: proof that checks run concurrently.

Every read-only check is first timed alone, then all run together in one run; wall/slowest
near 1 means the run costs what its slowest check costs, wall/sum what a serial runner would.
Goal: wall/slowest ≤ 1.3. Two scenarios, measured in the same process:
  local   the real local stack only (PostgreSQL demo database + Azurite); Azure checks skipped.
          Every check is a few ms of CPU here, so this mostly measures thread/connection overhead
          on a 2-core machine.
  azure   the same, plus the PostgreSQL and Storage management checks through the real SDK
          clients over a canned transport that answers Azure's official examples after a
          simulated ARM round trip (ARM_LATENCY_MS, default 150 ms). Clearly a simulation: it
          shows what concurrency buys when checks wait on the network, as they do in Azure.
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # the canned transport (test tooling, never shipped)

from checks.engine.config import Settings  # noqa: E402
from checks.engine.context import RunContext  # noqa: E402
from checks.engine.model import Status  # noqa: E402
from checks.engine.registry import select  # noqa: E402
from checks.engine.runner import execute, run_checks  # noqa: E402
from devtools.demo import demo_env  # noqa: E402
from devtools.localstack import DEMO_SQL, Azurite, PostgresCluster  # noqa: E402


ARM_LATENCY_MS = 150
SUB = "00000000-0000-0000-0000-000000000000"


class SlowTransport:
    """Canned ARM answers after a simulated round trip (built lazily: azure_fakes imports the SDK)."""

    @staticmethod
    def build(latency_s: float):
        from azure_fakes import CannedTransport, arm_fixture

        class _Slow(CannedTransport):
            def send(self, request, **kwargs):
                time.sleep(latency_s)
                return super().send(request, **kwargs)

        t = _Slow()
        t.json("GET", r"/flexibleServers/[^/?]+/backups\?", _fresh_backups(arm_fixture(
            "postgresql_BackupsAutomaticAndOnDemandListByServer.json")))
        t.json("GET", r"/flexibleServers/[^/?]+\?", arm_fixture("postgresql_ServersGet.json"))
        t.json("GET", r"/blobServices/default\?", arm_fixture("storage_BlobServicesGet.json"))
        t.json("GET", r"/storageAccounts/[^/?]+\?", arm_fixture("storage_StorageAccountUpdate.json"))
        # anything not canned (blob data plane, lifecycle, immutability): Azure's 404, so those checks end as
        # quick typed `error` results, as they would for a missing resource, not as crashes of the bench's own
        t.json("GET", r".", {"error": {"code": "ResourceNotFound", "message": "not canned in the benchmark"}}, 404)
        return t


def _fresh_backups(body: dict) -> dict:
    from datetime import datetime, timedelta, timezone
    for i, item in enumerate(body.get("value", [])):
        item["properties"]["completedTime"] = (datetime.now(timezone.utc) - timedelta(hours=2 + i)).isoformat()
    return body


def measure(specs, settings, reps: int, make_kwargs=None) -> dict:
    from azure_fakes import StaticCredential

    def context():
        if make_kwargs is None:
            return RunContext(settings=settings)
        return RunContext(settings=settings, credential=StaticCredential(), azure_kwargs=make_kwargs())

    run_checks(specs, context(), "cli")  # warm-up: imports, first connections
    walls, slowest, sums = [], [], []
    for _ in range(reps):
        alone = {}
        for spec in specs:
            ctx = context()
            t0 = time.perf_counter()
            execute(spec, ctx)
            alone[spec.id] = time.perf_counter() - t0
            ctx.close()
        ctx = context()
        t0 = time.perf_counter()
        run = run_checks(specs, ctx, "cli")
        walls.append(time.perf_counter() - t0)
        ctx.close()
        slowest.append(max(alone.values()))
        sums.append(sum(alone.values()))
    active = [r.check_id for r in run.results if r.status is not Status.SKIPPED]
    wall, slow, total = statistics.median(walls), statistics.median(slowest), statistics.median(sums)
    return {"checks": len(specs), "not_skipped": active, "wall_ms": round(wall * 1000, 1),
            "slowest_ms": round(slow * 1000, 1), "sum_ms": round(total * 1000, 1),
            "ratio_wall_over_slowest": round(wall / slow, 2), "ratio_wall_over_sum": round(wall / total, 2)}


def main(reps: int = 5) -> dict:
    latency = float(os.environ.get("ARM_LATENCY_MS", ARM_LATENCY_MS)) / 1000
    cluster = PostgresCluster.start()
    azurite = Azurite.start()
    try:
        cluster.create_database("medicapp", DEMO_SQL)
        env = demo_env(cluster, azurite) | {"BLOB_CONNECTION_STRING": azurite.connection_string}
        specs = [s for s in select() if s.read_only]
        local = measure(specs, Settings.from_env(env), reps)
        azure_env = env | {"AZURE_SUBSCRIPTION_ID": SUB, "PG_RESOURCE_GROUP": "rg", "PG_SERVER_NAME": "medicapp-db",
                           "STORAGE_RESOURCE_GROUP": "rg", "STORAGE_ACCOUNT_NAME": "medicappdocs"}
        azure = measure(specs, Settings.from_env(azure_env), reps,
                        lambda: {"transport": SlowTransport.build(latency), "retry_total": 0})
        for name, row in (("local", local), (f"azure (simulated {latency * 1000:.0f} ms ARM)", azure)):
            print(f"{name}: {row['checks']} read-only checks, {len(row['not_skipped'])} not skipped; median of {reps}")
            print(f"  run wall {row['wall_ms']} ms, slowest check alone {row['slowest_ms']} ms, "
                  f"sum alone {row['sum_ms']} ms -> wall/slowest = {row['ratio_wall_over_slowest']} "
                  f"(goal <= 1.3), wall/sum = {row['ratio_wall_over_sum']}")
        return {"local": local, "azure": azure}
    finally:
        azurite.stop()
        cluster.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
